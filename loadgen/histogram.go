package loadgen

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram counts durations in log-linear buckets: each power of two is
// split into 2^subBits equal buckets, so a percentile is off by less than
// 1/2^subBits (under 1%) however many samples there are, in fixed memory.
// Many goroutines record into it at once.
type histogram struct {
	counts [64 << subBits]atomic.Int64
	max    atomic.Int64
	total  atomic.Int64
}

const subBits = 7

// bucket is the index of a duration in nanoseconds.
func bucket(ns int64) int {
	if ns < 1<<subBits {
		return int(max(ns, 0))
	}
	exp := bits.Len64(uint64(ns)) - subBits - 1 // ≥ 0
	return (exp+1)<<subBits + int(ns>>exp) - 1<<subBits
}

// upper is the largest duration in nanoseconds that falls in bucket i.
func upper(i int) int64 {
	if i < 1<<subBits {
		return int64(i)
	}
	exp := i>>subBits - 1
	sub := int64(i&(1<<subBits-1)) + 1<<subBits
	return (sub+1)<<exp - 1
}

func (h *histogram) record(d time.Duration) {
	ns := int64(d)
	h.counts[bucket(ns)].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

// quantile returns the duration under which a fraction q of the samples
// fall (the bucket's upper bound, never more than the maximum); 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(min(upper(i), h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}
