package kafkabus

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Probe tells whether the cluster answers and has the topics a process
// needs: one metadata request, its answer kept for a short while so that
// frequent health checks cost the brokers nothing.
type Probe struct {
	cl     *kgo.Client
	adm    *kadm.Client
	topics []string
	keep   time.Duration

	mu   sync.Mutex
	at   time.Time
	last error
}

// NewProbe makes a probe for the named topics (all of chatbus's when none).
func NewProbe(conn Conn, topics Topics, names ...string) (*Probe, error) {
	if len(names) == 0 {
		for _, s := range topics.Specs() {
			names = append(names, s.Name)
		}
	}
	cl, err := kgo.NewClient(conn.Opts()...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &Probe{cl: cl, adm: kadm.NewClient(cl), topics: names, keep: 2 * time.Second}, nil
}

// Close releases the probe's client.
func (p *Probe) Close() { p.cl.Close() }

// Check returns nil when the cluster answered and every topic exists with
// partitions, else what is wrong. An answer younger than two seconds is
// given again.
func (p *Probe) Check(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && time.Since(p.at) < p.keep {
		return p.last
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	p.last, p.at = p.check(ctx), time.Now()
	return p.last
}

func (p *Probe) check(ctx context.Context) error {
	tds, err := p.adm.ListTopics(ctx, p.topics...)
	if err != nil {
		return fmt.Errorf("the brokers did not answer: %w", err)
	}
	var missing []string
	for _, name := range p.topics {
		if td, ok := tds[name]; !ok || td.Err != nil || len(td.Partitions) == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("topics missing: %s", strings.Join(missing, ", "))
	}
	return nil
}
