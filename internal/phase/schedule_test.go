package phase_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/phase"
)

// trace records the order of unit starts and ends and the most units seen
// running at once.
type trace struct {
	mu      sync.Mutex
	events  []string
	running int
	most    int
}

func (tr *trace) unit(names []string) func(context.Context, int, int) error {
	return func(_ context.Context, g, u int) error {
		tr.mu.Lock()
		tr.running++
		tr.most = max(tr.most, tr.running)
		tr.events = append(tr.events, "start "+names[g])
		tr.mu.Unlock()
		tr.mu.Lock()
		tr.running--
		tr.events = append(tr.events, "end "+names[g])
		tr.mu.Unlock()
		return nil
	}
}

func index(events []string, e string) int {
	for i, x := range events {
		if x == e {
			return i
		}
	}
	return -1
}

func lastIndex(events []string, e string) int {
	for i := len(events) - 1; i >= 0; i-- {
		if events[i] == e {
			return i
		}
	}
	return -1
}

// A group starts only after every unit of the groups it comes after has
// ended; First groups start first; every group's hooks run once, also for a
// group with no units left (a table done by an earlier run).
func TestScheduleOrder(t *testing.T) {
	names := []string{"ref", "store", "product", "purchase", "done"}
	groups := []phase.Group{
		{Units: 2, First: true, Weight: 1},
		{Units: 3, Weight: 10},
		{Units: 4, After: []int{1}, Weight: 100},
		{Units: 5, After: []int{2, 4}, Weight: 1000},
		{Units: 0, After: []int{1}},
	}
	tr := &trace{}
	var started, finished []string
	err := phase.Schedule(context.Background(), nil, 3, groups, tr.unit(names), phase.Hooks{
		Started:  func(g int) { started = append(started, names[g]) },
		Finished: func(g int) { finished = append(finished, names[g]) },
	})
	require.NoError(t, err)
	require.Equal(t, "ref", started[0], "the First group starts first")
	require.Equal(t, "store", started[1])
	require.Less(t, lastIndex(tr.events, "end store"), index(tr.events, "start product"))
	require.Less(t, lastIndex(tr.events, "end product"), index(tr.events, "start purchase"))
	require.LessOrEqual(t, tr.most, 3)
	require.ElementsMatch(t, []string{"ref", "store", "product", "purchase"}, started)
	require.ElementsMatch(t, names, finished)
	require.Less(t, index(finished, "store"), index(finished, "done"), "an empty group finishes when its turn comes")
	require.Len(t, tr.events, 2*(2+3+4+5))
}

// The limit holds with slow units, and a Serial group never runs two of
// its units at once.
func TestScheduleLimitAndSerial(t *testing.T) {
	var running, most, serialRunning, serialMost atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	groups := []phase.Group{{Units: 6}, {Units: 6}, {Units: 4, Serial: true}}
	var startedUnits atomic.Int64
	err := phase.Schedule(context.Background(), nil, 2, groups, func(ctx context.Context, g, u int) error {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if g == 2 {
			s := serialRunning.Add(1)
			for m := serialMost.Load(); s > m && !serialMost.CompareAndSwap(m, s); m = serialMost.Load() {
			}
			defer serialRunning.Add(-1)
		}
		if startedUnits.Add(1) == 2 {
			once.Do(func() { close(release) }) // two running: let them all go
		}
		<-release
		running.Add(-1)
		return nil
	}, phase.Hooks{})
	require.NoError(t, err)
	require.Equal(t, int64(2), most.Load())
	require.Equal(t, int64(1), serialMost.Load())
	require.Equal(t, int64(16), startedUnits.Load())
}

// The first failure is returned and cancels the units in flight; no unit
// starts after it.
func TestScheduleFailureCancels(t *testing.T) {
	boom := errors.New("boom")
	var after atomic.Int64
	var failed atomic.Bool
	err := phase.Schedule(context.Background(), nil, 2, []phase.Group{{Units: 50}}, func(ctx context.Context, _, u int) error {
		if failed.Load() {
			after.Add(1)
		}
		if u == 3 {
			failed.Store(true)
			return boom
		}
		if u == 2 {
			<-ctx.Done() // in flight when unit 3 fails
			return ctx.Err()
		}
		return nil
	}, phase.Hooks{})
	require.ErrorIs(t, err, boom)
	require.LessOrEqual(t, after.Load(), int64(1), "at most the unit already being started runs after the failure")
}

// Groups waiting on each other never start: Schedule says so rather than
// returning as if done.
func TestScheduleCycleFails(t *testing.T) {
	ran := false
	err := phase.Schedule(context.Background(), nil, 2, []phase.Group{{Units: 1, After: []int{1}}, {Units: 1, After: []int{0}}},
		func(context.Context, int, int) error { ran = true; return nil }, phase.Hooks{})
	require.ErrorContains(t, err, "never complete")
	require.False(t, ran)
}

func TestEach(t *testing.T) {
	var sum atomic.Int64
	require.NoError(t, phase.Each(context.Background(), nil, 3, 10, func(_ context.Context, i int) error {
		sum.Add(int64(i))
		return nil
	}))
	require.Equal(t, int64(45), sum.Load())
}

// A group held by its Ready channel takes no slot while it waits: with one
// slot, the other group's units all run before it is released, and it runs
// once released; cancelling ctx while only held groups are left returns the
// cancellation, not success.
func TestScheduleReady(t *testing.T) {
	t.Parallel()
	ready := make(chan struct{})
	var mu sync.Mutex
	var order []string
	groups := []phase.Group{{Units: 1, Ready: ready, Weight: 100}, {Units: 3}}
	err := phase.Schedule(context.Background(), nil, 1, groups, func(_ context.Context, g, u int) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, []string{"held", "free"}[g])
		if g == 1 && u == 2 {
			close(ready) // the outside condition comes true after the last free unit
		}
		return nil
	}, phase.Hooks{})
	require.NoError(t, err)
	require.Equal(t, []string{"free", "free", "free", "held"}, order)

	ctx, cancel := context.WithCancel(context.Background())
	never := make(chan struct{})
	err = phase.Schedule(ctx, nil, 2, []phase.Group{{Units: 1, Ready: never}, {Units: 1}}, func(context.Context, int, int) error {
		cancel()
		return nil
	}, phase.Hooks{})
	require.ErrorIs(t, err, context.Canceled)
}
