package phase

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// At the window's end no unit starts; the ones in flight finish; Schedule
// returns the window's Stop error, which a run records as paused.
func TestScheduleStopsAtTheWindowsEnd(t *testing.T) {
	deadline := time.Now().Add(time.Hour)
	var started, finished atomic.Int64
	w := &Window{Deadline: deadline}
	// The clock passes the deadline once three units started.
	w.clock = func() time.Time {
		if started.Load() >= 3 {
			return deadline
		}
		return deadline.Add(-time.Minute)
	}
	err := Schedule(context.Background(), w, 1, []Group{{Units: 10}}, func(context.Context, int, int) error {
		started.Add(1)
		finished.Add(1)
		return nil
	}, Hooks{})
	var we *WindowEndedError
	require.ErrorAs(t, err, &we)
	require.True(t, errors.Is(err, ErrWindowEnded))
	require.Equal(t, deadline, we.Deadline)
	require.EqualValues(t, 3, started.Load(), "no unit started after the deadline")
	require.Equal(t, started.Load(), finished.Load(), "the units in flight finished")

	// All units done before the deadline: no error.
	w = &Window{Deadline: time.Now().Add(time.Hour)}
	require.NoError(t, Schedule(context.Background(), w, 2, []Group{{Units: 5}}, func(context.Context, int, int) error { return nil }, Hooks{}))
}

// The window's context ends after the grace with ErrWindowEnded as its
// cause, and Explain turns what it stopped into the window's error; other
// errors pass.
func TestWindowContextAndExplain(t *testing.T) {
	w := &Window{Deadline: time.Now().Add(-time.Second), Grace: time.Millisecond}
	ctx, cancel := w.Context(context.Background())
	defer cancel()
	<-ctx.Done()
	require.ErrorIs(t, context.Cause(ctx), ErrWindowEnded)
	require.ErrorIs(t, w.Explain(ctx, ctx.Err()), ErrWindowEnded)
	other := errors.New("boom")
	live, stop := (&Window{}).Context(context.Background())
	defer stop()
	require.Equal(t, other, w.Explain(live, other))
	require.NoError(t, w.Explain(ctx, nil))
	var none *Window
	require.False(t, none.Ended())
	require.NoError(t, none.Gate(context.Background()))
	require.NoError(t, none.Take(context.Background(), 1e9, 1e9))
}

// While Busy says the source is busy, Gate waits, reporting why once, and
// passes when it is not.
func TestGateWaitsWhileTheSourceIsBusy(t *testing.T) {
	var asked atomic.Int64
	var paused []string
	w := &Window{BusyEvery: time.Millisecond, Busy: func(context.Context) (string, error) {
		if asked.Add(1) < 4 {
			return "busy", nil
		}
		return "", nil
	}, Paused: func(why string) { paused = append(paused, why) }}
	require.NoError(t, w.Gate(context.Background()))
	require.EqualValues(t, 4, asked.Load())
	require.Equal(t, []string{"busy"}, paused)
	_, busy := w.Waited()
	require.Positive(t, busy)
}

// After calibration the estimator says how much is left, at what rate and
// when it ends, and whether that fits the window, counting what earlier
// runs did as done.
func TestEstimator(t *testing.T) {
	start := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	now := start
	e := &Estimator{Window: &Window{Deadline: start.Add(time.Hour)}, CalibrateFor: 10 * time.Second, Now: func() time.Time { return now }}
	var notes []string
	progress := e.Wrap(func(ev Event) {
		if ev.Kind == Note {
			notes = append(notes, ev.Message)
		}
	})
	progress(Event{Phase: "copy", Kind: Planned, Table: "a", Total: 1_000_000, Done: 100_000})
	progress(Event{Phase: "copy", Kind: Planned, Table: "b", Total: 8_200_000})
	now = start.Add(5 * time.Second)
	progress(Event{Phase: "copy", Kind: Advanced, Table: "a", Done: 500})
	require.Empty(t, notes, "still calibrating")
	now = start.Add(10 * time.Second)
	progress(Event{Phase: "copy", Kind: Advanced, Table: "a", Done: 9_500})
	require.Len(t, notes, 1)
	// 9.1M left at 1,000 rows/s: 9100 s, 2h31m40s; windows of an hour: 3.
	require.Contains(t, notes[0], "9090000 left at 1000/s")
	require.Contains(t, notes[0], "ends about 03:31")
	require.Contains(t, notes[0], "needs 3 windows of 1h0m")
	now = start.Add(20 * time.Second)
	progress(Event{Phase: "copy", Kind: Advanced, Table: "a", Done: 10})
	require.Len(t, notes, 1, "the next estimate waits RepeatEvery")
}

// Where the events count bytes, the time left is each table's rows left at
// the bytes per row it showed, over the bytes per second: a calibration
// spent on wide rows does not set the pace of the narrow ones left.
func TestEstimatorWeighsRowsByTheirBytes(t *testing.T) {
	start := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	now := start
	e := &Estimator{CalibrateFor: 10 * time.Second, Now: func() time.Time { return now }}
	var notes []string
	progress := e.Wrap(func(ev Event) {
		if ev.Kind == Note {
			notes = append(notes, ev.Message)
		}
	})
	progress(Event{Phase: "copy", Kind: Planned, Table: "wide", Total: 10_000})
	progress(Event{Phase: "copy", Kind: Planned, Table: "narrow", Total: 100_000})
	progress(Event{Phase: "copy", Kind: Planned, Table: "later", Total: 6_000})
	now = start.Add(5 * time.Second)
	progress(Event{Phase: "copy", Kind: Advanced, Table: "wide", Done: 5_000, Bytes: 5_000_000})
	now = start.Add(10 * time.Second)
	progress(Event{Phase: "copy", Kind: Advanced, Table: "narrow", Done: 10_000, Bytes: 1_000_000})
	require.Len(t, notes, 1)
	// 6 MB in 10 s; left: wide 5,000 rows x 1,000 B, narrow 90,000 x 100 B,
	// later (not started) 6,000 x the average 400 B: 16.4 MB, 27.3 s. By
	// rows alone (1,500/s for 101,000) it would say 67 s.
	require.Contains(t, notes[0], "101000 left at 1500/s (~15.6 MiB left at 585.9 KiB/s)")
	require.Contains(t, notes[0], "(in 27s)")
}
