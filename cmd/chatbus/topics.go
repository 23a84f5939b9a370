package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chatbus/chatbus/kafkabus"
)

// topicsCmd is `chatbus topics`: look at and fix chatbus's topics on a
// cluster, and see how far the backends are behind.
type topicsCmd struct {
	List   topicsListCmd   `cmd:"" default:"withargs" help:"List chatbus's topics: partitions, replicas, retention, and whether each is as chatbus wants (the default)."`
	Create topicsCreateCmd `cmd:"" help:"Create the missing topics and raise partition counts that are too low, as a backend does at start."`
	Check  topicsCheckCmd  `cmd:"" help:"Exit with status 1 when a topic is missing or has fewer partitions or replicas than chatbus wants."`
	Lag    topicsLagCmd    `cmd:"" help:"Show each consumer group's committed offset, end offset and lag per partition."`
}

// adminFlags are the flags of every topics command.
type adminFlags struct {
	kafkaFlags
	JSON    bool          `help:"Print JSON instead of a table." name:"json"`
	Timeout time.Duration `help:"Time limit for the whole command." default:"30s" name:"admin-timeout"`
}

type (
	topicsListCmd   struct{ adminFlags }
	topicsCreateCmd struct{ adminFlags }
	topicsCheckCmd  struct{ adminFlags }
	topicsLagCmd    struct {
		adminFlags
		Group []string `help:"Consumer groups to show (the backends' by default)." default:"chatbus-backend" sep:","`
	}
)

// do runs fn with an admin client of the cluster, within --admin-timeout.
func (f adminFlags) do(ctx context.Context, log *slog.Logger, fn func(context.Context, *kadm.Client, kafkabus.Conn) error) error {
	if len(f.Brokers) == 0 {
		f.Brokers = []string{"127.0.0.1:9092"}
	}
	conn, err := f.conn(log) // warns of --kafka-tls-insecure
	if err != nil {
		return err
	}
	conn.Logger = nil // a failure is the command's error, said once
	cl, err := kgo.NewClient(conn.Opts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	return fn(ctx, kadm.NewClient(cl), conn)
}

// describe returns the state of chatbus's topics, compared with what the
// flags want (with 0 replicas: three, or fewer on a smaller cluster).
func (f adminFlags) describe(ctx context.Context, adm *kadm.Client, conn kafkabus.Conn) ([]kafkabus.TopicState, error) {
	topics, err := f.topics(false)
	if err != nil {
		return nil, err
	}
	topics, err = kafkabus.ResolveReplication(ctx, adm, topics)
	if err != nil {
		return nil, f.explainKafka(clusterErr(conn, err))
	}
	states, err := kafkabus.DescribeTopics(ctx, adm, topics.Specs())
	return states, f.explainKafka(clusterErr(conn, err))
}

func (c *topicsListCmd) Run(ctx context.Context, log *slog.Logger) error {
	return c.do(ctx, log, func(ctx context.Context, adm *kadm.Client, conn kafkabus.Conn) error {
		states, err := c.describe(ctx, adm, conn)
		if err != nil {
			return err
		}
		return c.print(os.Stdout, states)
	})
}

func (c *topicsCreateCmd) Run(ctx context.Context, log *slog.Logger) error {
	return c.do(ctx, log, func(ctx context.Context, adm *kadm.Client, conn kafkabus.Conn) error {
		topics, err := c.topics(false)
		if err != nil {
			return err
		}
		if err := ensureTopics(ctx, conn, topics); err != nil {
			return c.explainKafka(err)
		}
		states, err := c.describe(ctx, adm, conn)
		if err != nil {
			return err
		}
		if err := c.print(os.Stdout, states); err != nil {
			return err
		}
		return problems(states) // what create cannot fix: replicas
	})
}

func (c *topicsCheckCmd) Run(ctx context.Context, log *slog.Logger) error {
	return c.do(ctx, log, func(ctx context.Context, adm *kadm.Client, conn kafkabus.Conn) error {
		states, err := c.describe(ctx, adm, conn)
		if err != nil {
			return err
		}
		if err := c.print(os.Stdout, states); err != nil {
			return err
		}
		return problems(states)
	})
}

// problems reports the topics unfit for chatbus, or returns nil.
func problems(states []kafkabus.TopicState) error {
	var lines []string
	missing, replicas, insync := false, false, false
	for _, st := range states {
		if !st.OK() {
			lines = append(lines, fmt.Sprintf("  %s: %s", st.Name, strings.Join(st.Problems, "; ")))
			missing = missing || !st.Exists || st.Partitions < st.WantPartitions
			replicas = replicas || (st.Exists && st.Replicas < st.WantReplicas)
			insync = insync || slices.ContainsFunc(st.Problems, func(p string) bool { return strings.HasPrefix(p, "min.insync.replicas") })
		}
	}
	if len(lines) == 0 {
		return nil
	}
	var fix []string
	if missing {
		fix = append(fix, "`chatbus topics create` (or starting a backend) creates missing topics and adds partitions")
	}
	if replicas {
		fix = append(fix, "chatbus never changes a topic's replication factor: raise it with a partition reassignment (kafka-reassign-partitions.sh)")
	}
	if insync {
		fix = append(fix, "nor its settings: set min.insync.replicas with kafka-configs.sh --alter --entity-type topics --entity-name TOPIC --add-config min.insync.replicas=2")
	}
	return fmt.Errorf("%d of %d topics are not as chatbus wants:\n%s\n%s", len(lines), len(states),
		strings.Join(lines, "\n"), strings.Join(fix, ";\n"))
}

// print writes the topics as a table, or JSON.
func (f adminFlags) print(w io.Writer, states []kafkabus.TopicState) error {
	if f.JSON {
		return writeJSON(w, states)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICAS\tRETENTION\tSEGMENT\tSTATUS")
	for _, st := range states {
		parts, rf := want("-", strconv.Itoa(int(st.WantPartitions))), want("-", strconv.Itoa(int(st.WantReplicas)))
		retention, segment := want("-", ms(st.WantConfigs["retention.ms"])), want("-", ms(st.WantConfigs["segment.ms"]))
		if st.Exists {
			parts = want(strconv.Itoa(int(st.Partitions)), strconv.Itoa(int(st.WantPartitions)))
			rf = want(strconv.Itoa(int(st.Replicas)), strconv.Itoa(int(st.WantReplicas)))
			retention = want(ms(st.Configs["retention.ms"]), ms(st.WantConfigs["retention.ms"]))
			segment = want(ms(st.Configs["segment.ms"]), ms(st.WantConfigs["segment.ms"]))
		}
		status := "ok"
		switch {
		case !st.Exists:
			status = "MISSING"
		case !st.OK():
			status = "WRONG: " + strings.Join(st.Problems, "; ")
		case len(st.Notes) > 0:
			status = "ok (differs)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.Name, parts, rf, retention, segment, status)
	}
	return tw.Flush()
}

// want shows have, and what chatbus wants when that differs.
func want(have, want string) string {
	if have == want || want == "" {
		return have
	}
	return have + " (want " + want + ")"
}

// ms shows a count of milliseconds as a duration: 604800000 is 168h.
func ms(v string) string {
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case v == "":
		return "default"
	case err != nil || n < 0:
		return v // -1: forever
	}
	s := (time.Duration(n) * time.Millisecond).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (c *topicsLagCmd) Run(ctx context.Context, log *slog.Logger) error {
	var lags []kafkabus.GroupLag
	err := c.do(ctx, log, func(ctx context.Context, adm *kadm.Client, conn kafkabus.Conn) (err error) {
		lags, err = kafkabus.GroupLags(ctx, adm, c.Group...)
		return c.explainKafka(clusterErr(conn, err))
	})
	if err != nil {
		return err
	}
	if c.JSON {
		return writeJSON(os.Stdout, lags)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tMEMBER")
	for _, g := range lags {
		for _, p := range g.Partitions {
			committed, end, lag := offset(p.Committed), offset(p.End), offset(p.Lag)
			member := p.Member
			if member == "" {
				member = "-"
			}
			if p.Err != "" {
				member += " (" + p.Err + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", g.Group, p.Topic, p.Partition, committed, end, lag, member)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Println()
	for _, g := range lags {
		switch {
		case g.Err != "":
			fmt.Printf("group %s: %s\n", g.Group, g.Err)
		case g.State == "Dead" && len(g.Partitions) == 0:
			fmt.Printf("group %s: no such group (no members, no committed offsets)\n", g.Group)
		default:
			fmt.Printf("group %s: %s, %d members, lag %d\n", g.Group, g.State, g.Members, g.Lag)
		}
	}
	return nil
}

// offset shows an offset or lag; -1 (none, or unknown) as "-".
func offset(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
