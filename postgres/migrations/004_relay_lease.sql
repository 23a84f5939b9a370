-- Who publishes the outbox: one relay at a time holds the lease, renewing it
-- while it runs; another takes it over once it has expired. Two relays
-- publishing side by side would publish most events twice.
CREATE TABLE relay_lease (
	id         INTEGER PRIMARY KEY,
	holder     TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);
INSERT INTO relay_lease (id, holder, expires_at) VALUES (1, '', 0);
