package web

import (
	"context"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/chatbus/chatbus"
)

// MinPasswordLen is the shortest password the web sign-up takes.
const MinPasswordLen = 8

type ctxSession struct{}

// authed lets only requests with a live session through (401 otherwise),
// with the session in the context: every call's subject comes from it,
// never from the body.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.session(r)
		if sess == nil {
			s.writeError(w, r, chatbus.Errorf(chatbus.CodeUnauthenticated, "log in first"))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxSession{}, sess)))
	}
}

func (s *Server) session(r *http.Request) *Session {
	c, err := r.Cookie(s.cookieName(r, sessionCookie))
	if err != nil {
		return nil
	}
	return s.sessions.get(r.Context(), c.Value)
}

func sessionOf(r *http.Request) *Session { return r.Context().Value(ctxSession{}).(*Session) }

func (s *Server) userID(r *http.Request) string { return s.sessions.user(sessionOf(r)).ID }

func (s *Server) handleSignUp(w http.ResponseWriter, r *http.Request) {
	var body struct {
		UserID   string `json:"userId"`
		UserPw   string `json:"userPw"`
		Email    string `json:"email"`
		UserName string `json:"userName"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.exempt(r) {
		if ok, wait := s.signups.allow(s.addrKey(r), time.Now()); !ok {
			retryAfter(w, wait)
			s.writeError(w, r, chatbus.Errorf(chatbus.CodeRateLimited, "too many sign-ups from your address; try again later"))
			return
		}
	}
	// The backend takes the seed's 4 characters; people signing up here
	// are asked for more.
	if utf8.RuneCountInString(body.UserPw) < MinPasswordLen {
		s.writeError(w, r, chatbus.Errorf(chatbus.CodeInvalid, "userPw must be at least %d characters", MinPasswordLen))
		return
	}
	u, err := s.svc.SignUp(r.Context(), chatbus.SignUp{UserID: body.UserID, Password: body.UserPw, Email: body.Email, Name: body.UserName})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": u})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		UserID string `json:"userId"`
		UserPw string `json:"userPw"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	pre := s.preID(r)
	// The address is checked first, and only an id that could exist takes
	// a place in the per-account limiter: junk ids cannot fill its memory.
	id := chatbus.NormalizeUserID(body.UserID)
	limited := func(ok bool, wait time.Duration) bool {
		if ok {
			return false
		}
		retryAfter(w, wait)
		err := chatbus.Errorf(chatbus.CodeRateLimited, "too many login attempts; try again in a moment")
		s.hub.sendPre(pre, "login", map[string]any{"error": errorJSON(err)})
		s.writeError(w, r, err)
		return true
	}
	if !s.exempt(r) {
		now := time.Now()
		if limited(s.byAddr.allow(s.addrKey(r), now)) {
			return
		}
		if chatbus.ValidateUserID(id) == nil && limited(s.byAccount.allow(id, now)) {
			return
		}
	}
	u, err := s.svc.LogIn(r.Context(), body.UserID, body.UserPw)
	if err != nil {
		s.hub.sendPre(pre, "login", map[string]any{"error": errorJSON(err)})
		s.writeError(w, r, err)
		return
	}
	// A login always starts a new session (no fixation), ending the one the
	// browser had.
	if old := s.session(r); old != nil {
		if err := s.endSession(r.Context(), old); err != nil {
			s.log.Warn("end the session a login replaces", "err", err)
		}
	}
	sid, _, err := s.sessions.create(r.Context(), u)
	if err != nil {
		s.hub.sendPre(pre, "login", map[string]any{"error": errorJSON(err)})
		s.writeError(w, r, err)
		return
	}
	s.setSessionCookie(w, r, sid)
	s.hub.sendPre(pre, "login", map[string]any{"user": u})
	writeJSON(w, http.StatusOK, map[string]any{"user": u})
}

func (s *Server) exempt(r *http.Request) bool { return contains(s.cfg.Exempt, s.clientAddr(r)) }

// endSession ends a session everywhere, and its streams here at once
// (other frontends end theirs when they read the end).
func (s *Server) endSession(ctx context.Context, sess *Session) error {
	if err := s.sessions.delete(ctx, sess); err != nil {
		return err
	}
	s.hub.closeSession(sess.key)
	return nil
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	sess := sessionOf(r)
	// The streams end now; if the end cannot be saved, the session goes on
	// (it would go on at the other frontends) and the logout is refused.
	if err := s.endSession(r.Context(), sess); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.clearSessionCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
	// The logout date is recorded in the background: a slow backend must
	// not hold up a logout, which has taken effect here already.
	userID := s.sessions.user(sess).ID
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
		defer cancel()
		if _, err := s.svc.LogOut(ctx, userID); err != nil {
			s.log.Warn("record logout", "userId", userID, "err", err)
		}
	}()
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"user": s.sessions.user(sessionOf(r))})
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	var body struct {
		UserStatus *string `json:"userStatus"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.UserStatus == nil {
		s.writeError(w, r, chatbus.Errorf(chatbus.CodeInvalid, "userStatus is required"))
		return
	}
	u, err := s.svc.SetStatus(r.Context(), s.userID(r), *body.UserStatus)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.sessions.setUser(sessionOf(r), u)
	writeJSON(w, http.StatusOK, map[string]any{"user": u})
}

func (s *Server) handleFriends(w http.ResponseWriter, r *http.Request) {
	friends, err := s.svc.Friends(r.Context(), s.userID(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"friends": friends})
}

func (s *Server) handleAddFriends(w http.ResponseWriter, r *http.Request) {
	var body struct {
		FriendIDs []string `json:"friendIds"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	// Every id counts, known or not (more than a call may hold are refused
	// by the backend before it looks any up).
	if n := len(body.FriendIDs); !s.exempt(r) && n <= chatbus.MaxFriendsPerCall {
		if ok, wait := s.friendAdd.allowN(s.userID(r), n, time.Now()); !ok {
			retryAfter(w, wait)
			s.writeError(w, r, chatbus.Errorf(chatbus.CodeRateLimited, "too many friend requests; try again later"))
			return
		}
	}
	friends, err := s.svc.AddFriends(r.Context(), s.userID(r), body.FriendIDs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"friends": friends})
}

func (s *Server) handleRooms(w http.ResponseWriter, r *http.Request) {
	rooms, err := s.svc.Rooms(r.Context(), s.userID(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": rooms})
}

func (s *Server) handleOpenRoom(w http.ResponseWriter, r *http.Request) {
	var body struct {
		MemberIDs []string `json:"memberIds"`
		Name      string   `json:"name"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	room, err := s.svc.OpenRoom(r.Context(), chatbus.OpenRoom{UserID: s.userID(r), FriendIDs: body.MemberIDs, Name: body.Name})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"room": room})
}

// roomID reads the {roomId} of the path.
func roomID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("roomId"), 10, 64)
	if err != nil || id <= 0 {
		return 0, chatbus.Errorf(chatbus.CodeInvalid, "the room id must be a positive whole number")
	}
	return id, nil
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	room, err := roomID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var f chatbus.MessageFilter
	q := r.URL.Query()
	for name, dst := range map[string]*int64{"before": &f.Before, "after": &f.After} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				s.writeError(w, r, chatbus.Errorf(chatbus.CodeInvalid, "%s must be a seq (a whole number ≥ 0)", name))
				return
			}
			*dst = n
		}
	}
	f.Forward = q.Has("after")
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.writeError(w, r, chatbus.Errorf(chatbus.CodeInvalid, "limit must be a whole number ≥ 1"))
			return
		}
		f.Limit = n
	}
	msgs, err := s.svc.Messages(r.Context(), s.userID(r), room, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs})
}

func (s *Server) handlePost(w http.ResponseWriter, r *http.Request) {
	room, err := roomID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body struct {
		Message     string `json:"message"`
		ClientMsgID string `json:"clientMsgId"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.svc.PostMessage(r.Context(), chatbus.PostMessage{RoomID: room, WriterID: s.userID(r),
		Message: body.Message, ClientMsgID: body.ClientMsgID})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"message": m})
}

func (s *Server) handleRead(w http.ResponseWriter, r *http.Request) {
	room, err := roomID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body struct {
		Seq *int64 `json:"seq"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.Seq == nil {
		s.writeError(w, r, chatbus.Errorf(chatbus.CodeInvalid, "seq is required"))
		return
	}
	st, err := s.svc.MarkRead(r.Context(), s.userID(r), room, *body.Seq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The read itself, as the "read" event carries it: one shape for both.
	writeJSON(w, http.StatusOK, st)
}

// errorJSON is an error as the API shows it.
func errorJSON(err error) map[string]string {
	return map[string]string{"code": string(chatbus.ErrorCode(err)), "message": chatbus.ErrorMessage(err)}
}
