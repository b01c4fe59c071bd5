// Package benchfig reports a benchmark's samples in one shape that
// `make bench` turns into docs/benchmarks.md: for each figure its median,
// p90, min, max and number of runs, as custom metrics named
// "<stat>:<figure>:<unit>".
package benchfig

import (
	"math"
	"slices"
	"testing"
	"time"
)

// Stats summarises samples.
type Stats struct {
	Median, P90, Min, Max float64
	Runs                  int
}

// Summarise returns the stats of samples (nearest-rank quantiles), or the
// zero Stats when there are none.
func Summarise(samples []float64) Stats {
	if len(samples) == 0 {
		return Stats{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return Stats{
		Median: quantile(s, 0.5),
		P90:    quantile(s, 0.9),
		Min:    s[0],
		Max:    s[len(s)-1],
		Runs:   len(s),
	}
}

func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Report reports samples of figure, measured in unit, on b.
func Report(b *testing.B, figure, unit string, samples []float64) Stats {
	st := Summarise(samples)
	if st.Runs == 0 {
		return st
	}
	b.ReportMetric(st.Median, "median:"+figure+":"+unit)
	b.ReportMetric(st.P90, "p90:"+figure+":"+unit)
	b.ReportMetric(st.Min, "min:"+figure+":"+unit)
	b.ReportMetric(st.Max, "max:"+figure+":"+unit)
	b.ReportMetric(float64(st.Runs), "runs:"+figure+":"+unit)
	return st
}

// Durations reports duration samples of figure in milliseconds.
func Durations(b *testing.B, figure string, samples []time.Duration) Stats {
	ms := make([]float64, len(samples))
	for i, d := range samples {
		ms[i] = float64(d.Microseconds()) / 1000
	}
	return Report(b, figure, "ms", ms)
}

// Value reports one figure that is not a sample set (a ratio, a count).
func Value(b *testing.B, figure, unit string, v float64) {
	b.ReportMetric(v, "value:"+figure+":"+unit)
}

// Ratio reports the ratio of two medians as figure "a/b".
func Ratio(b *testing.B, figure string, num, den Stats) {
	if den.Median == 0 {
		return
	}
	Value(b, figure, "x", num.Median/den.Median)
}
