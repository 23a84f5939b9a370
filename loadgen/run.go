package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// bench is one run's state, shared by its senders and stream readers.
type bench struct {
	cfg         Config
	run         string // this run's id, in user ids and clientMsgIds
	epoch       time.Time
	measureFrom time.Duration // the end of the warm-up, since epoch
	rooms       []*room

	ledger  ledger
	latency histogram
	next    atomic.Uint64 // the next message's number

	sent, accepted, unsent atomic.Int64 // measured messages
	acceptedAll            atomic.Int64 // warm-up included, for the progress line
	deliveries             atomic.Int64 // measured messages' first arrivals
	delivered              atomic.Int64 // first arrivals, warm-up included
	duplicated             atomic.Int64
	streamsEnded           atomic.Int64 // streams the server closed mid-run
	closing                atomic.Bool

	mu       sync.Mutex
	failures map[string]int64 // measured failed posts by kind
}

func (b *bench) since() time.Duration { return time.Since(b.epoch) }

// Run signs up the users, opens the rooms and every user's event stream
// (and the idle ones), posts messages for the warm-up and the duration,
// waits up to the grace period for the last deliveries, and reports. On a
// setup error it returns no report; when ctx ends mid-run, the report so
// far and ctx's error.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return Report{}, err
	}
	urls, err := checkTargets(ctx, cfg.Targets, cfg.AllowRemote)
	if err != nil {
		return Report{}, err
	}
	b := &bench{cfg: cfg, run: runID(), epoch: time.Now(), failures: map[string]int64{}}
	rep := Report{Users: cfg.Users, Rooms: cfg.Rooms, Members: cfg.Members, Idle: cfg.Idle, Senders: cfg.Senders,
		Rate: cfg.Rate, DurationSec: cfg.Duration.Seconds(), WarmupSec: cfg.Warmup.Seconds(), Targets: len(urls)}
	rep.RSS.Start = rssKiB(cfg.PID)

	hc := &http.Client{Transport: newTransport(cfg.Senders + cfg.Setup)}
	var apis []*api
	for _, u := range urls {
		apis = append(apis, &api{base: u, hc: hc})
	}
	b.progress("setting up %d users, %d rooms of %d, on %d target(s)", cfg.Users, cfg.Rooms, cfg.Members, len(apis))
	users, err := signUpAll(ctx, apis, b.run, cfg.Users, cfg.Setup, cfg.Password)
	if err != nil {
		return Report{}, err
	}
	b.progress("%d users signed up and logged in in %.1fs", len(users), b.since().Seconds())
	if b.rooms, err = openRooms(ctx, users, cfg.Rooms, cfg.Members, cfg.Setup); err != nil {
		return Report{}, err
	}

	var streams []*stream
	var readers sync.WaitGroup
	defer func() {
		b.closing.Store(true)
		for _, s := range streams {
			s.Close()
		}
		readers.Wait()
	}()
	open := func(n int, read func(*stream)) error {
		var mu sync.Mutex
		return forEach(ctx, n, cfg.Setup, func(ctx context.Context, i int) error {
			s, err := openStream(context.WithoutCancel(ctx), users[i%len(users)])
			if err != nil {
				return fmt.Errorf("open an event stream: %w", err)
			}
			mu.Lock()
			streams = append(streams, s)
			mu.Unlock()
			readers.Go(func() { read(s) })
			return nil
		})
	}
	if err := open(len(users), b.receive); err != nil {
		return Report{}, err
	}
	rep.Streams = len(users)
	rep.RSS.BeforeIdle = rssKiB(cfg.PID)
	if cfg.Idle > 0 {
		b.progress("opening %d idle event streams", cfg.Idle)
		if err := open(cfg.Idle, idle); err != nil {
			return Report{}, err
		}
		time.Sleep(time.Second) // let the server settle before reading its memory
		rep.RSS.AfterIdle = rssKiB(cfg.PID)
		if rep.RSS.BeforeIdle > 0 && rep.RSS.AfterIdle > 0 {
			rep.RSSPerIdleKiB = float64(rep.RSS.AfterIdle-rep.RSS.BeforeIdle) / float64(cfg.Idle)
		}
	}
	rep.SetupSec = b.since().Seconds()
	b.progress("setup done in %.1fs: %d streams open", rep.SetupSec, len(streams))

	err = b.load(ctx, &rep)
	rep.RSS.End = rssKiB(cfg.PID)
	b.fill(&rep)
	return rep, err
}

// load sends for the warm-up and the duration (or, without rooms, keeps
// the streams open as long), then waits for the deliveries owed.
func (b *bench) load(ctx context.Context, rep *Report) error {
	start := b.since()
	if len(b.rooms) == 0 {
		b.cfg.Warmup, rep.WarmupSec, rep.Rate, rep.Senders, rep.Members = 0, 0, 0, 0, 0 // nothing is sent
	}
	b.measureFrom = start + b.cfg.Warmup
	end := b.measureFrom + b.cfg.Duration
	stopProgress := b.report(ctx, start)
	defer stopProgress()
	switch {
	case len(b.rooms) == 0:
		rep.Mode = "idle"
		b.progress("holding the streams open for %v", b.cfg.Duration)
		select {
		case <-ctx.Done():
		case <-time.After(end - b.since()):
		}
		return ctx.Err()
	case b.cfg.Rate > 0:
		rep.Mode, rep.LatencyFrom = "rate", "scheduled"
		b.sendFixedRate(ctx, start, end)
	default:
		rep.Mode, rep.LatencyFrom = "flat-out", "sent"
		b.sendFlatOut(ctx, end)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The grace period: until every accepted message has reached every
	// member's stream, or the time is up.
	deadline := time.Now().Add(b.cfg.Grace)
	for b.lost() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	return ctx.Err()
}

// lost counts the deliveries accepted messages owe.
func (b *bench) lost() int64 {
	var n int64
	b.ledger.each(b.next.Load(), func(r *msgRecord) {
		if r.state.Load() == accepted {
			n += max(0, int64(r.members.Load()-r.delivered.Load()))
		}
	})
	return n
}

// idle holds a stream open, reading and dropping what it brings.
func idle(s *stream) { s.read(func(string, []byte) bool { return true }) }
