package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ResolveReplication returns t with its replication factor decided: when
// it is 0, three replicas, or as many as the cluster has brokers if fewer.
func ResolveReplication(ctx context.Context, adm *kadm.Client, t Topics) (Topics, error) {
	if t.Replication != 0 {
		return t, nil
	}
	brokers, err := adm.ListBrokers(ctx)
	if err != nil {
		return t, err
	}
	t.Replication = int16(min(3, max(1, len(brokers))))
	return t, nil
}

// TopicConfigKeys are the settings of a topic that chatbus sets, and shows.
var TopicConfigKeys = []string{"retention.ms", "segment.ms", "min.insync.replicas"}

// TopicState is a topic as the cluster has it, next to what chatbus wants.
type TopicState struct {
	Want       TopicSpec `json:"-"`
	Name       string    `json:"name"`
	Exists     bool      `json:"exists"`
	Partitions int32     `json:"partitions"`
	// Replicas is the fewest replicas any of its partitions has.
	Replicas int16 `json:"replicas"`
	// Configs holds the values of TopicConfigKeys the cluster has ("" when
	// it says none).
	Configs map[string]string `json:"configs,omitempty"`
	// WantPartitions, WantReplicas and WantConfigs are what chatbus creates.
	WantPartitions int32             `json:"wantPartitions"`
	WantReplicas   int16             `json:"wantReplicas"`
	WantConfigs    map[string]string `json:"wantConfigs"`
	// Problems make the topic unfit: missing, or fewer partitions or
	// replicas than wanted. Notes are differences chatbus lives with: more
	// partitions, other retention (an operator's choice; chatbus never
	// changes the settings of an existing topic).
	Problems []string `json:"problems,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

// OK tells whether the topic is fit for chatbus.
func (s TopicState) OK() bool { return len(s.Problems) == 0 }

// DescribeTopics compares the topics on the cluster with specs, in the
// order of specs.
func DescribeTopics(ctx context.Context, adm *kadm.Client, specs []TopicSpec) ([]TopicState, error) {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var existing []string
	out := make([]TopicState, len(specs))
	for i, spec := range specs {
		st := TopicState{Want: spec, Name: spec.Name, WantPartitions: spec.Partitions, WantReplicas: spec.Replicas,
			WantConfigs: map[string]string{}}
		for k, v := range spec.Configs {
			if v != nil {
				st.WantConfigs[k] = *v
			}
		}
		td, ok := details[spec.Name]
		switch {
		case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
			st.Problems = append(st.Problems, "missing")
		case td.Err != nil:
			st.Problems = append(st.Problems, td.Err.Error())
		default:
			st.Exists = true
			existing = append(existing, spec.Name)
			st.Partitions = int32(len(td.Partitions))
			st.Replicas = -1
			for _, p := range td.Partitions {
				if st.Replicas < 0 || int16(len(p.Replicas)) < st.Replicas {
					st.Replicas = int16(len(p.Replicas))
				}
			}
			st.Replicas = max(st.Replicas, 0)
			if st.Partitions < spec.Partitions {
				st.Problems = append(st.Problems, fmt.Sprintf("%d partitions, fewer than %d", st.Partitions, spec.Partitions))
			} else if st.Partitions > spec.Partitions {
				st.Notes = append(st.Notes, fmt.Sprintf("%d partitions, more than %d", st.Partitions, spec.Partitions))
			}
			if st.Replicas < spec.Replicas {
				st.Problems = append(st.Problems, fmt.Sprintf("replication factor %d, lower than %d", st.Replicas, spec.Replicas))
			}
		}
		out[i] = st
	}
	if len(existing) == 0 {
		return out, nil
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, existing...)
	if err != nil {
		return nil, fmt.Errorf("describe topic configs: %w", err)
	}
	byName := map[string]kadm.ResourceConfig{}
	for _, rc := range cfgs {
		byName[rc.Name] = rc
	}
	for i := range out {
		st := &out[i]
		if !st.Exists {
			continue
		}
		rc := byName[st.Name]
		if rc.Err != nil {
			st.Notes = append(st.Notes, "configs: "+rc.Err.Error())
			continue
		}
		st.Configs = map[string]string{}
		for _, key := range TopicConfigKeys {
			st.Configs[key] = ""
		}
		for _, c := range rc.Configs {
			if _, ok := st.Configs[c.Key]; ok {
				st.Configs[c.Key] = c.MaybeValue()
			}
		}
		st.Problems = append(st.Problems, insyncProblems(st)...)
		for _, key := range TopicConfigKeys {
			if key == "min.insync.replicas" {
				continue // a problem or not, above
			}
			if want, ok := st.WantConfigs[key]; ok && st.Configs[key] != want {
				have := st.Configs[key]
				if have == "" {
					have = "unset"
				}
				st.Notes = append(st.Notes, fmt.Sprintf("%s %s, chatbus sets %s", key, have, want))
			}
		}
	}
	return out, nil
}

// sortPartitionLags sorts by topic, then partition.
func sortPartitionLags(ps []PartitionLag) {
	slices.SortStableFunc(ps, func(a, b PartitionLag) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
}

// consumerGroupLag is GroupLags for a group of KIP-848's consumer protocol:
// its members and assignments from ConsumerGroupDescribe, its commits and
// the partitions' ends as for a classic group. ok is false when the group
// is not one (or cannot be described as one).
func consumerGroupLag(ctx context.Context, adm *kadm.Client, group string) (GroupLag, bool) {
	ds, err := adm.DescribeConsumerGroups(ctx, group)
	d, found := ds[group]
	if err != nil || !found || d.Err != nil || d.State == "Dead" {
		return GroupLag{}, false
	}
	gl := GroupLag{Group: group, State: d.State, Members: len(d.Members)}
	held := map[string]map[int32]string{} // topic → partition → member
	for _, m := range d.Members {
		who := m.ClientID
		if m.InstanceID != nil && *m.InstanceID != "" {
			who = *m.InstanceID
		}
		if m.ClientHost != "" {
			who += "@" + strings.TrimPrefix(m.ClientHost, "/")
		}
		m.Assignment.Each(func(t string, p int32) {
			if held[t] == nil {
				held[t] = map[int32]string{}
			}
			held[t][p] = who
		})
	}
	commits, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		gl.Err = err.Error()
		return gl, true
	}
	topics := slices.Collect(maps.Keys(held))
	commits.Each(func(o kadm.OffsetResponse) {
		if held[o.Topic] == nil {
			topics = append(topics, o.Topic)
			held[o.Topic] = map[int32]string{}
		}
	})
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		gl.Err = err.Error()
		return gl, true
	}
	ends.Each(func(e kadm.ListedOffset) {
		pl := PartitionLag{Topic: e.Topic, Partition: e.Partition, Committed: -1, End: e.Offset, Lag: -1, Member: held[e.Topic][e.Partition]}
		if c, ok := commits.Lookup(e.Topic, e.Partition); ok && c.Err == nil {
			pl.Committed = c.At
		}
		if e.Err != nil {
			pl.End, pl.Err = -1, e.Err.Error()
		} else {
			pl.Lag = e.Offset - max(pl.Committed, 0)
			gl.Lag += pl.Lag
		}
		gl.Partitions = append(gl.Partitions, pl)
	})
	sortPartitionLags(gl.Partitions)
	return gl, true
}

// insyncProblems checks a topic's min.insync.replicas (as the cluster has
// it: its own or the brokers' default) against its replicas: higher than
// them and no write with acks=all can succeed (NOT_ENOUGH_REPLICAS); lower
// than chatbus wants and one lost broker may take acknowledged records
// with it.
func insyncProblems(st *TopicState) []string {
	have, err := strconv.Atoi(st.Configs["min.insync.replicas"])
	if err != nil {
		return nil // not said (kfake says nothing for some)
	}
	var out []string
	if have > int(st.Replicas) {
		out = append(out, fmt.Sprintf("min.insync.replicas %d, more than its %d replicas: every write fails", have, st.Replicas))
	} else if want := MinInSync(st.WantReplicas); have < want {
		out = append(out, fmt.Sprintf("min.insync.replicas %d, lower than %d: a write acknowledged by one broker can be lost with it", have, want))
	}
	return out
}

// GroupLag is how far a consumer group is behind, per partition.
type GroupLag struct {
	Group   string `json:"group"`
	State   string `json:"state"` // Stable, Empty, Dead (no such group), …
	Members int    `json:"members"`
	// Lag is the sum of the partitions' lags.
	Lag        int64          `json:"lag"`
	Partitions []PartitionLag `json:"partitions"`
	Err        string         `json:"error,omitempty"`
}

// PartitionLag is a group's position in one partition.
type PartitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the group's committed offset: the next record it will
	// read; -1 when it has committed none.
	Committed int64 `json:"committed"`
	// End is the partition's end offset: the offset the next record written gets.
	End int64 `json:"end"`
	// Lag is how many records the group has yet to read, -1 when unknown.
	Lag int64 `json:"lag"`
	// Member is who holds the partition now: instance id or client id, and host.
	Member string `json:"member,omitempty"`
	Err    string `json:"error,omitempty"`
}

// GroupLags returns the lag of each group, by topic and partition. A group
// that does not exist has the state Dead and no partitions.
func GroupLags(ctx context.Context, adm *kadm.Client, groups ...string) ([]GroupLag, error) {
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return nil, fmt.Errorf("consumer lag: %w", err)
	}
	var out []GroupLag
	for _, g := range groups {
		l, ok := lags[g]
		gl := GroupLag{Group: g, State: "Dead"}
		if !ok {
			out = append(out, gl)
			continue
		}
		gl.State, gl.Members = l.State, len(l.Members)
		if err := l.Error(); errors.Is(err, kerr.GroupIDNotFound) {
			// Kafka 4 answers a classic describe of a KIP-848 group
			// (--group-protocol consumer) so; kadm's Lag knows only
			// classic groups.
			if cg, ok := consumerGroupLag(ctx, adm, g); ok {
				out = append(out, cg)
				continue
			}
			gl.State = "Dead"
		} else if err != nil {
			gl.Err = err.Error()
		}
		for _, ml := range l.Lag.Sorted() {
			pl := PartitionLag{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At,
				End: ml.End.Offset, Lag: ml.Lag}
			if ml.End.Err != nil {
				pl.End = -1
			}
			if ml.Err != nil {
				pl.Err = ml.Err.Error()
			}
			if m := ml.Member; m != nil {
				pl.Member = m.ClientID
				if m.InstanceID != nil && *m.InstanceID != "" {
					pl.Member = *m.InstanceID
				}
				if m.ClientHost != "" {
					pl.Member += "@" + strings.TrimPrefix(m.ClientHost, "/")
				}
			}
			if pl.Lag > 0 {
				gl.Lag += pl.Lag
			}
			gl.Partitions = append(gl.Partitions, pl)
		}
		sortPartitionLags(gl.Partitions)
		out = append(out, gl)
	}
	return out, nil
}
