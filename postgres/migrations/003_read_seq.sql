-- Read receipts: the seq of the last message each member has read.
ALTER TABLE room_members ADD COLUMN read_seq BIGINT NOT NULL DEFAULT 0;

-- What was there before read receipts counts as read: an upgrade must not
-- light up every old room with unread badges.
UPDATE room_members SET read_seq = (SELECT r.last_seq FROM rooms r WHERE r.id = room_members.room_id);
