package kafkabus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/chatbus/chatbus"
)

// answer is what serving one request gives: the reply and its key, the
// operation's error (nil, a domain error or a failure), and whether the
// request was unusable (poison) and belongs in the dead-letter topic.
type answer struct {
	key    string
	reply  replier
	err    error
	poison bool
}

// replier is any reply: each embeds Status.
type replier interface{ setStatus(Status) }

func (s *Status) setStatus(st Status) { *s = st }

// endpoint decodes one operation's request and runs it.
type endpoint func(ctx context.Context, svc chatbus.Service, value []byte) answer

// parse decodes value into req and checks its required fields; a failure
// makes the request poison.
func parse(value []byte, req any, check func() error) error {
	err := decode(value, req)
	if err == nil {
		err = check()
	}
	if err != nil {
		return errPoison{chatbus.Errorf(chatbus.CodeInvalid, "%v", err)}
	}
	return nil
}

type errPoison struct{ err *chatbus.Error }

func (e errPoison) Error() string { return e.err.Error() }
func (e errPoison) Unwrap() error { return e.err }

func isPoison(err error) bool { var p errPoison; return errors.As(err, &p) }

// ok returns &v when err is nil: a failed reply carries no payload.
func ok[T any](v T, err error) *T {
	if err != nil {
		return nil
	}
	return &v
}

func okSlice[T any](v []T, err error) []T {
	if err != nil {
		return nil
	}
	return v
}

func done(key string, reply replier, err error) answer {
	return answer{key: key, reply: reply, err: err, poison: isPoison(err)}
}

// endpoints maps each operation's name to its endpoint.
var endpoints = map[string]endpoint{
	OpLogin.Name: func(ctx context.Context, svc chatbus.Service, b []byte) answer {
		var r LoginRequest
		err := parse(b, &r, func() error { return required("userId", r.UserID, "userPw", r.UserPw) })
		rep := &UserReply{UserID: clip(r.UserID)}
		if err == nil {
			var u chatbus.User
			u, err = svc.LogIn(ctx, r.UserID, r.UserPw)
			rep.User = ok(u, err)
		}
		return done(clip(r.UserID), rep, err)
	},
	OpLogout.Name: func(ctx context.Context, svc chatbus.Service, b []byte) answer {
		var r LogoutRequest
		err := parse(b, &r, func() error { return required("userId", r.UserID) })
		rep := &UserReply{UserID: clip(r.UserID)}
		if err == nil {
			var u chatbus.User
			u, err = svc.LogOut(ctx, r.UserID)
			rep.User = ok(u, err)
		}
		return done(clip(r.UserID), rep, err)
	},
	OpRooms.Name: func(ctx context.Context, svc chatbus.Service, b []byte) answer {
		var r UserRequest
		err := parse(b, &r, func() error { return required("userId", r.UserID) })
		rep := &RoomsReply{UserID: clip(r.UserID)}
		if err == nil {
			var rooms []chatbus.Room
			rooms, err = svc.Rooms(ctx, r.UserID)
			rep.Rooms = okSlice(rooms, err)
		}
		return done(clip(r.UserID), rep, err)
	},
	OpFriends.Name: func(ctx context.Context, svc chatbus.Service, b []byte) answer {
		var r UserRequest
		err := parse(b, &r, func() error { return required("userId", r.UserID) })
		rep := &FriendsReply{UserID: clip(r.UserID)}
		if err == nil {
			var friends []chatbus.Friend
			friends, err = svc.Friends(ctx, r.UserID)
			rep.Friends = okSlice(friends, err)
		}
		return done(clip(r.UserID), rep, err)
	},
	OpSignUp.Name: func(ctx context.Context, svc chatbus.Service, b []byte) answer {
		var r SignUpRequest
		err := parse(b, &r, func() error {
			return required("userId", r.UserID, "userPw", r.UserPw, "email", r.Email, "userName", r.UserName)
		})
		rep := &UserReply{UserID: clip(r.UserID)}
		if err == nil {
			var u chatbus.User
			u, err = svc.SignUp(ctx, chatbus.SignUp{UserID: r.UserID, Password: r.UserPw, Email: r.Email, Name: r.UserName})
			rep.User = ok(u, err)
		}
		return done(clip(r.UserID), rep, err)
	},
	OpStatus.Name: func(ctx context.Context, svc chatbus.Service, b []byte) answer {
		var r StatusRequest
		err := parse(b, &r, func() error { return required("userId", r.UserID, "userStatus", r.UserStatus != nil) })
		rep := &UserReply{UserID: clip(r.UserID)}
		if err == nil {
			var u chatbus.User
			u, err = svc.SetStatus(ctx, r.UserID, *r.UserStatus)
			rep.User = ok(u, err)
		}
		return done(clip(r.UserID), rep, err)
	},
	OpOpenRoom.Name: func(ctx context.Context, svc chatbus.Service, b []byte) answer {
		var r OpenRoomRequest
		err := parse(b, &r, func() error { return required("userId", r.UserID, "friendId", r.FriendID) })
		rep := &RoomReply{UserID: clip(r.UserID)}
		if err == nil {
			var room chatbus.Room
			room, err = svc.OpenRoom(ctx, chatbus.OpenRoom{UserID: r.UserID, FriendIDs: r.FriendID, Name: r.RoomName})
			rep.Room = ok(room, err)
		}
		return done(clip(r.UserID), rep, err)
	},
	OpAddChat.Name: func(ctx context.Context, svc chatbus.Service, b []byte) answer {
		var r AddChatRequest
		err := parse(b, &r, func() error { return required("roomId", r.RoomID, "writerId", r.WriterID, "message", r.Message) })
		rep := &ChatReply{RoomID: r.RoomID, WriterID: clip(r.WriterID)}
		if err == nil {
			var m chatbus.Message
			m, err = svc.PostMessage(ctx, chatbus.PostMessage{RoomID: r.RoomID, WriterID: r.WriterID,
				Message: r.Message, ClientMsgID: r.ClientMsgID})
			rep.Chat = ok(m, err)
		}
		return done(clip(r.WriterID), rep, err)
	},
	OpAddFriends.Name: func(ctx context.Context, svc chatbus.Service, b []byte) answer {
		var r AddFriendRequest
		err := parse(b, &r, func() error { return required("userId", r.UserID, "friendId", r.FriendID) })
		rep := &FriendsReply{UserID: clip(r.UserID)}
		if err == nil {
			var friends []chatbus.Friend
			friends, err = svc.AddFriends(ctx, r.UserID, r.FriendID)
			rep.Friends = okSlice(friends, err)
		}
		return done(clip(r.UserID), rep, err)
	},
	OpSearchChats.Name: func(ctx context.Context, svc chatbus.Service, b []byte) answer {
		var r SearchChatRequest
		err := parse(b, &r, func() error { return required("userId", r.UserID, "roomId", r.RoomID) })
		rep := &ChatsReply{UserID: clip(r.UserID), RoomID: r.RoomID, forward: r.After != nil}
		if err == nil {
			var chats []chatbus.Message
			f := chatbus.MessageFilter{Before: r.Before, Limit: r.Limit, Forward: r.After != nil}
			if r.After != nil {
				f.After = *r.After
			}
			chats, err = svc.Messages(ctx, r.UserID, r.RoomID, f)
			rep.Chats = okSlice(chats, err)
		}
		return done(clip(r.UserID), rep, err)
	},
	OpReadChat.Name: func(ctx context.Context, svc chatbus.Service, b []byte) answer {
		var r ReadChatRequest
		err := parse(b, &r, func() error { return required("userId", r.UserID, "roomId", r.RoomID, "seq", r.Seq != nil) })
		rep := &ReadReply{UserID: clip(r.UserID), RoomID: r.RoomID}
		if err == nil {
			var st chatbus.ReadState
			st, err = svc.MarkRead(ctx, r.UserID, r.RoomID, *r.Seq)
			rep.Read = ok(st, err)
		}
		return done(clip(r.UserID), rep, err)
	},
}

// encodeReply sets the reply's status from the answer's error and encodes
// it, without escaping <, > and & (six bytes each): replies are not HTML.
func encodeReply(a answer) ([]byte, error) {
	a.reply.setStatus(statusOf(a.err))
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a.reply); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// clip bounds an id echoed from a request into its reply: an id is checked
// by the operation, but the echo happens whatever the check says.
func clip(id string) string {
	const max = 4 * chatbus.MaxUserIDLen
	if len(id) <= max {
		return id
	}
	return strings.ToValidUTF8(id[:max], "")
}

// shrinker is a reply that can be made smaller and still be right.
type shrinker interface {
	// shrink drops part of the payload; false when nothing is left to drop.
	shrink() bool
}

// shrink halves a history page, keeping the end nearest its anchor: the
// caller pages on from where the page ends.
func (r *ChatsReply) shrink() bool {
	n := len(r.Chats)
	if n <= 1 {
		return false
	}
	if r.forward {
		r.Chats = r.Chats[:n/2]
	} else {
		r.Chats = r.Chats[n-n/2:]
	}
	return true
}
