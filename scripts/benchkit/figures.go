package benchkit

import (
	"slices"
	"time"
)

// Time runs fn and returns how long it took.
func Time(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}

// Median is the middle of ds, or the mean of the two middle values when
// their number is even; 0 when ds is empty.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Ratio is tool / baseline: below 1 the tool was faster. It is 0 when the
// baseline is not positive.
func Ratio(tool, baseline time.Duration) float64 {
	if baseline <= 0 {
		return 0
	}
	return float64(tool) / float64(baseline)
}
