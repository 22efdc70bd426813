package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A migration run in short time windows: each window's end stops it with
// exit 3, the run is recorded paused with the windows it used and what is
// left, and reruns continue until it finishes, losing and duplicating
// nothing (verify --checksum). The rate limit makes the small sample need
// several windows.
func TestMigrateInTimeWindows(t *testing.T) {
	t.Parallel()
	src, dst := sampleSource(t), env.NewCitusDB(t).Coordinator
	args := []string{"migrate", "--source", src, "--target", dst, "--tenant-table", "store", "--no-progress", "--checksum"}
	// Windows of 4 seconds (the default grace lets a step that is not
	// made of units, such as creating the target schema, finish).
	windowed := append(append([]string{}, args...), "--for", "4s", "--max-rows-per-second", "4000")
	paused := 0
	for ; paused < 100; paused++ {
		code, _, stderr := runCLI(t, windowed...)
		if code == exitOK {
			require.Contains(t, stderr, "verified: every tenant of every table matches")
			break
		}
		require.Equal(t, exitWindowEnded, code, stderr)
		require.Contains(t, stderr, "stopped at the window's end")
		require.Contains(t, stderr, "paused at the window's end")
		code, _, status := runCLI(t, "status", "--source", src, "--target", dst, "--run", "migrate")
		require.Equal(t, exitOK, code, status)
		require.Contains(t, status, `run "migrate" (migrate) phase=`)
		require.Contains(t, status, "status=paused")
		require.Contains(t, status, "time windows used:")
	}
	require.Less(t, paused, 100, "the migration finished (each window copies at least the units it started)")
	require.GreaterOrEqual(t, paused, 2, "the sample needed more than one window at this rate")
	code, _, stderr := runCLI(t, "verify", "--source", src, "--target", dst, "--tenant-table", "store", "--checksum", "--no-progress")
	require.Equal(t, exitOK, code, stderr)
}

// The window flags are checked before anything runs.
func TestWindowFlagsRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--until", "25:99"}, "neither a clock time"},
		{[]string{"--until", "2001-01-01T00:00:00Z"}, "in the past"},
		{[]string{"--until", "05:00", "--for", "1h"}, "give one"},
		{[]string{"--for", "-1s"}, "--for must be positive"},
		{[]string{"--max-rows-per-second", "-5"}, "must not be negative"},
		{[]string{"--follow", "--for", "1h"}, "do not apply with --follow"},
	} {
		code, _, stderr := runCLI(t, append([]string{"copy", "--source", "postgres://127.0.0.1:1/x", "--target", "postgres://127.0.0.1:1/y", "--tenant-table", "store"}, c.args...)...)
		require.Equal(t, exitError, code, "%v: %s", c.args, stderr)
		require.Contains(t, stderr, c.msg, "%v", c.args)
	}
}
