package phase

import (
	"context"
	"fmt"
	"time"

	"github.com/tenantmover/tenantmover/internal/db"
)

// Backoff is an exponential backoff with a cap. The zero value uses 100ms
// doubling to 10s.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// Delay is the wait before retry number attempt (0-based).
func (b Backoff) Delay(attempt int) time.Duration {
	d, limit := b.Initial, b.Max
	if d == 0 {
		d = 100 * time.Millisecond
	}
	if limit == 0 {
		limit = 10 * time.Second
	}
	for i := 0; i < attempt && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// Wait blocks for the delay of attempt or until ctx ends.
func (b Backoff) Wait(ctx context.Context, attempt int) error {
	return Sleep(ctx, b.Delay(attempt))
}

// Sleep blocks for d or until ctx ends, returning ctx's error then.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// DefaultAttempts is how many attempts a unit gets by default.
const DefaultAttempts = 8

// Retry is the one retry policy of every phase: a unit (a batch, a chunk,
// a statement) is attempted again after an error a retry may fix (a lost
// connection, a deadlock, a serialization failure, a lock timeout: see
// db.Classify), with backoff between attempts, up to Attempts in all.
type Retry struct {
	// Attempts bounds the attempts. Default DefaultAttempts.
	Attempts int
	// Backoff spaces them. Default 100ms doubling to 10s.
	Backoff Backoff
	// Retryable says whether an error is worth another attempt. Default
	// db.IsRetryable.
	Retryable func(error) bool
	// OnRetry (may be nil) hears of each failure about to be retried, with
	// the number of attempts made so far, before the wait.
	OnRetry func(attempts int, err error)
}

// GaveUpError is the last error of a unit whose attempts ran out.
type GaveUpError struct {
	Attempts int
	Err      error
}

func (e *GaveUpError) Error() string {
	return fmt.Sprintf("giving up after %d attempts (%s): %v", e.Attempts, db.Classify(e.Err), e.Err)
}

func (e *GaveUpError) Unwrap() error { return e.Err }

// Do runs fn (attempt counts from 0) until it succeeds, fails with an
// error not worth retrying (returned as it is), or runs out of attempts
// (a *GaveUpError). A cancelled ctx ends it with ctx's error.
func (r Retry) Do(ctx context.Context, fn func(ctx context.Context, attempt int) error) error {
	attempts := r.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	retryable := r.Retryable
	if retryable == nil {
		retryable = db.IsRetryable
	}
	for attempt := 0; ; attempt++ {
		err := fn(ctx, attempt)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case !retryable(err):
			return err
		case attempt+1 >= attempts:
			return &GaveUpError{Attempts: attempt + 1, Err: err}
		}
		if r.OnRetry != nil {
			r.OnRetry(attempt+1, err)
		}
		if werr := r.Backoff.Wait(ctx, attempt); werr != nil {
			return werr
		}
	}
}
