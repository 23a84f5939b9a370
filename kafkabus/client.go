package kafkabus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	Conn   Conn
	Topics Topics
	// Timeout bounds a call that has no deadline of its own (default 10 s).
	Timeout time.Duration
	// Metrics, when set, records round trips and timeouts.
	Metrics *ClientMetrics
}

// Client implements chatbus.Service by sending requests to the backend over
// Kafka and waiting for the replies. It reads every partition of the
// response topics itself, outside any consumer group, and keeps only the
// replies whose correlation id it sent: so each caller process gets its own
// replies, whatever other callers run beside it.
type Client struct {
	cl      *kgo.Client
	cfg     ClientConfig
	log     *slog.Logger
	mu      sync.Mutex
	pending map[string]chan []byte // by correlation id
	done    chan struct{}
}

var _ chatbus.Service = (*Client)(nil)

// NewClient connects to the cluster and starts reading replies.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	var responses []string
	for _, op := range Operations {
		responses = append(responses, cfg.Topics.Response(op))
	}
	// Replies are read from a little before this client started, not from
	// "the end": the end is only resolved after the first metadata load, and
	// a reply written before that would be missed. Older replies are skipped.
	start := time.Now().Add(-time.Minute)
	cl, err := kgo.NewClient(append(cfg.Conn.Opts(),
		kgo.ConsumeTopics(responses...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(start.UnixMilli())),
		// Idempotent (acks=all, as every chatbus producer): the client's
		// own retries after a lost connection write no copy, and up to 5
		// requests are in flight per broker instead of 1. An idempotent
		// producer by default refuses to give up on a record once sent, so
		// a call would hang while its partition has no leader; this lets
		// the call's deadline fail it (the caller answers 503). A request
		// given up and sent again may then be written twice — harmless:
		// it carries its own idempotency key (the correlation id).
		kgo.AllowIdempotentProduceCancellation(),
		kgo.RecordDeliveryTimeout(max(cfg.Timeout, time.Second)), // kgo's least
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	c := &Client{cl: cl, cfg: cfg, log: cfg.Conn.Logger, pending: map[string]chan []byte{}, done: make(chan struct{})}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	go c.readReplies()
	return c, nil
}

// Close stops the client; calls in flight fail.
func (c *Client) Close() {
	c.cl.Close()
	<-c.done
}

func (c *Client) readReplies() {
	defer close(c.done)
	for {
		fetches := c.cl.PollFetches(context.Background())
		if fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(topic string, p int32, err error) {
			c.log.Warn("fetch replies", "topic", topic, "partition", p, "err", err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			id := header(r, HeaderCorrelationID)
			c.mu.Lock()
			ch := c.pending[id]
			delete(c.pending, id)
			c.mu.Unlock()
			if ch != nil {
				ch <- r.Value // buffered: never blocks
			}
		})
	}
}

// call sends req to op's request topic keyed by key and decodes the reply
// into rep. A backend that does not answer in time gives CodeUnavailable.
func (c *Client) call(ctx context.Context, op Operation, key string, req any, rep interface{ Err() error }) error {
	value, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	start := time.Now()
	defer func() {
		c.cfg.Metrics.called(op.Name, time.Since(start), errors.Is(ctx.Err(), context.DeadlineExceeded))
	}()
	id := uuid.Must(uuid.NewV7()).String()
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	rec := &kgo.Record{Topic: c.cfg.Topics.Request(op), Key: []byte(key), Value: value,
		Headers: []kgo.RecordHeader{{Key: HeaderCorrelationID, Value: []byte(id)}}}
	if rid := chatbus.RequestID(ctx); rid != "" {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: HeaderRequestID, Value: []byte(rid)})
	}
	if err := c.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			// Not the backend's fault: the request never got into Kafka
			// (no leader for its partition, no broker reachable).
			return chatbus.Errorf(chatbus.CodeUnavailable, "Kafka did not take the %s request in time", op.Name)
		}
		return unavailable(op, err)
	}
	select {
	case b := <-ch:
		if err := json.Unmarshal(b, rep); err != nil {
			return fmt.Errorf("decode %s reply: %w", op.Response, err)
		}
		return rep.Err()
	case <-ctx.Done():
		return unavailable(op, ctx.Err())
	}
}

func unavailable(op Operation, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return chatbus.Errorf(chatbus.CodeUnavailable, "the backend did not answer the %s request in time", op.Name)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return chatbus.Errorf(chatbus.CodeUnavailable, "cannot send the %s request: %v", op.Name, err)
}

func (c *Client) SignUp(ctx context.Context, req chatbus.SignUp) (chatbus.User, error) {
	var rep UserReply
	err := c.call(ctx, OpSignUp, req.UserID, SignUpRequest{UserID: req.UserID, UserPw: req.Password, Email: req.Email, UserName: req.Name}, &rep)
	return deref(rep.User, err)
}

func (c *Client) LogIn(ctx context.Context, userID, password string) (chatbus.User, error) {
	var rep UserReply
	err := c.call(ctx, OpLogin, userID, LoginRequest{UserID: userID, UserPw: password}, &rep)
	return deref(rep.User, err)
}

func (c *Client) LogOut(ctx context.Context, userID string) (chatbus.User, error) {
	var rep UserReply
	err := c.call(ctx, OpLogout, userID, LogoutRequest{UserID: userID}, &rep)
	return deref(rep.User, err)
}

func (c *Client) SetStatus(ctx context.Context, userID, status string) (chatbus.User, error) {
	var rep UserReply
	err := c.call(ctx, OpStatus, userID, StatusRequest{UserID: userID, UserStatus: &status}, &rep)
	return deref(rep.User, err)
}

func (c *Client) AddFriends(ctx context.Context, userID string, friendIDs []string) ([]chatbus.Friend, error) {
	var rep FriendsReply
	err := c.call(ctx, OpAddFriends, userID, AddFriendRequest{UserID: userID, FriendID: friendIDs}, &rep)
	return rep.Friends, err
}

func (c *Client) Friends(ctx context.Context, userID string) ([]chatbus.Friend, error) {
	var rep FriendsReply
	err := c.call(ctx, OpFriends, userID, UserRequest{UserID: userID}, &rep)
	return rep.Friends, err
}

func (c *Client) OpenRoom(ctx context.Context, req chatbus.OpenRoom) (chatbus.Room, error) {
	var rep RoomReply
	err := c.call(ctx, OpOpenRoom, req.UserID, OpenRoomRequest{UserID: req.UserID, FriendID: req.FriendIDs, RoomName: req.Name}, &rep)
	return deref(rep.Room, err)
}

func (c *Client) Rooms(ctx context.Context, userID string) ([]chatbus.Room, error) {
	var rep RoomsReply
	err := c.call(ctx, OpRooms, userID, UserRequest{UserID: userID}, &rep)
	return rep.Rooms, err
}

func (c *Client) PostMessage(ctx context.Context, req chatbus.PostMessage) (chatbus.Message, error) {
	var rep ChatReply
	// Keyed by room: a room's messages go to one partition, so one backend
	// writes a room at a time (no contention on its row) and groups them.
	err := c.call(ctx, OpAddChat, strconv.FormatInt(req.RoomID, 10), AddChatRequest{RoomID: req.RoomID, WriterID: req.WriterID,
		Message: req.Message, ClientMsgID: req.ClientMsgID}, &rep)
	return deref(rep.Chat, err)
}

func (c *Client) Messages(ctx context.Context, userID string, roomID int64, f chatbus.MessageFilter) ([]chatbus.Message, error) {
	var rep ChatsReply
	req := SearchChatRequest{UserID: userID, RoomID: roomID, Before: f.Before, Limit: f.Limit}
	if f.Forward {
		req.After = &f.After
	}
	err := c.call(ctx, OpSearchChats, userID, req, &rep)
	return rep.Chats, err
}

func (c *Client) MarkRead(ctx context.Context, userID string, roomID, seq int64) (chatbus.ReadState, error) {
	var rep ReadReply
	err := c.call(ctx, OpReadChat, userID, ReadChatRequest{UserID: userID, RoomID: roomID, Seq: &seq}, &rep)
	return deref(rep.Read, err)
}

// deref returns *p, or the zero value with err.
func deref[T any](p *T, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	if p == nil {
		return zero, errors.New("a successful reply without its payload")
	}
	return *p, nil
}
