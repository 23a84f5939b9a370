package kafkabus_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/chatbus/chatbus"
)

// groupingService counts the groups the backend serves, and fails chosen
// posts once for an internal reason.
type groupingService struct {
	chatbus.Service
	mu       sync.Mutex
	groups   int
	failOnce map[string]bool // texts whose first post fails
}

func (g *groupingService) Batch(ctx context.Context, fn func(context.Context) error) error {
	g.mu.Lock()
	g.groups++
	g.mu.Unlock()
	return g.Service.(interface {
		Batch(context.Context, func(context.Context) error) error
	}).Batch(ctx, fn)
}

func (g *groupingService) PostMessage(ctx context.Context, req chatbus.PostMessage) (chatbus.Message, error) {
	g.mu.Lock()
	fail := g.failOnce[req.Message]
	delete(g.failOnce, req.Message)
	g.mu.Unlock()
	if fail {
		return chatbus.Message{}, errors.New("disk I/O error")
	}
	return g.Service.PostMessage(ctx, req)
}

// TestChatsServedInGroups: concurrent chats are saved in groups, one
// transaction each; a group in which one post fails for an internal reason
// is undone and served again one by one, and every chat is saved once.
func TestChatsServedInGroups(t *testing.T) {
	g := &groupingService{failOnce: map[string]bool{"w3-10": true, "w5-20": true}}
	s := startSystem(t, func(s *system) {
		s.wrap = func(svc chatbus.Service) chatbus.Service { g.Service = svc; return g }
	})
	room := s.openChat(t)
	const writers, each = 8, 40
	if errs := postConcurrently(s.client, room, writers, each, true)(); len(errs) > 0 {
		t.Fatalf("%d posts failed, e.g. %v", len(errs), errs[0])
	}
	wantEachOnce(t, s.client, room, writers*each)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.groups == 0 || g.groups >= writers*each {
		t.Fatalf("%d groups for %d chats: not grouped", g.groups, writers*each)
	}
	if len(g.failOnce) != 0 {
		t.Fatalf("posts never tried: %v", g.failOnce)
	}
	t.Logf("%d chats in %d groups", writers*each, g.groups)
}
