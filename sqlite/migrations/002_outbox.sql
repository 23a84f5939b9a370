-- Events waiting to be published (a transactional outbox): written in the
-- transaction of the change they tell of, deleted once published.
CREATE TABLE outbox (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	kind       TEXT NOT NULL,
	user_id    TEXT NOT NULL,    -- a user event's user, or ''
	room_id    INTEGER NOT NULL, -- a room event's room, or 0
	recipients TEXT NOT NULL,    -- a room event's members, a JSON list
	data       TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE INDEX friends_by_friend ON friends (friend_id, user_id);
