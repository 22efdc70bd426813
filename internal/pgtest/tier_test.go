package pgtest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB that records how a test would have ended.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Skip(args ...any)                  { r.skip = fmt.Sprint(args...) }

// A Citus-tier test without Citus skips with the reason, unless CI requires
// the tier: then it fails, naming what is missing.
func TestCitusTierSkipsOrFails(t *testing.T) {
	t.Setenv(RequireCitusEnv, "")
	r := &recorder{TB: t}
	CitusTier(r, "citus.so not found")
	require.Equal(t, "Citus tier skipped: citus.so not found", r.skip)
	require.Empty(t, r.fatal)

	t.Setenv(RequireCitusEnv, "1")
	r = &recorder{TB: t}
	CitusTier(r, "citus.so not found")
	require.Contains(t, r.fatal, "citus.so not found")
	require.Contains(t, r.fatal, RequireCitusEnv)
	require.Empty(t, r.skip)

	before := citusTierRan.Load()
	r = &recorder{TB: t}
	CitusTier(r, "")
	require.Empty(t, r.fatal+r.skip)
	require.Equal(t, before+1, citusTierRan.Load(), "a test that ran is counted")
}
