package phase_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/phase"
)

// TestOf: the config is checked once, when the phase is made; a run without
// a report returns its error alone; otherwise result maps the report.
func TestOf(t *testing.T) {
	positive := func(n int) (int, error) {
		if n < 1 {
			return 0, errors.New("n must be positive")
		}
		return n, nil
	}
	failed := errors.New("could not start")
	run := func(_ context.Context, env *phase.Env, n int) (*int, error) {
		if env.Run == "broken" {
			return nil, failed
		}
		return &n, nil
	}
	result := func(rep *int, err error) (phase.Result, error) {
		return phase.Result{Summary: phase.Summary{Rows: int64(*rep)}}, err
	}

	_, err := phase.Of("count", phase.Once, 0, positive, run, result)
	require.ErrorContains(t, err, "positive")

	p, err := phase.Of("count", phase.EveryRun, 3, positive, run, result)
	require.NoError(t, err)
	require.Equal(t, "count", p.Name())
	require.Equal(t, phase.EveryRun, p.Mode())
	res, err := p.Run(context.Background(), &phase.Env{})
	require.NoError(t, err)
	require.EqualValues(t, 3, res.Rows)
	res, err = p.Run(context.Background(), &phase.Env{Run: "broken"})
	require.ErrorIs(t, err, failed)
	require.Equal(t, phase.Result{}, res)
}
