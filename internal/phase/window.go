package phase

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Window is when and how fast a run may work, the same for every phase:
// users run the long phases at night ("start at 1 a.m., be off the
// database by 6") and below a load the application can bear.
//
// At the deadline no new unit starts (Schedule, and the phases between
// their batches); the units in flight may finish within Grace, after which
// Context's context ends and what they had not committed rolls back. The
// phase then returns a *WindowEndedError: a rerun continues from the
// checkpoints.
//
// The rate limits hold across every worker of the run: each phase tells
// Take what each unit (a chunk, a batch) did, rows and bytes.
// Busy, when set, holds work back while the source is busier than the user
// allows. A nil *Window is no window: no deadline, no limit.
type Window struct {
	// Deadline: no unit starts after it; zero: none.
	Deadline time.Time
	// Grace is how long units in flight at the deadline may take to
	// finish. Default DefaultGrace.
	Grace time.Duration
	// MaxRowsPerSecond and MaxBytesPerSecond bound the rate of the whole
	// run; 0: no limit.
	MaxRowsPerSecond  float64
	MaxBytesPerSecond float64
	// Busy says why the source is too busy to take more work now ("" when
	// it is not); it is asked before each unit at most every BusyEvery
	// (default 1s) and, while busy, again every BusyEvery.
	Busy      func(ctx context.Context) (string, error)
	BusyEvery time.Duration
	// Paused, when set, hears about each wait while Busy said why (the
	// phases show it as a note).
	Paused func(why string)

	clock       func() time.Time // tests; default time.Now
	once        sync.Once
	rows, bytes *rate.Limiter
	mu          sync.Mutex
	throttled   time.Duration // waited for the rate limits
	busyWait    time.Duration // waited while the source was busy
	busyChecked time.Time
	busyWhy     string
}

// DefaultGrace is how long units in flight at a window's end may take.
const DefaultGrace = 30 * time.Second

// ErrWindowEnded is the cause of a Window's context ending at the grace's
// end, and what a *WindowEndedError wraps.
var ErrWindowEnded = errors.New("the run's time window ended")

// WindowEndedError says the run stopped at its window's end, with work
// left: everything committed is kept, a rerun continues.
type WindowEndedError struct {
	Deadline time.Time
}

func (e *WindowEndedError) Error() string {
	return fmt.Sprintf("stopped at the window's end (%s); what was done is kept: rerun to continue", e.Deadline.Format("2006-01-02 15:04:05 MST"))
}

func (e *WindowEndedError) Unwrap() error { return ErrWindowEnded }

// Ended says the deadline passed: start nothing new.
func (w *Window) Ended() bool {
	if w == nil || w.Deadline.IsZero() {
		return false
	}
	now := time.Now
	if w.clock != nil {
		now = w.clock
	}
	return !now().Before(w.Deadline)
}

// Stop is the error a phase returns when it stops for the window's end.
func (w *Window) Stop() error { return &WindowEndedError{Deadline: w.Deadline} }

// Context returns the context the run works in: it ends Grace after the
// deadline, with ErrWindowEnded as its cause, so that units that cannot
// finish in time roll back.
func (w *Window) Context(ctx context.Context) (context.Context, context.CancelFunc) {
	if w == nil || w.Deadline.IsZero() {
		return context.WithCancel(ctx)
	}
	grace := w.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	return context.WithDeadlineCause(ctx, w.Deadline.Add(grace), ErrWindowEnded)
}

// Explain turns an error of work done in ctx (a Context of w) into a
// *WindowEndedError when the window's end is what stopped it.
func (w *Window) Explain(ctx context.Context, err error) error {
	var we *WindowEndedError
	if err == nil || w == nil || errors.As(err, &we) {
		return err
	}
	if errors.Is(context.Cause(ctx), ErrWindowEnded) {
		return w.Stop()
	}
	return err
}

// Gate is called before a unit (or a batch) starts: it returns the
// window's Stop error once the deadline passed, and waits while Busy says
// the source is busy.
func (w *Window) Gate(ctx context.Context) error {
	if w == nil {
		return nil
	}
	if w.Ended() {
		return w.Stop()
	}
	if w.Busy == nil {
		return nil
	}
	return w.waitIdle(ctx)
}

// waitIdle returns once Busy says the source is not busy (asking at most
// every BusyEvery), or at the deadline.
func (w *Window) waitIdle(ctx context.Context) error {
	every := w.BusyEvery
	if every <= 0 {
		every = time.Second
	}
	var start time.Time
	for {
		why, err := w.busy(ctx, every)
		if err != nil {
			return err
		}
		if why == "" {
			break
		}
		if start.IsZero() {
			start = time.Now()
			if w.Paused != nil {
				w.Paused(why)
			}
		}
		if err := Sleep(ctx, every); err != nil {
			return err
		}
		if w.Ended() {
			return w.Stop()
		}
	}
	if !start.IsZero() {
		w.mu.Lock()
		w.busyWait += time.Since(start)
		w.mu.Unlock()
	}
	return nil
}

// busy asks Busy, or repeats its last answer when it was asked less than
// every ago (many workers share one answer).
func (w *Window) busy(ctx context.Context, every time.Duration) (string, error) {
	w.mu.Lock()
	if !w.busyChecked.IsZero() && time.Since(w.busyChecked) < every {
		why := w.busyWhy
		w.mu.Unlock()
		return why, nil
	}
	w.mu.Unlock()
	why, err := w.Busy(ctx)
	if err != nil {
		return "", fmt.Errorf("checking whether the source is busy: %w", err)
	}
	w.mu.Lock()
	w.busyChecked, w.busyWhy = time.Now(), why
	w.mu.Unlock()
	return why, nil
}

// limiters makes the rate limiters once. A limiter's burst is a tenth of a
// second's worth (at least one), so the rate holds over any second.
func (w *Window) limiters() {
	w.once.Do(func() {
		limiter := func(perSecond float64, least int) *rate.Limiter {
			if perSecond <= 0 {
				return nil
			}
			return rate.NewLimiter(rate.Limit(perSecond), max(int(perSecond/10), least))
		}
		w.rows = limiter(w.MaxRowsPerSecond, 1)
		w.bytes = limiter(w.MaxBytesPerSecond, 64<<10)
	})
}

// Take accounts for rows and bytes of work done and waits until the rate
// limits allow more. Work is accounted after it is done, so the limit
// holds over the run while each unit runs at full speed: the wait follows.
func (w *Window) Take(ctx context.Context, rows, bytes int64) error {
	if w == nil {
		return nil
	}
	w.limiters()
	start := time.Now()
	if err := waitN(ctx, w.rows, rows); err != nil {
		return err
	}
	if err := waitN(ctx, w.bytes, bytes); err != nil {
		return err
	}
	if d := time.Since(start); d > time.Millisecond {
		w.mu.Lock()
		w.throttled += d
		w.mu.Unlock()
	}
	return nil
}

// waitN waits for n tokens of l, a burst at a time.
func waitN(ctx context.Context, l *rate.Limiter, n int64) error {
	if l == nil {
		return nil
	}
	for n > 0 {
		k := min(n, int64(l.Burst()))
		// A reservation rather than WaitN, which fails at once when the
		// wait would pass ctx's deadline: here the deadline is the
		// window's grace, and the wait until then is the right one.
		r := l.ReserveN(time.Now(), int(k))
		if err := Sleep(ctx, r.Delay()); err != nil {
			r.Cancel()
			return err
		}
		n -= k
	}
	return nil
}

// Waited is how long work waited for the rate limits and for a busy
// source, for the report.
func (w *Window) Waited() (throttled, busy time.Duration) {
	if w == nil {
		return 0, 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.throttled, w.busyWait
}
