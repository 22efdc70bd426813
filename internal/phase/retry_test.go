package phase_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/phase"
)

func TestRetry(t *testing.T) {
	ctx := context.Background()
	fast := phase.Backoff{Initial: 1, Max: 1}
	var seen []int
	r := phase.Retry{Attempts: 4, Backoff: fast, OnRetry: func(n int, _ error) { seen = append(seen, n) }}

	// A lost connection is retried until it works.
	calls := 0
	require.NoError(t, r.Do(ctx, func(_ context.Context, attempt int) error {
		require.Equal(t, calls, attempt)
		calls++
		if calls < 3 {
			return io.ErrUnexpectedEOF
		}
		return nil
	}))
	require.Equal(t, 3, calls)
	require.Equal(t, []int{1, 2}, seen)

	// An error a retry cannot fix is returned at once, as it is.
	fatal := errors.New("syntax error")
	calls = 0
	require.Equal(t, fatal, r.Do(ctx, func(context.Context, int) error { calls++; return fatal }))
	require.Equal(t, 1, calls)

	// Attempts run out: the last error, wrapped with how many were made.
	err := r.Do(ctx, func(context.Context, int) error { return io.ErrUnexpectedEOF })
	var gave *phase.GaveUpError
	require.ErrorAs(t, err, &gave)
	require.Equal(t, 4, gave.Attempts)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Contains(t, err.Error(), "giving up after 4 attempts (connection lost)")

	// Retryable widens what is retried.
	r.Retryable = func(err error) bool { return errors.Is(err, fatal) }
	calls = 0
	require.ErrorAs(t, r.Do(ctx, func(context.Context, int) error { calls++; return fatal }), &gave)
	require.Equal(t, 4, calls)

	// Cancellation ends it with ctx's error.
	cctx, cancel := context.WithCancel(ctx)
	err = phase.Retry{Backoff: phase.Backoff{Initial: 1 << 40}}.Do(cctx, func(context.Context, int) error {
		cancel()
		return io.ErrUnexpectedEOF
	})
	require.ErrorIs(t, err, context.Canceled)
}

func TestBackoffDelay(t *testing.T) {
	b := phase.Backoff{}
	require.Equal(t, "100ms", b.Delay(0).String())
	require.Equal(t, "400ms", b.Delay(2).String())
	require.Equal(t, "10s", b.Delay(20).String())
}
