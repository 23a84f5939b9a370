// Package chatbus is the domain of the chatbus messenger: users, friends,
// rooms and chat messages, their rules and their errors, and the interfaces
// that the adapters (the Kafka backend and client, the SQL stores, the web
// gateway) implement or call. It knows nothing of Kafka, SQL or HTTP.
package chatbus

import (
	"context"
	"time"
)

// User is a member of the messenger. PasswordHash never leaves the backend:
// it is not serialized.
type User struct {
	ID           string     `json:"userId"`
	Email        string     `json:"email"`
	Name         string     `json:"userName"`
	Status       string     `json:"userStatus"`
	JoinedAt     time.Time  `json:"joinDate"`
	LoginAt      *time.Time `json:"loginDate"`
	LogoutAt     *time.Time `json:"logoutDate"`
	PasswordHash string     `json:"-"`
}

// Friend is what a user sees of someone on their friend list.
type Friend struct {
	ID     string `json:"userId"`
	Name   string `json:"userName"`
	Status string `json:"userStatus"`
}

// Member is what a room shows of one of its members. ReadSeq is the seq of
// the last message they have read (0: none): it only moves forward, and
// posting a message moves it to that message.
type Member struct {
	ID      string `json:"userId"`
	Name    string `json:"userName"`
	ReadSeq int64  `json:"readSeq"`
}

// Room is a chat room. A direct room holds exactly two members and is unique
// per pair; a group room is created anew each time.
type Room struct {
	ID             int64     `json:"roomId"`
	Name           string    `json:"roomName"`
	Direct         bool      `json:"direct"`
	Members        []Member  `json:"members"`
	CreatedAt      time.Time `json:"createdAt"`
	LastSeq        int64     `json:"lastSeq"`
	LastActivityAt time.Time `json:"lastActivityAt"`
	LastMessage    *Message  `json:"lastMessage"`
	// Unread is how many messages the user who asked has not read: the
	// room list is per user (seqs have no gaps, so it is LastSeq minus
	// their ReadSeq).
	Unread int64 `json:"unread"`
}

// Message is one chat message. Seq numbers a room's messages 1, 2, 3, … with
// no gaps, in the order the backend committed them.
type Message struct {
	RoomID      int64     `json:"roomId"`
	Seq         int64     `json:"seq"`
	WriterID    string    `json:"writerId"`
	Message     string    `json:"message"`
	CreatedAt   time.Time `json:"createdAt"`
	ClientMsgID string    `json:"clientMsgId,omitempty"`
	// Unread is how many members, the writer aside, have not read it yet
	// (KakaoTalk's "1"), as of when it was read from the store.
	Unread int `json:"unreadCount"`
}

// ReadState is where a member has read a room up to, and what is left.
type ReadState struct {
	RoomID  int64  `json:"roomId"`
	UserID  string `json:"userId"`
	ReadSeq int64  `json:"readSeq"` // the seq of the last message read
	Unread  int64  `json:"unread"`  // the messages after it
}

// SignUp is a request to create a user.
type SignUp struct {
	UserID   string
	Password string
	Email    string
	Name     string
}

// OpenRoom is a request to open a room with friends.
type OpenRoom struct {
	UserID    string   // who opens it; becomes a member
	FriendIDs []string // whom to invite; each must be on UserID's friend list
	Name      string   // optional
}

// PostMessage is a request to post a message to a room.
type PostMessage struct {
	RoomID      int64
	WriterID    string
	Message     string
	ClientMsgID string // optional; makes a resent post a no-op that returns the first result
}

// MessageFilter selects a page of a room's history. Before and After are
// exclusive seq bounds (0: none). Forward pages from After upward (the
// oldest messages after it: catching up); otherwise the page is the newest
// messages before Before (opening a room, scrolling back). Pages are always
// in ascending seq order.
type MessageFilter struct {
	Before  int64
	After   int64
	Forward bool
	Limit   int
}

// Service is the messenger's set of operations: the seed's nine, history
// and read receipts.
// The backend implements it over a Store; the gateway reaches it through Kafka
// with a client that implements it too. Every error is an *Error (see Code);
// anything else is a failure of the infrastructure.
type Service interface {
	// SignUp creates a user. CodeInvalid for a bad id, e-mail, name or
	// password; CodeConflict when the id or the e-mail is taken.
	SignUp(ctx context.Context, req SignUp) (User, error)
	// LogIn checks the credentials and records the login date.
	// CodeUnauthenticated for a wrong id or password, alike.
	LogIn(ctx context.Context, userID, password string) (User, error)
	// LogOut records the logout date. CodeNotFound for an unknown user.
	LogOut(ctx context.Context, userID string) (User, error)
	// SetStatus changes the status message. CodeInvalid when too long.
	SetStatus(ctx context.Context, userID, status string) (User, error)
	// AddFriends adds every id or none, and returns the whole new friend list.
	// CodeNotFound for an unknown id; CodeInvalid for oneself;
	// CodeConflict for someone already a friend.
	AddFriends(ctx context.Context, userID string, friendIDs []string) ([]Friend, error)
	// Friends lists a user's friends by name.
	Friends(ctx context.Context, userID string) ([]Friend, error)
	// OpenRoom creates a room, or returns the existing direct room when one
	// user is invited and no name is given (the direct room of two belongs
	// to both, whoever opened it). Otherwise CodeForbidden for someone who is
	// not on UserID's friend list.
	OpenRoom(ctx context.Context, req OpenRoom) (Room, error)
	// Rooms lists a user's rooms, newest activity first.
	Rooms(ctx context.Context, userID string) ([]Room, error)
	// PostMessage saves a message with the room's next seq. CodeNotFound for
	// a missing room or writer; CodeForbidden for a writer who is not a member.
	PostMessage(ctx context.Context, req PostMessage) (Message, error)
	// Messages returns a page of a room's history to one of its members.
	Messages(ctx context.Context, userID string, roomID int64, f MessageFilter) ([]Message, error)
	// MarkRead moves a member's read position in a room forward to seq (a
	// seq past the last message means the last message; an earlier one
	// than theirs changes nothing) and returns where it stands.
	// CodeInvalid for a negative seq; CodeNotFound for a missing room;
	// CodeForbidden for someone who is not a member.
	MarkRead(ctx context.Context, userID string, roomID, seq int64) (ReadState, error)
}
