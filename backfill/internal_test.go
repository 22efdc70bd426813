package backfill

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/db"
)

func TestSizerMovesTowardTargetWithinBounds(t *testing.T) {
	s := newSizer(Config{BatchTime: 100 * time.Millisecond, MinBatchRows: 100, MaxBatchRows: 10000})
	require.Equal(t, 1000, s.next())
	s.observe(1000, 10*time.Millisecond) // 10x too fast: at most doubles
	require.Equal(t, 2000, s.next())
	s.observe(2000, 100*time.Millisecond) // on target: stays
	require.Equal(t, 2000, s.next())
	s.observe(2000, 125*time.Millisecond)
	require.Equal(t, 1600, s.next())
	s.observe(1600, time.Minute) // far too slow: at most halves
	require.Equal(t, 800, s.next())
	for range 10 {
		s.halve()
	}
	require.Equal(t, 100, s.next(), "never below the minimum")
	for range 20 {
		s.observe(s.next(), time.Millisecond)
	}
	require.Equal(t, 10000, s.next(), "never above the maximum")
}

// The lag gate waits while a replica is behind and lets batches through
// once it caught up.
func TestLagGateWaitsWhileReplicaBehind(t *testing.T) {
	lags := []time.Duration{5 * time.Second, 3 * time.Second, 200 * time.Millisecond}
	var seen []time.Duration
	g := &lagGate{
		max:   time.Second,
		every: time.Millisecond,
		lag: func(context.Context) (time.Duration, error) {
			l := lags[0]
			if len(lags) > 1 {
				lags = lags[1:]
			}
			return l, nil
		},
		check: func(l time.Duration) { seen = append(seen, l) },
	}
	require.NoError(t, g.wait(context.Background()))
	require.Equal(t, []time.Duration{5 * time.Second, 3 * time.Second, 200 * time.Millisecond}, seen)
	require.Positive(t, g.pausedTotal())

	// A replica that never catches up: cancelling the context ends the wait.
	lags = []time.Duration{time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	g.check = func(time.Duration) { cancel() }
	require.ErrorIs(t, g.wait(ctx), context.Canceled)

	var off *lagGate
	require.NoError(t, off.wait(context.Background()))
}

func TestObjectNamesFitAndDiffer(t *testing.T) {
	long := strings.Repeat("ä", 40)
	a := namesFor(db.QualifiedName{Schema: "s", Name: long}, long)
	b := namesFor(db.QualifiedName{Schema: "s2", Name: long}, long)
	for _, n := range []string{a.Function, a.Index, a.Check} {
		require.LessOrEqual(t, len(n), 63, n)
	}
	require.NotEqual(t, a.Function, b.Function)
	require.NotEqual(t, a.Index, b.Index)
}
