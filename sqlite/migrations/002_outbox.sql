-- Events waiting to be published (a transactional outbox): written in the
-- transaction of the change they tell of, deleted once published.
CREATE TABLE outbox (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	kind       TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	data       TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE INDEX friends_by_friend ON friends (friend_id, user_id);
