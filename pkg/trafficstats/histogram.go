package trafficstats

import (
	"math"
	"slices"
	"sort"
)

// Bucket is one bucket of a cumulative histogram: Count observations were
// at most UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Histogram is a cumulative histogram as Prometheus's text format carries
// it: buckets by strictly ascending upper bound, each counting every
// observation up to its bound, the last one's bound +Inf (the count of all
// observations).
// The zero value is the empty histogram. Methods never modify their
// receiver or argument.
type Histogram struct {
	Buckets []Bucket
}

// Count is the number of observations: the +Inf bucket's count, or 0 when
// the histogram has none.
func (h Histogram) Count() float64 {
	if n := len(h.Buckets); n > 0 && math.IsInf(h.Buckets[n-1].UpperBound, +1) {
		return h.Buckets[n-1].Count
	}
	return 0
}

// countAt is how many observations h proves to be at most bound: the count
// of its largest bucket whose bound is not above it, 0 when there is none.
func (h Histogram) countAt(bound float64) float64 {
	i := sort.Search(len(h.Buckets), func(i int) bool { return h.Buckets[i].UpperBound > bound })
	if i == 0 {
		return 0
	}
	return h.Buckets[i-1].Count
}

// Merge adds two histograms, as Prometheus's sum by (le) does. Histograms
// of the same buckets (every proxy of one version) add bucket by bucket.
// Where one lacks a bound the other has, it counts at that bound what it
// counts at its largest bound below it: the observations it proves to be
// that small, so the merge stays cumulative and never claims an
// observation smaller than it was.
func (h Histogram) Merge(o Histogram) Histogram {
	if len(o.Buckets) == 0 {
		return Histogram{Buckets: slices.Clone(h.Buckets)}
	}
	if len(h.Buckets) == 0 {
		return Histogram{Buckets: slices.Clone(o.Buckets)}
	}
	bounds := make([]float64, 0, len(h.Buckets)+len(o.Buckets))
	for _, b := range h.Buckets {
		bounds = append(bounds, b.UpperBound)
	}
	for _, b := range o.Buckets {
		bounds = append(bounds, b.UpperBound)
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	out := make([]Bucket, len(bounds))
	for i, b := range bounds {
		out[i] = Bucket{UpperBound: b, Count: h.countAt(b) + o.countAt(b)}
	}
	return Histogram{Buckets: out}
}

// Increase is what h counts beyond prev, an earlier reading of the same
// series, as Prometheus's increase() with a counter reset: when any bucket
// went down, or the buckets are not the same, the series started again in
// between and h itself is the increase. The histogram is taken as one
// unit, not bucket by bucket, so the result stays cumulative.
func (h Histogram) Increase(prev Histogram) Histogram {
	if len(prev.Buckets) == 0 || len(prev.Buckets) != len(h.Buckets) {
		return Histogram{Buckets: slices.Clone(h.Buckets)}
	}
	out := make([]Bucket, len(h.Buckets))
	for i, b := range h.Buckets {
		p := prev.Buckets[i]
		if p.UpperBound != b.UpperBound || b.Count < p.Count {
			return Histogram{Buckets: slices.Clone(h.Buckets)}
		}
		out[i] = Bucket{UpperBound: b.UpperBound, Count: b.Count - p.Count}
	}
	return Histogram{Buckets: out}
}

// Quantile estimates the q-quantile (0 ≤ q ≤ 1) of the observations as
// Prometheus's histogram_quantile does for classic histograms: the bucket
// where the q·count-th observation falls is found and the value
// interpolated linearly within it, from the bucket below's bound (0 for
// the first bucket when its bound is positive) to its own. A quantile in
// the +Inf bucket is the largest finite bound. It is NaN when the
// histogram has no observations, fewer than two buckets or no +Inf
// bucket, or q is NaN; -Inf for q < 0 and +Inf for q > 1. Counts that go
// down from one bucket to the next are raised to the largest count below,
// as Prometheus does.
func (h Histogram) Quantile(q float64) float64 {
	switch {
	case math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(+1)
	}
	n := len(h.Buckets)
	if n < 2 || !math.IsInf(h.Buckets[n-1].UpperBound, +1) {
		return math.NaN()
	}
	// Monotonic counts, so that the search below finds the first bucket
	// that reaches the rank.
	counts := make([]float64, n)
	top := 0.0
	for i, b := range h.Buckets {
		top = max(top, b.Count)
		counts[i] = top
	}
	total := counts[n-1]
	if total <= 0 || math.IsNaN(total) || math.IsInf(total, 0) {
		return math.NaN()
	}
	rank := q * total
	i := sort.Search(n-1, func(i int) bool { return counts[i] >= rank })
	if i == n-1 {
		return h.Buckets[n-2].UpperBound
	}
	if i == 0 && h.Buckets[0].UpperBound <= 0 {
		return h.Buckets[0].UpperBound
	}
	start, end, count := 0.0, h.Buckets[i].UpperBound, counts[i]
	if i > 0 {
		start = h.Buckets[i-1].UpperBound
		count -= counts[i-1]
		rank -= counts[i-1]
	}
	// Rounding may carry the interpolation a hair past the bucket.
	return min(max(start+(end-start)*(rank/count), start), end)
}
