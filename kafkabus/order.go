package kafkabus

import (
	"strings"
	"sync"
)

// pending counts the sign-ups this backend holds (queued or in hand) per
// record key. Sign-up and login travel on different topics, which Kafka does
// not order with each other: a login produced right after its sign-up may be
// fetched first. A login waits, briefly, for the sign-ups of its key that
// this backend holds, so that "sign up, then log in" works as sent.
type pending struct {
	mu   sync.Mutex
	n    map[string]int
	done map[string]chan struct{}
}

func newPending() *pending {
	return &pending{n: map[string]int{}, done: map[string]chan struct{}{}}
}

// normalKey is a record key as a user id.
func normalKey(key []byte) string { return strings.ToLower(strings.TrimSpace(string(key))) }

func (p *pending) add(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[key] == 0 {
		p.done[key] = make(chan struct{})
	}
	p.n[key]++
}

func (p *pending) finish(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[key] == 0 {
		return
	}
	if p.n[key]--; p.n[key] == 0 {
		close(p.done[key])
		delete(p.done, key)
		delete(p.n, key)
	}
}

// wait returns a channel closed when no sign-up of key is pending (nil when
// none is now).
func (p *pending) wait(key string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done[key]
}
