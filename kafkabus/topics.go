package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Operation is one request/reply pair of topics, as in the seed.
type Operation struct {
	Name       string // short name, used in logs and idempotency keys
	Request    string // request topic, without prefix
	Response   string // response topic, without prefix
	Partitions int32  // the seed's partition count
}

// The operations, in the seed's order, plus history and read receipts (not
// in the seed; the web gateway needs them).
var (
	OpLogin        = Operation{"login", "login-request", "login-response", 2}
	OpLogout       = Operation{"logout", "logout-request", "logout-response", 2}
	OpRooms        = Operation{"rooms", "user-search-room-request", "user-search-room-response", 2}
	OpFriends      = Operation{"friends", "user-search-friend-request", "user-search-friend-response", 2}
	OpSignUp       = Operation{"signup", "user-add-request", "user-add-response", 5}
	OpStatus       = Operation{"status", "user-status-change-request", "user-status-change-response", 2}
	OpOpenRoom     = Operation{"open-room", "user-add-room-request", "user-add-room-response", 2}
	OpAddChat      = Operation{"chat", "user-add-chat-request", "user-add-chat-response", 2}
	OpAddFriends   = Operation{"add-friends", "user-add-friend-request", "user-add-friend-response", 2}
	OpSearchChats  = Operation{"history", "user-search-chat-request", "user-search-chat-response", 2}
	OpReadChat     = Operation{"read", "user-read-chat-request", "user-read-chat-response", 2}
	Operations     = []Operation{OpLogin, OpLogout, OpRooms, OpFriends, OpSignUp, OpStatus, OpOpenRoom, OpAddChat, OpAddFriends, OpSearchChats, OpReadChat}
	DeadLetterName = "dead-letter"
	// UserEventsName is the topic of events for users (pushes), keyed by
	// the user they are for.
	UserEventsName = "user-events"
	// RoomEventsName is the topic of room events (messages), keyed by room,
	// so that each room has one order.
	RoomEventsName = "room-events"
)

// Topics names the topics under a prefix and sets how they are created.
type Topics struct {
	Prefix string
	// Replication is the replication factor of created topics (1 on the
	// embedded broker, 3 on a cluster).
	Replication int16
	// Partitions overrides the seed's partition count, by unprefixed name.
	Partitions map[string]int32
	// Retention is how long requests and replies are kept (retention.ms).
	Retention time.Duration
	// SecretRetention is how long the requests that carry a password
	// (login, sign-up) are kept: they are plain text in the log.
	SecretRetention time.Duration
}

// SegmentAge is the segment.ms of chatbus's topics: Kafka deletes whole
// segments, so a record may outlive its retention by up to this much.
const SegmentAge = 24 * time.Hour

// MaxRecordAge is how long a request may stay in its topic, and so how long
// it may be delivered again; idempotency records must be kept longer.
func (t Topics) MaxRecordAge() time.Duration { return t.retention() + SegmentAge }

func (t Topics) retention() time.Duration {
	if t.Retention <= 0 {
		return 7 * 24 * time.Hour
	}
	return t.Retention
}

// Name returns the full name of a topic.
func (t Topics) Name(base string) string { return t.Prefix + base }

// Request and Response return an operation's full topic names.
func (t Topics) Request(op Operation) string  { return t.Name(op.Request) }
func (t Topics) Response(op Operation) string { return t.Name(op.Response) }

// RoomEvents returns the room events topic's full name.
func (t Topics) RoomEvents() string { return t.Name(RoomEventsName) }

// UserEvents returns the user events topic's full name.
func (t Topics) UserEvents() string { return t.Name(UserEventsName) }

// DeadLetter returns the dead-letter topic's full name.
func (t Topics) DeadLetter() string { return t.Name(DeadLetterName) }

// TopicSpec is a topic as it should be.
type TopicSpec struct {
	Name       string
	Partitions int32
	Replicas   int16
	Configs    map[string]*string
}

// Specs lists every topic chatbus needs: requests, replies, dead letters.
func (t Topics) Specs() []TopicSpec {
	retention, secret := t.retention(), t.SecretRetention
	if secret <= 0 {
		secret = time.Hour
	}
	rf := t.Replication
	if rf < 1 {
		rf = 1
	}
	// Every topic sets its own retention: kfake only trims topics that do,
	// and on a cluster it keeps request logs from growing without bound.
	keep := func(d time.Duration) map[string]*string {
		ms := strconv.FormatInt(d.Milliseconds(), 10)
		seg := strconv.FormatInt(min(d, SegmentAge).Milliseconds(), 10)
		return map[string]*string{"retention.ms": &ms, "segment.ms": &seg}
	}
	var specs []TopicSpec
	add := func(base string, parts int32, cfg map[string]*string) {
		if n, ok := t.Partitions[base]; ok && n > 0 {
			parts = n
		}
		// With three replicas or more, a write (acks=all) waits for two
		// of them: one lost broker loses no acknowledged record, and
		// writes go on while one is down.
		if isr := MinInSync(rf); isr > 1 {
			v := strconv.Itoa(isr)
			cfg["min.insync.replicas"] = &v
		}
		specs = append(specs, TopicSpec{Name: t.Name(base), Partitions: parts, Replicas: rf, Configs: cfg})
	}
	for _, op := range Operations {
		if op == OpLogin || op == OpSignUp {
			add(op.Request, op.Partitions, keep(min(secret, retention)))
		} else {
			add(op.Request, op.Partitions, keep(retention))
		}
		add(op.Response, op.Partitions, keep(retention))
	}
	add(DeadLetterName, 1, keep(max(retention, 30*24*time.Hour)))
	// Pushes are news: a day is plenty.
	add(UserEventsName, 4, keep(min(retention, 24*time.Hour)))
	add(RoomEventsName, 4, keep(min(retention, 24*time.Hour)))
	return specs
}

// MinInSync is the min.insync.replicas chatbus sets on a topic of rf
// replicas: 2 from three replicas on (so one broker may be down), else 1
// (the broker's default, not set).
func MinInSync(rf int16) int {
	if rf >= 3 {
		return 2
	}
	return 1
}

// EnsureTopics creates the topics that are missing and raises the partition
// count of those that have fewer than specified. It leaves everything else
// of an existing topic as it is.
func EnsureTopics(ctx context.Context, adm *kadm.Client, specs []TopicSpec) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var errs []error
	for _, s := range specs {
		td, ok := existing[s.Name]
		switch {
		case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
			resp, err := adm.CreateTopic(ctx, s.Partitions, s.Replicas, s.Configs, s.Name)
			if err == nil {
				err = resp.Err
			}
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				errs = append(errs, fmt.Errorf("create topic %s: %w", s.Name, err))
			}
		case td.Err != nil:
			errs = append(errs, fmt.Errorf("topic %s: %w", s.Name, td.Err))
		case int32(len(td.Partitions)) < s.Partitions:
			resps, err := adm.UpdatePartitions(ctx, int(s.Partitions), s.Name)
			if err == nil {
				err = resps.Error()
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("raise partitions of %s to %d: %w", s.Name, s.Partitions, err))
			}
		}
	}
	return errors.Join(errs...)
}

// requestTopics returns the full names of the request topics, sorted.
func (t Topics) requestTopics() []string {
	var out []string
	for _, op := range Operations {
		out = append(out, t.Request(op))
	}
	sort.Strings(out)
	return out
}
