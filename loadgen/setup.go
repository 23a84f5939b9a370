package loadgen

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/chatbus/chatbus"
)

// user is one signed-up, logged-in bench user.
type user struct {
	id      string
	api     *api   // the gateway that holds its session
	session string // its session cookie, as name=value
}

// room is an opened group room.
type room struct {
	id      int64
	members []*user // the opener first
}

// runID makes this run's user ids unique, so runs against the same
// database do not collide.
func runID() string { return strings.ToLower(rand.Text()[:8]) }

// signUpAll signs up and logs in n users, spread over the gateways.
func signUpAll(ctx context.Context, apis []*api, run string, n, limit int, password string) ([]*user, error) {
	users := make([]*user, n)
	err := forEach(ctx, n, limit, func(ctx context.Context, i int) error {
		u := &user{id: fmt.Sprintf("b%s-%d", run, i), api: apis[i%len(apis)]}
		if _, err := u.api.call(ctx, "", "POST", "/api/signup", map[string]string{"userId": u.id, "userPw": password,
			"email": u.id + "@bench.example.com", "userName": u.id}, nil, 201); err != nil {
			return fmt.Errorf("sign-up: %w", err)
		}
		s, err := u.api.call(ctx, "", "POST", "/api/login", map[string]string{"userId": u.id, "userPw": password}, nil, 200)
		if err != nil {
			return fmt.Errorf("login: %w", err)
		}
		if s == "" {
			return fmt.Errorf("login of %s set no %s cookie", u.id, sessionCookie)
		}
		u.session = s
		users[i] = u
		return nil
	})
	return users, err
}

// openRooms opens count rooms of members users each, taking the users in
// turn (a user is in several rooms when there are fewer users than seats).
// A room's opener first befriends its other members: rooms are opened with
// friends only.
func openRooms(ctx context.Context, users []*user, count, members, limit int) ([]*room, error) {
	rooms := make([]*room, count)
	friends := map[*user][]string{}
	seen := map[[2]*user]bool{}
	var openers []*user
	for r := range rooms {
		rm := &room{}
		for j := range members {
			rm.members = append(rm.members, users[(r*members+j)%len(users)])
		}
		o := rm.members[0]
		if _, ok := friends[o]; !ok {
			openers = append(openers, o)
			friends[o] = nil
		}
		for _, m := range rm.members[1:] {
			if !seen[[2]*user{o, m}] {
				seen[[2]*user{o, m}] = true
				friends[o] = append(friends[o], m.id)
			}
		}
		rooms[r] = rm
	}
	err := forEach(ctx, len(openers), limit, func(ctx context.Context, i int) error {
		o := openers[i]
		for ids := range chunks(friends[o], chatbus.MaxFriendsPerCall) { // the most a call takes
			if _, err := o.api.call(ctx, o.session, "POST", "/api/friends", map[string]any{"friendIds": ids}, nil, 200); err != nil {
				return fmt.Errorf("befriend: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = forEach(ctx, count, limit, func(ctx context.Context, r int) error {
		rm := rooms[r]
		var ids []string
		for _, m := range rm.members[1:] {
			ids = append(ids, m.id)
		}
		var out struct {
			Room struct {
				RoomID int64 `json:"roomId"`
			} `json:"room"`
		}
		// A name makes a room of two a group, not the pair's direct room.
		o := rm.members[0]
		if _, err := o.api.call(ctx, o.session, "POST", "/api/rooms",
			map[string]any{"memberIds": ids, "name": fmt.Sprintf("bench %d", r)}, &out, 201); err != nil {
			return fmt.Errorf("open a room: %w", err)
		}
		rm.id = out.Room.RoomID
		return nil
	})
	return rooms, err
}

func chunks(s []string, n int) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// forEach runs f(0..n-1), at most limit at once; the first error stops
// the others (through ctx) and is returned.
func forEach(ctx context.Context, n, limit int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(limit, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && err != context.Canceled {
		return err
	}
	return ctx.Err()
}
