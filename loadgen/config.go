// Package loadgen is a load generator for a running chatbus: it drives the
// public HTTP/SSE API as browsers do — signs users up, logs them in, opens
// group rooms, keeps every member's event stream open, posts messages — and
// measures what arrives: send rates, delivery rates, send→receive latency,
// lost and duplicated deliveries.
package loadgen

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Config is one run.
type Config struct {
	// Targets are the base URLs of the web gateways (http://127.0.0.1:8080);
	// users are spread over them, each staying on one (its session lives there).
	Targets []string
	// AllowRemote lets targets resolve to non-loopback addresses.
	AllowRemote bool

	Users   int // users signed up; each keeps one event stream open
	Rooms   int // group rooms opened (0: no messages, e.g. with Idle)
	Members int // members of each room, writer included (2..100, at most Users)

	// Rate is the messages per second to post, open loop (0: flat out, each
	// of Senders posting in a loop).
	Rate     float64
	Senders  int           // concurrent posts in flight at most
	Duration time.Duration // how long the measured sending lasts
	Warmup   time.Duration // sending before the measurement, not counted in rates and latency
	Grace    time.Duration // how long to wait for deliveries after the last send
	// Setup bounds the sign-ups, logins and other setup calls in flight.
	Setup int

	// Idle opens so many more event streams (of the same users) that only
	// stay open, to measure what a connection costs the server.
	Idle int
	// PID is the server process whose resident memory is reported (0: none;
	// it must run on this machine).
	PID int

	// Password of every bench user.
	Password string
	// Progress receives a line a second while the run lasts (nil: none).
	Progress io.Writer
}

func (c *Config) defaults() {
	if c.Senders <= 0 {
		c.Senders = 64
	}
	if c.Setup <= 0 {
		c.Setup = 32
	}
	if c.Grace <= 0 {
		c.Grace = 5 * time.Second
	}
	if c.Password == "" {
		c.Password = "bench-password"
	}
}

func (c *Config) validate() error {
	var errs []error
	if len(c.Targets) == 0 {
		errs = append(errs, errors.New("no target"))
	}
	if c.Users < 1 {
		errs = append(errs, errors.New("users must be at least 1"))
	}
	if c.Rooms < 0 || c.Idle < 0 || c.Rate < 0 || c.Duration < 0 || c.Warmup < 0 {
		errs = append(errs, errors.New("rooms, idle, rate, duration and warmup cannot be negative"))
	}
	if c.Rooms > 0 && (c.Members < 2 || c.Members > 100 || c.Members > c.Users) {
		errs = append(errs, fmt.Errorf("members must be 2..100 and at most users (%d), not %d", c.Users, c.Members))
	}
	if c.Rooms > 0 && c.Duration == 0 {
		errs = append(errs, errors.New("duration must be positive"))
	}
	return errors.Join(errs...)
}
