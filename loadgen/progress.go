package loadgen

import (
	"context"
	"fmt"
	"time"
)

// progress writes one line to cfg.Progress, if any.
func (b *bench) progress(format string, a ...any) {
	if b.cfg.Progress != nil {
		fmt.Fprintf(b.cfg.Progress, "bench: "+format+"\n", a...)
	}
}

// report writes a progress line every second from start until stopped:
// what was posted, the rates of the last second (warm-up included), the
// latency so far (measured messages only).
func (b *bench) report(ctx context.Context, start time.Duration) (stop func()) {
	if b.cfg.Progress == nil || len(b.rooms) == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastAcc, lastDel int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now := b.since()
			phase := "measuring"
			if now < b.measureFrom {
				phase = "warming up"
			} else if now >= b.measureFrom+b.cfg.Duration {
				phase = "waiting for deliveries"
			}
			acc, del := b.acceptedAll.Load(), b.delivered.Load()
			b.progress("%5.0fs %s: posted %d, accepted %d/s, delivered %d/s, p99 %.2f ms, streams ended %d",
				(now - start).Seconds(), phase, b.next.Load(), acc-lastAcc, del-lastDel,
				ms(b.latency.quantile(0.99)), b.streamsEnded.Load())
			lastAcc, lastDel = acc, del
		}
	}()
	return func() { cancel(); <-done }
}
