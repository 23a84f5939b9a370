package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	for _, ns := range []int64{0, 1, 127, 128, 129, 255, 256, 1000, 999_999, 5_000_000, 1 << 40, 1<<62 + 12345} {
		i := bucket(ns)
		if ns > upper(i) || (i > 0 && ns <= upper(i-1)) {
			t.Errorf("%d is in bucket %d, (%d, %d]", ns, i, upper(i-1), upper(i))
		}
	}
}

// The quantiles agree with sorting the samples, within the buckets' 1%.
func TestQuantiles(t *testing.T) {
	var h histogram
	var all []time.Duration
	for range 100_000 {
		d := time.Duration(rand.ExpFloat64() * float64(2*time.Millisecond))
		h.record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 1} {
		want := all[int(q*float64(len(all)))-1]
		got := h.quantile(q)
		if diff := float64(got-want) / float64(want); diff < -0.01 || diff > 0.01 {
			t.Errorf("p%v: %v, want %v", q*100, got, want)
		}
	}
	if h.quantile(1) != all[len(all)-1] {
		t.Errorf("max %v, want %v", h.quantile(1), all[len(all)-1])
	}
}
