package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/chatbus/chatbus/loadgen"
)

// benchCmd is `chatbus bench`: a load generator against a running system's
// public HTTP/SSE API (package loadgen does the work).
type benchCmd struct {
	Target      []string      `help:"Base URLs of the web gateways; users are spread over them." default:"http://127.0.0.1:8080" sep:","`
	AllowRemote bool          `help:"Allow targets that are not this machine (loopback only otherwise)."`
	Users       int           `help:"Users to sign up; each keeps one event stream open." default:"1000"`
	Rooms       int           `help:"Group rooms to open (0: send nothing, e.g. with --idle)." default:"100"`
	Members     int           `help:"Members of each room, writer included." default:"10"`
	Rate        float64       `help:"Messages per second, open loop (latency from each message's scheduled time); 0: flat out." default:"2000"`
	Senders     int           `help:"Posts in flight at most (flat out: each posts in a loop)." default:"64"`
	Duration    time.Duration `help:"How long the measured sending lasts." default:"20s"`
	Warmup      time.Duration `help:"Sending before the measurement starts (not counted in rates and latency)." default:"2s"`
	Grace       time.Duration `help:"How long to wait for the last deliveries after sending stops." default:"5s"`
	Setup       int           `help:"Sign-ups, logins and other setup calls in flight at most." default:"32"`
	Idle        int           `help:"Extra event streams (of the same users) that only stay open, to measure a connection's cost."`
	PID         int           `help:"Process id of the server (on this machine), whose memory (VmRSS) is reported." name:"pid"`
	JSON        bool          `help:"Print only the JSON line of the report, not the table." name:"json"`
}

func (c *benchCmd) Run(ctx context.Context) error {
	rep, err := loadgen.Run(ctx, loadgen.Config{Targets: c.Target, AllowRemote: c.AllowRemote,
		Users: c.Users, Rooms: c.Rooms, Members: c.Members, Rate: c.Rate, Senders: c.Senders,
		Duration: c.Duration, Warmup: c.Warmup, Grace: c.Grace, Setup: c.Setup,
		Idle: c.Idle, PID: c.PID, Progress: os.Stderr})
	if rep.Users == 0 { // setup failed: nothing was measured
		return err
	}
	if !c.JSON {
		rep.WriteTable(os.Stdout)
	}
	rep.WriteJSON(os.Stdout)
	if err != nil {
		return fmt.Errorf("stopped early: %w", err)
	}
	return nil
}
