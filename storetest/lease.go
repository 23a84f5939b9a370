package storetest

import (
	"testing"
	"time"

	"github.com/chatbus/chatbus"
)

// testClaimRelay: one holder at a time; the holder renews; another takes
// over once the lease has expired, or at once when it is given up.
func testClaimRelay(t *testing.T, s chatbus.Store) {
	claim := func(holder string, now, until time.Time) bool {
		t.Helper()
		var ok bool
		update(t, s, func(tx chatbus.Tx) (err error) {
			ok, err = tx.ClaimRelay(t.Context(), holder, now, until)
			return err
		})
		return ok
	}
	steps := []struct {
		holder     string
		now, until time.Time
		want       bool
	}{
		{"a", at(0), at(5000), true},     // free
		{"b", at(1000), at(6000), false}, // a holds it
		{"a", at(2000), at(7000), true},  // a renews
		{"b", at(6999), at(9000), false}, // not expired yet
		{"b", at(7001), at(12000), true}, // expired: b takes it
		{"a", at(8000), at(13000), false},
		{"b", at(9000), at(0), true}, // b gives it up
		{"a", at(9001), at(14000), true},
	}
	for i, st := range steps {
		if got := claim(st.holder, st.now, st.until); got != st.want {
			t.Errorf("step %d: %s claims: %v, want %v", i, st.holder, got, st.want)
		}
	}
}
