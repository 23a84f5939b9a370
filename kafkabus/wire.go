package kafkabus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/chatbus/chatbus"
)

// The wire contract: the seed's topic names and JSON field names. Requests
// are JSON objects (logout also takes a bare JSON string, as the seed sent);
// replies carry isSuccess, errorMessage and errorCode beside their payload.
// docs/wire.md is generated from the examples in wire_examples.go and
// tested against these types.

// Headers of requests and replies.
const (
	// HeaderCorrelationID, set by a caller on a request, comes back on its
	// reply. It is also the request's idempotency key: a request redelivered
	// or resent with the same id is done once and answered again.
	HeaderCorrelationID = "correlation-id"
	// Headers added to a record moved to the dead-letter topic.
	HeaderDLQTopic     = "dlq-topic"
	HeaderDLQPartition = "dlq-partition"
	HeaderDLQOffset    = "dlq-offset"
	HeaderDLQError     = "dlq-error"
)

// errorCodes is the one table from domain codes to the wire's errorCode.
var errorCodes = map[chatbus.Code]string{
	chatbus.CodeInvalid:         "INVALID_REQUEST",
	chatbus.CodeUnauthenticated: "UNAUTHENTICATED",
	chatbus.CodeForbidden:       "FORBIDDEN",
	chatbus.CodeNotFound:        "NOT_FOUND",
	chatbus.CodeConflict:        "CONFLICT",
	chatbus.CodeUnavailable:     "UNAVAILABLE",
	chatbus.CodeRateLimited:     "RATE_LIMITED",
	chatbus.CodeInternal:        "INTERNAL",
}

// WireCode returns the errorCode of a domain code.
func WireCode(c chatbus.Code) string {
	if s, ok := errorCodes[c]; ok {
		return s
	}
	return errorCodes[chatbus.CodeInternal]
}

// DomainCode returns the domain code of an errorCode; unknown ones are internal.
func DomainCode(wire string) chatbus.Code {
	for c, s := range errorCodes {
		if s == wire {
			return c
		}
	}
	return chatbus.CodeInternal
}

// Status is the part every reply shares.
type Status struct {
	IsSuccess    bool   `json:"isSuccess"`
	ErrorMessage string `json:"errorMessage"`
	ErrorCode    string `json:"errorCode"`
}

func statusOf(err error) Status {
	if err == nil {
		return Status{IsSuccess: true}
	}
	return Status{ErrorMessage: chatbus.ErrorMessage(err), ErrorCode: WireCode(chatbus.ErrorCode(err))}
}

// Err returns the reply's error as a domain error, nil on success.
func (s Status) Err() error {
	if s.IsSuccess {
		return nil
	}
	return &chatbus.Error{Code: DomainCode(s.ErrorCode), Message: s.ErrorMessage}
}

// IDList is a list of user ids; a single string is taken as a list of one.
type IDList []string

func (l *IDList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = IDList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("must be a user id or a list of user ids")
	}
	*l = many
	return nil
}

// Requests.
type (
	// LoginRequest is sent to login-request.
	LoginRequest struct {
		UserID string `json:"userId"`
		UserPw string `json:"userPw"`
	}
	// LogoutRequest is sent to logout-request: the user id as a JSON string,
	// or as {"userId": …}.
	LogoutRequest struct {
		UserID string `json:"userId"`
	}
	// UserRequest is sent to user-search-room-request and user-search-friend-request.
	UserRequest struct {
		UserID string `json:"userId"`
	}
	// SignUpRequest is sent to user-add-request.
	SignUpRequest struct {
		UserID   string `json:"userId"`
		UserPw   string `json:"userPw"`
		Email    string `json:"email"`
		UserName string `json:"userName"`
	}
	// StatusRequest is sent to user-status-change-request.
	StatusRequest struct {
		UserID     string  `json:"userId"`
		UserStatus *string `json:"userStatus"` // "" clears it; absent is an error
	}
	// OpenRoomRequest is sent to user-add-room-request.
	OpenRoomRequest struct {
		UserID   string `json:"userId"`
		FriendID IDList `json:"friendId"`
		RoomName string `json:"roomName,omitempty"`
	}
	// AddChatRequest is sent to user-add-chat-request.
	AddChatRequest struct {
		RoomID      int64  `json:"roomId"`
		WriterID    string `json:"writerId"`
		Message     string `json:"message"`
		ClientMsgID string `json:"clientMsgId,omitempty"`
	}
	// AddFriendRequest is sent to user-add-friend-request.
	AddFriendRequest struct {
		UserID   string `json:"userId"`
		FriendID IDList `json:"friendId"`
	}
	// SearchChatRequest is sent to user-search-chat-request (history).
	SearchChatRequest struct {
		UserID string `json:"userId"`
		RoomID int64  `json:"roomId"`
		Before int64  `json:"before,omitempty"`
		After  *int64 `json:"after,omitempty"` // given (even 0): page forward from it
		Limit  int    `json:"limit,omitempty"`
	}
)

// Replies.
type (
	// UserReply answers login, logout, sign-up and status changes.
	UserReply struct {
		UserID string `json:"userId"`
		Status
		User *chatbus.User `json:"user"`
	}
	// FriendsReply answers the friend list and adding friends.
	FriendsReply struct {
		UserID string `json:"userId"`
		Status
		Friends []chatbus.Friend `json:"friends"`
	}
	// RoomsReply answers the room list.
	RoomsReply struct {
		UserID string `json:"userId"`
		Status
		Rooms []chatbus.Room `json:"rooms"`
	}
	// RoomReply answers opening a room.
	RoomReply struct {
		UserID string `json:"userId"`
		Status
		Room *chatbus.Room `json:"room"`
	}
	// ChatReply answers a chat message.
	ChatReply struct {
		RoomID   int64  `json:"roomId"`
		WriterID string `json:"writerId"`
		Status
		Chat *chatbus.Message `json:"chat"`
	}
	// ChatsReply answers a history request.
	ChatsReply struct {
		UserID string `json:"userId"`
		RoomID int64  `json:"roomId"`
		Status
		Chats []chatbus.Message `json:"chats"`
	}
)

// UnmarshalJSON takes the seed's bare JSON string as well as an object.
func (r *LogoutRequest) UnmarshalJSON(b []byte) error {
	var id string
	if err := json.Unmarshal(b, &id); err == nil {
		r.UserID = id
		return nil
	}
	var obj struct {
		UserID string `json:"userId"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return errors.New(`want the user id as a JSON string or {"userId": …}`)
	}
	r.UserID = obj.UserID
	return nil
}

// errMissing is a request that lacks a required field: it is answered with
// an error and kept in the dead-letter topic, like one that is not JSON.
type errMissing struct{ fields []string }

func (e errMissing) Error() string {
	return fmt.Sprintf("missing required field(s): %s", strings.Join(e.fields, ", "))
}

// decode parses a request strictly: one JSON value of the right shape.
func decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not a valid JSON request: %w", err)
	}
	if dec.More() {
		return errors.New("not a valid JSON request: more than one JSON value")
	}
	return nil
}

// required returns errMissing for the names whose value is empty.
func required(pairs ...any) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		name := pairs[i].(string)
		switch v := pairs[i+1].(type) {
		case string:
			if v == "" {
				missing = append(missing, name)
			}
		case int64:
			if v == 0 {
				missing = append(missing, name)
			}
		case bool: // present
			if !v {
				missing = append(missing, name)
			}
		case IDList:
			if v == nil {
				missing = append(missing, name)
			}
		}
	}
	if missing != nil {
		return errMissing{missing}
	}
	return nil
}
