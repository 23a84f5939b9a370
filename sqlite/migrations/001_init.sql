CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	status        TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL,
	joined_at     INTEGER NOT NULL,
	login_at      INTEGER,
	logout_at     INTEGER
);

CREATE TABLE friends (
	user_id    TEXT NOT NULL REFERENCES users (id),
	friend_id  TEXT NOT NULL REFERENCES users (id),
	created_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, friend_id)
);

CREATE TABLE rooms (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	name             TEXT NOT NULL DEFAULT '',
	direct_key       TEXT UNIQUE, -- "a b" (sorted ids) for a direct room, NULL for a group
	created_at       INTEGER NOT NULL,
	last_seq         INTEGER NOT NULL DEFAULT 0,
	last_activity_at INTEGER NOT NULL
);

CREATE TABLE room_members (
	room_id   INTEGER NOT NULL REFERENCES rooms (id),
	user_id   TEXT NOT NULL REFERENCES users (id),
	position  INTEGER NOT NULL,
	joined_at INTEGER NOT NULL,
	PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_by_user ON room_members (user_id, room_id);

CREATE TABLE messages (
	room_id       INTEGER NOT NULL REFERENCES rooms (id),
	seq           INTEGER NOT NULL,
	writer_id     TEXT NOT NULL REFERENCES users (id),
	body          TEXT NOT NULL,
	created_at    INTEGER NOT NULL,
	client_msg_id TEXT,
	PRIMARY KEY (room_id, seq)
);
CREATE UNIQUE INDEX messages_by_client_id ON messages (room_id, writer_id, client_msg_id) WHERE client_msg_id IS NOT NULL;

-- Results of operations done under an idempotency key, so that a redelivered
-- request is answered again without being done twice. Pruned by age.
CREATE TABLE outcomes (
	id         TEXT PRIMARY KEY,
	result     TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX outcomes_by_age ON outcomes (created_at);
