package trafficstats

import (
	"math"
	"slices"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden" // go test -update reaches every package
)

var inf = math.Inf(+1)

func hist(pairs ...float64) Histogram {
	var h Histogram
	for i := 0; i+1 < len(pairs); i += 2 {
		h.Buckets = append(h.Buckets, Bucket{UpperBound: pairs[i], Count: pairs[i+1]})
	}
	return h
}

// The expected values are worked by hand from histogram_quantile's rule:
// rank = q·count, the first bucket whose count reaches it, linear within.
func TestQuantile(t *testing.T) {
	even := hist(0.1, 10, 0.2, 20, inf, 20)
	for _, tc := range []struct {
		name string
		h    Histogram
		q    float64
		want float64
	}{
		// rank 5 in (0, 0.1] holding 10: 0 + 0.1·5/10.
		{"first bucket from zero", even, 0.25, 0.05},
		// rank 10 is the first bucket's last observation: its bound.
		{"on a bound", even, 0.5, 0.1},
		// rank 15: 5 into (0.1, 0.2] holding 10.
		{"second bucket", even, 0.75, 0.15},
		// rank 19.8: 9.8 into (0.1, 0.2].
		{"p99", even, 0.99, 0.198},
		{"q=1 is the last finite bucket's top", even, 1, 0.2},
		// 4 of 10 observations are above 0.1: rank 9 is in +Inf, so the
		// largest finite bound.
		{"in the +Inf bucket", hist(0.1, 6, inf, 10), 0.9, 0.1},
		// A first bound at or below zero has no natural lower bound.
		{"non-positive first bound", hist(-1, 5, 1, 10, inf, 10), 0.2, -1},
		// rank 7.5: 2.5 into (-1, 1] holding 5.
		{"after a negative bound", hist(-1, 5, 1, 10, inf, 10), 0.75, 0},
		// 10, 8, 20 is taken as 10, 10, 20: rank 10 is the first bucket's
		// top, rank 15 is in +Inf.
		{"monotonic forced, low", hist(0.1, 10, 0.2, 8, inf, 20), 0.5, 0.1},
		{"monotonic forced, high", hist(0.1, 10, 0.2, 8, inf, 20), 0.75, 0.2},
		// The proxy's buckets: 100 requests, 50 ≤ 1ms, 90 ≤ 5ms, 99 ≤ 10ms.
		// p50 = 1ms; p95: rank 95, 5 into (5ms, 10ms] holding 9; p99 = 10ms.
		{"proxy p50", hist(0.0005, 0, 0.001, 50, 0.0025, 70, 0.005, 90, 0.01, 99, 0.025, 100, inf, 100), 0.5, 0.001},
		{"proxy p95", hist(0.0005, 0, 0.001, 50, 0.0025, 70, 0.005, 90, 0.01, 99, 0.025, 100, inf, 100), 0.95, 0.005 + 0.005*5/9},
		{"proxy p99", hist(0.0005, 0, 0.001, 50, 0.0025, 70, 0.005, 90, 0.01, 99, 0.025, 100, inf, 100), 0.99, 0.01},
		{"q < 0", even, -0.1, math.Inf(-1)},
		{"q > 1", even, 1.1, inf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.h.Quantile(tc.q); math.Abs(got-tc.want) > 1e-12 && got != tc.want {
				t.Errorf("Quantile(%v) of %v = %v, want %v", tc.q, tc.h.Buckets, got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		h    Histogram
		q    float64
	}{
		{"empty", Histogram{}, 0.5},
		{"only +Inf", hist(inf, 5), 0.5},
		{"no +Inf bucket", hist(0.1, 5, 0.2, 10), 0.5},
		{"no observations", hist(0.1, 0, inf, 0), 0.5},
		{"q is NaN", even, math.NaN()},
	} {
		if got := tc.h.Quantile(tc.q); !math.IsNaN(got) {
			t.Errorf("%s: Quantile(%v) = %v, want NaN", tc.name, tc.q, got)
		}
	}
}

func TestMerge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a, b    Histogram
		want    Histogram
		wantCnt float64
	}{
		{"same buckets add", hist(0.1, 1, 0.2, 3, inf, 4), hist(0.1, 2, 0.2, 2, inf, 5), hist(0.1, 3, 0.2, 5, inf, 9), 9},
		{"empty left", Histogram{}, hist(0.1, 1, inf, 2), hist(0.1, 1, inf, 2), 2},
		{"empty right", hist(0.1, 1, inf, 2), Histogram{}, hist(0.1, 1, inf, 2), 2},
		// At 1.5, a proves 2 (its count at 1), b 3; at 2, b proves 3 (at 1.5).
		{"other buckets", hist(1, 2, 2, 5, inf, 6), hist(1.5, 3, inf, 4), hist(1, 2, 1.5, 5, 2, 8, inf, 10), 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.a.Merge(tc.b)
			if !slices.Equal(got.Buckets, tc.want.Buckets) {
				t.Errorf("Merge = %v, want %v", got.Buckets, tc.want.Buckets)
			}
			if got.Count() != tc.wantCnt {
				t.Errorf("Count = %v, want %v", got.Count(), tc.wantCnt)
			}
			// Merge is symmetric and leaves its operands alone.
			if back := tc.b.Merge(tc.a); !slices.Equal(back.Buckets, got.Buckets) {
				t.Errorf("b.Merge(a) = %v, a.Merge(b) = %v", back.Buckets, got.Buckets)
			}
			if len(got.Buckets) > 0 && len(tc.a.Buckets) > 0 {
				got.Buckets[0].Count = -1
				if tc.a.Buckets[0].Count == -1 {
					t.Error("Merge returned the receiver's buckets")
				}
			}
		})
	}
}

func TestIncrease(t *testing.T) {
	for _, tc := range []struct {
		name       string
		prev, cur  Histogram
		want       Histogram
		wantCounts float64
	}{
		{"growth", hist(0.1, 2, 0.2, 3, inf, 4), hist(0.1, 5, 0.2, 7, inf, 9), hist(0.1, 3, 0.2, 4, inf, 5), 5},
		{"unchanged", hist(0.1, 2, inf, 4), hist(0.1, 2, inf, 4), hist(0.1, 0, inf, 0), 0},
		{"new series", Histogram{}, hist(0.1, 1, inf, 2), hist(0.1, 1, inf, 2), 2},
		// The count grew, but a bucket went down: the proxy restarted and
		// counted more since; the second reading is the increase.
		{"a bucket went down", hist(0.1, 5, inf, 6), hist(0.1, 1, inf, 8), hist(0.1, 1, inf, 8), 8},
		{"all went down", hist(0.1, 5, inf, 6), hist(0.1, 1, inf, 1), hist(0.1, 1, inf, 1), 1},
		{"other buckets", hist(0.1, 5, inf, 6), hist(0.2, 5, inf, 9), hist(0.2, 5, inf, 9), 9},
		{"fewer buckets", hist(0.1, 5, 0.2, 5, inf, 6), hist(0.2, 5, inf, 9), hist(0.2, 5, inf, 9), 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cur.Increase(tc.prev)
			if !slices.Equal(got.Buckets, tc.want.Buckets) || got.Count() != tc.wantCounts {
				t.Errorf("Increase = %v (count %v), want %v (count %v)", got.Buckets, got.Count(), tc.want.Buckets, tc.wantCounts)
			}
		})
	}
}

// FuzzQuantile: for any buckets, Quantile does not panic, stays within the
// finite bounds (or 0 below the first positive one), and does not go down
// as q goes up.
func FuzzQuantile(f *testing.F) {
	f.Add([]byte{1, 10, 2, 20, 255, 20}, 0.5, 0.9)
	f.Add([]byte{0, 0, 255, 0}, 0.1, 0.2)
	f.Add([]byte{3, 9, 1, 2, 2, 1, 255, 4}, 0.0, 1.0)
	f.Fuzz(func(t *testing.T, raw []byte, q1, q2 float64) {
		var h Histogram
		for i := 0; i+1 < len(raw) && len(h.Buckets) < 64; i += 2 {
			b := float64(raw[i]) / 10
			if raw[i] == 255 {
				b = inf
			}
			h.Buckets = append(h.Buckets, Bucket{UpperBound: b, Count: float64(raw[i+1])})
		}
		slices.SortStableFunc(h.Buckets, func(a, b Bucket) int { return cmpFloat(a.UpperBound, b.UpperBound) })
		h.Buckets = slices.CompactFunc(h.Buckets, func(a, b Bucket) bool { return a.UpperBound == b.UpperBound })
		if q1 > q2 {
			q1, q2 = q2, q1
		}
		v1, v2 := h.Quantile(q1), h.Quantile(q2)
		if math.IsNaN(v1) || math.IsNaN(v2) || q1 < 0 || q2 > 1 {
			return
		}
		if v1 > v2 {
			t.Errorf("Quantile(%v) = %v > Quantile(%v) = %v for %v", q1, v1, q2, v2, h.Buckets)
		}
		lo, hi := min(0, h.Buckets[0].UpperBound), h.Buckets[len(h.Buckets)-2].UpperBound
		for _, v := range []float64{v1, v2} {
			if v < lo || v > hi {
				t.Errorf("Quantile = %v outside [%v, %v] for %v", v, lo, hi, h.Buckets)
			}
		}
		// Merging with itself doubles every count and moves no quantile.
		if d := h.Merge(h).Quantile(q1); math.Abs(d-v1) > 1e-9 && !(math.IsNaN(d) && math.IsNaN(v1)) {
			t.Errorf("Quantile(%v) of h+h = %v, of h = %v (%v)", q1, d, v1, h.Buckets)
		}
	})
}
