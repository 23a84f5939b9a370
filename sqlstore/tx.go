package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/chatbus/chatbus"
)

// Tx implements chatbus.Tx over one SQL transaction.
type Tx struct {
	s          *Store
	db         *sql.DB // the pool the transaction came from
	tx         *sql.Tx
	unprepared []string // queries to prepare after it
	doomed     error    // a retryable failure inside a savepoint: the whole transaction must run again
}

var _ chatbus.Tx = (*Tx)(nil)

// savepoint runs fn in a savepoint of t: all of it applies or none does,
// and the transaction goes on either way.
func (t *Tx) savepoint(ctx context.Context, fn func(chatbus.Tx) error) error {
	if _, err := t.exec(ctx, "SAVEPOINT chatbus_update"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	err := fn(t)
	if err != nil && t.s.Dialect.Retryable != nil && t.s.Dialect.Retryable(err) {
		// A serialization failure dooms the whole transaction, not just
		// this savepoint: the batch is run again from the start.
		t.doomed = err
	}
	if err != nil {
		if _, rerr := t.exec(ctx, "ROLLBACK TO SAVEPOINT chatbus_update"); rerr != nil {
			return errors.Join(err, fmt.Errorf("roll back to savepoint: %w", rerr))
		}
	}
	if _, rerr := t.exec(ctx, "RELEASE SAVEPOINT chatbus_update"); rerr != nil {
		return errors.Join(err, fmt.Errorf("release savepoint: %w", rerr))
	}
	return err
}

// stmt returns q as a statement of this transaction: the pool's prepared
// one where there is one (database/sql reuses it on the transaction's
// connection), else nil, and q is prepared after the transaction.
func (t *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if st := t.s.prepared(t.db, q); st != nil {
		return t.tx.StmtContext(ctx, st)
	}
	t.unprepared = append(t.unprepared, q)
	return nil
}

func (t *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, t.s.rebind(q), args...)
}

func (t *Tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, t.s.rebind(q), args...)
}

func (t *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, t.s.rebind(q), args...)
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromNullMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

func nullMS(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: ms(*t), Valid: true}
}

func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return chatbus.Errorf(chatbus.CodeNotFound, format, args...)
	}
	return err
}

const userColumns = `id, email, name, status, password_hash, joined_at, login_at, logout_at`

func scanUser(row interface{ Scan(...any) error }) (chatbus.User, error) {
	var u chatbus.User
	var joined int64
	var login, logout sql.NullInt64
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Status, &u.PasswordHash, &joined, &login, &logout)
	u.JoinedAt, u.LoginAt, u.LogoutAt = fromMS(joined), fromNullMS(login), fromNullMS(logout)
	return u, err
}

func (t *Tx) User(ctx context.Context, id string) (chatbus.User, error) {
	u, err := scanUser(t.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return chatbus.User{}, notFound(err, "user %q does not exist", id)
	}
	return u, nil
}

func (t *Tx) Users(ctx context.Context, ids []string) (map[string]chatbus.User, error) {
	out := make(map[string]chatbus.User, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := t.query(ctx, `SELECT `+userColumns+` FROM users WHERE id IN (`+placeholders(1, len(ids))+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out[u.ID] = u
	}
	return out, rows.Err()
}

func (t *Tx) InsertUser(ctx context.Context, u chatbus.User) error {
	var taken string
	err := t.queryRow(ctx, `SELECT CASE WHEN id = $1 THEN 'id' ELSE 'email' END FROM users WHERE id = $1 OR email = $2 LIMIT 1`,
		u.ID, u.Email).Scan(&taken)
	switch {
	case err == nil && taken == "id":
		return chatbus.Errorf(chatbus.CodeConflict, "user id %q is taken", u.ID)
	case err == nil:
		return chatbus.Errorf(chatbus.CodeConflict, "e-mail %q is already registered", u.Email)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ID, u.Email, u.Name, u.Status, u.PasswordHash, ms(u.JoinedAt), nullMS(u.LoginAt), nullMS(u.LogoutAt))
	if err != nil && t.s.Dialect.IsUniqueViolation(err) {
		// Another writer took the id or e-mail between our check and insert.
		return chatbus.Errorf(chatbus.CodeConflict, "user id %q or e-mail %q is taken", u.ID, u.Email)
	}
	return err
}

func (t *Tx) UpdateUser(ctx context.Context, u chatbus.User) error {
	res, err := t.exec(ctx, `UPDATE users SET status = $2, login_at = $3, logout_at = $4 WHERE id = $1`,
		u.ID, u.Status, nullMS(u.LoginAt), nullMS(u.LogoutAt))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return chatbus.Errorf(chatbus.CodeNotFound, "user %q does not exist", u.ID)
	}
	return err
}

func (t *Tx) Friends(ctx context.Context, userID string) ([]chatbus.Friend, error) {
	rows, err := t.query(ctx, `SELECT u.id, u.name, u.status FROM friends f JOIN users u ON u.id = f.friend_id
		WHERE f.user_id = $1 ORDER BY u.name, u.id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []chatbus.Friend{}
	for rows.Next() {
		var f chatbus.Friend
		if err := rows.Scan(&f.ID, &f.Name, &f.Status); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (t *Tx) InsertFriends(ctx context.Context, userID string, friendIDs []string, at time.Time) error {
	for _, f := range friendIDs {
		_, err := t.exec(ctx, `INSERT INTO friends (user_id, friend_id, created_at) VALUES ($1, $2, $3)`, userID, f, ms(at))
		if err != nil && t.s.Dialect.IsUniqueViolation(err) {
			return chatbus.Errorf(chatbus.CodeConflict, "already friends with %q", f)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// directKey names the pair of a direct room, the same whoever opens it.
func directKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + " " + b
}

func (t *Tx) InsertRoom(ctx context.Context, r chatbus.Room) (int64, error) {
	var key sql.NullString
	if r.Direct {
		if len(r.Members) != 2 {
			return 0, fmt.Errorf("a direct room has 2 members, not %d", len(r.Members))
		}
		key = sql.NullString{String: directKey(r.Members[0].ID, r.Members[1].ID), Valid: true}
	}
	var id int64
	err := t.queryRow(ctx, `INSERT INTO rooms (name, direct_key, created_at, last_seq, last_activity_at)
		VALUES ($1, $2, $3, 0, $4) RETURNING id`, r.Name, key, ms(r.CreatedAt), ms(r.LastActivityAt)).Scan(&id)
	if err != nil {
		if t.s.Dialect.IsUniqueViolation(err) {
			return 0, chatbus.Errorf(chatbus.CodeConflict, "the direct room exists already")
		}
		return 0, err
	}
	for i, m := range r.Members {
		_, err := t.exec(ctx, `INSERT INTO room_members (room_id, user_id, position, joined_at) VALUES ($1, $2, $3, $4)`,
			id, m.ID, i, ms(r.CreatedAt))
		if err != nil {
			return 0, err
		}
	}
	return id, nil
}

// roomSelect reads rooms with their last message; the caller adds WHERE.
const roomSelect = `SELECT r.id, r.name, r.direct_key IS NOT NULL, r.created_at, r.last_seq, r.last_activity_at,
	m.writer_id, m.body, m.created_at, m.client_msg_id
	FROM rooms r LEFT JOIN messages m ON m.room_id = r.id AND m.seq = r.last_seq `

func scanRoom(row interface{ Scan(...any) error }) (chatbus.Room, error) {
	var r chatbus.Room
	var created, active int64
	var writer, body, clientID sql.NullString
	var msgAt sql.NullInt64
	err := row.Scan(&r.ID, &r.Name, &r.Direct, &created, &r.LastSeq, &active, &writer, &body, &msgAt, &clientID)
	r.CreatedAt, r.LastActivityAt, r.Members = fromMS(created), fromMS(active), []chatbus.Member{}
	if writer.Valid {
		r.LastMessage = &chatbus.Message{RoomID: r.ID, Seq: r.LastSeq, WriterID: writer.String,
			Message: body.String, CreatedAt: fromMS(msgAt.Int64), ClientMsgID: clientID.String}
	}
	return r, err
}

func (t *Tx) Room(ctx context.Context, id int64) (chatbus.Room, error) {
	r, err := scanRoom(t.queryRow(ctx, roomSelect+`WHERE r.id = $1`, id))
	if err != nil {
		return chatbus.Room{}, notFound(err, "room %d does not exist", id)
	}
	rooms := []chatbus.Room{r}
	err = t.addMembers(ctx, rooms, `SELECT rm.room_id, u.id, u.name, rm.read_seq FROM room_members rm JOIN users u ON u.id = rm.user_id
		WHERE rm.room_id = $1 ORDER BY rm.position, u.id`, id)
	return rooms[0], err
}

func (t *Tx) DirectRoom(ctx context.Context, a, b string) (chatbus.Room, error) {
	var id int64
	err := t.queryRow(ctx, `SELECT id FROM rooms WHERE direct_key = $1`, directKey(a, b)).Scan(&id)
	if err != nil {
		return chatbus.Room{}, notFound(err, "no direct room of %q and %q", a, b)
	}
	return t.Room(ctx, id)
}

func (t *Tx) Rooms(ctx context.Context, userID string) ([]chatbus.Room, error) {
	rows, err := t.query(ctx, roomSelect+`JOIN room_members me ON me.room_id = r.id AND me.user_id = $1
		ORDER BY r.last_activity_at DESC, r.id DESC`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	rooms := []chatbus.Room{}
	for rows.Next() {
		r, err := scanRoom(rows)
		if err != nil {
			return nil, err
		}
		rooms = append(rooms, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	err = t.addMembers(ctx, rooms, `SELECT rm.room_id, u.id, u.name, rm.read_seq FROM room_members me
		JOIN room_members rm ON rm.room_id = me.room_id JOIN users u ON u.id = rm.user_id
		WHERE me.user_id = $1 ORDER BY rm.room_id, rm.position, u.id`, userID)
	return rooms, err
}

// addMembers fills rooms' members from a query of (room id, user id, name,
// read seq).
func (t *Tx) addMembers(ctx context.Context, rooms []chatbus.Room, q string, args ...any) error {
	byID := make(map[int64]*chatbus.Room, len(rooms))
	for i := range rooms {
		byID[rooms[i].ID] = &rooms[i]
	}
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var roomID int64
		var m chatbus.Member
		if err := rows.Scan(&roomID, &m.ID, &m.Name, &m.ReadSeq); err != nil {
			return err
		}
		if r := byID[roomID]; r != nil {
			r.Members = append(r.Members, m)
		}
	}
	return rows.Err()
}

func (t *Tx) IsMember(ctx context.Context, roomID int64, userID string) (bool, error) {
	var one int
	err := t.queryRow(ctx, `SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2`, roomID, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (t *Tx) SetReadSeq(ctx context.Context, roomID int64, userID string, seq int64) (bool, error) {
	// The condition makes it a maximum, in one statement that both
	// databases take: a position never moves back.
	res, err := t.exec(ctx, `UPDATE room_members SET read_seq = $3 WHERE room_id = $1 AND user_id = $2 AND read_seq < $3`,
		roomID, userID, seq)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n > 0 {
		return n > 0, err
	}
	if ok, err := t.IsMember(ctx, roomID, userID); err != nil || ok {
		return false, err
	}
	return false, chatbus.Errorf(chatbus.CodeNotFound, "%q is not a member of room %d", userID, roomID)
}

func (t *Tx) ReadSeqs(ctx context.Context, roomID int64) (map[string]int64, error) {
	rows, err := t.query(ctx, `SELECT user_id, read_seq FROM room_members WHERE room_id = $1`, roomID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, err
		}
		out[id] = seq
	}
	return out, rows.Err()
}

func (t *Tx) InsertMessage(ctx context.Context, m chatbus.Message) (chatbus.Message, error) {
	// Taking the next seq is an UPDATE of the room row: it holds the row's
	// write lock until commit, so concurrent writers of one room are serial
	// and seqs have no gaps (a rolled-back transaction gives its seq back).
	err := t.queryRow(ctx, `UPDATE rooms SET last_seq = last_seq + 1,
		last_activity_at = CASE WHEN last_activity_at > $2 THEN last_activity_at ELSE $2 END
		WHERE id = $1 RETURNING last_seq`, m.RoomID, ms(m.CreatedAt)).Scan(&m.Seq)
	if err != nil {
		return chatbus.Message{}, notFound(err, "room %d does not exist", m.RoomID)
	}
	_, err = t.exec(ctx, `INSERT INTO messages (room_id, seq, writer_id, body, created_at, client_msg_id)
		VALUES ($1, $2, $3, $4, $5, $6)`, m.RoomID, m.Seq, m.WriterID, m.Message, ms(m.CreatedAt),
		sql.NullString{String: m.ClientMsgID, Valid: m.ClientMsgID != ""})
	if err != nil && t.s.Dialect.IsUniqueViolation(err) {
		return chatbus.Message{}, chatbus.Errorf(chatbus.CodeConflict, "client message id %q was used already", m.ClientMsgID)
	}
	return m, err
}

const messageSelect = `SELECT room_id, seq, writer_id, body, created_at, client_msg_id FROM messages `

func scanMessage(row interface{ Scan(...any) error }) (chatbus.Message, error) {
	var m chatbus.Message
	var at int64
	var clientID sql.NullString
	err := row.Scan(&m.RoomID, &m.Seq, &m.WriterID, &m.Message, &at, &clientID)
	m.CreatedAt, m.ClientMsgID = fromMS(at), clientID.String
	return m, err
}

func (t *Tx) MessageByClientID(ctx context.Context, roomID int64, writerID, clientMsgID string) (chatbus.Message, error) {
	m, err := scanMessage(t.queryRow(ctx, messageSelect+`WHERE room_id = $1 AND writer_id = $2 AND client_msg_id = $3`,
		roomID, writerID, clientMsgID))
	if err != nil {
		return chatbus.Message{}, notFound(err, "no message %q", clientMsgID)
	}
	return m, nil
}

func (t *Tx) Messages(ctx context.Context, roomID int64, f chatbus.MessageFilter) ([]chatbus.Message, error) {
	before := f.Before
	if before <= 0 {
		before = math.MaxInt64
	}
	order := "DESC" // the newest page before Before …
	if f.Forward {
		order = "ASC" // … or the oldest page after After
	}
	rows, err := t.query(ctx, messageSelect+`WHERE room_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq `+order+` LIMIT $4`,
		roomID, f.After, before, f.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []chatbus.Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if order == "DESC" {
		slices.Reverse(out)
	}
	return out, rows.Err()
}

func (t *Tx) Outcome(ctx context.Context, key string) ([]byte, error) {
	var result []byte
	err := t.queryRow(ctx, `SELECT result FROM outcomes WHERE id = $1`, key).Scan(&result)
	if err != nil {
		return nil, notFound(err, "no outcome %q", key)
	}
	return result, nil
}

func (t *Tx) SaveOutcome(ctx context.Context, key string, result []byte, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO outcomes (id, result, created_at) VALUES ($1, $2, $3)`, key, string(result), ms(at))
	if err != nil && t.s.Dialect.IsUniqueViolation(err) {
		return chatbus.Errorf(chatbus.CodeConflict, "outcome %q exists already", key)
	}
	return err
}

func (t *Tx) PruneOutcomes(ctx context.Context, before time.Time) (int64, error) {
	res, err := t.exec(ctx, `DELETE FROM outcomes WHERE created_at < $1`, ms(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *Tx) RoomMembers(ctx context.Context, roomID int64) ([]string, error) {
	return t.ids(ctx, `SELECT user_id FROM room_members WHERE room_id = $1 ORDER BY position, user_id`, roomID)
}

func (t *Tx) Followers(ctx context.Context, userID string) ([]string, error) {
	return t.ids(ctx, `SELECT user_id FROM friends WHERE friend_id = $1 ORDER BY user_id`, userID)
}

// ids runs a query of one text column and returns its values.
func (t *Tx) ids(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (t *Tx) InsertEvents(ctx context.Context, evs []chatbus.Event) error {
	now := ms(time.Now())
	for _, ev := range evs {
		to, err := json.Marshal(ev.To)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO outbox (kind, user_id, room_id, recipients, data, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			ev.Kind, ev.UserID, ev.RoomID, string(to), string(ev.Data), now); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) PendingEvents(ctx context.Context, limit int) ([]chatbus.Event, error) {
	rows, err := t.query(ctx, `SELECT id, kind, user_id, room_id, recipients, data FROM outbox ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []chatbus.Event
	for rows.Next() {
		var ev chatbus.Event
		var to, data string
		if err := rows.Scan(&ev.ID, &ev.Kind, &ev.UserID, &ev.RoomID, &to, &data); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(to), &ev.To); err != nil {
			return nil, fmt.Errorf("outbox event %d: %w", ev.ID, err)
		}
		ev.Data = []byte(data)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// deleteChunk is the most ids one DELETE names.
const deleteChunk = 256

func (t *Tx) DeleteEvents(ctx context.Context, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), deleteChunk)
		// The list is padded (with its last id) to a few sizes, so that the
		// statement has a few texts to prepare, not one per length.
		size := 1
		for size < n {
			size *= 4
		}
		size = min(size, deleteChunk)
		args := make([]any, size)
		for i := range args {
			args[i] = ids[min(i, n-1)]
		}
		if _, err := t.exec(ctx, `DELETE FROM outbox WHERE id IN (`+placeholders(1, size)+`)`, args...); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func (t *Tx) ClaimRelay(ctx context.Context, holder string, now, until time.Time) (bool, error) {
	res, err := t.exec(ctx, `UPDATE relay_lease SET holder = $1, expires_at = $2
		WHERE id = 1 AND (holder = $1 OR expires_at < $3)`, holder, ms(until), ms(now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
