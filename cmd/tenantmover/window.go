package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// windowFlags bound a run in time (every long phase) and, with rates, in
// speed (the phases that write: backfill and copy).
func windowFlags(rates bool) []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "until", Usage: "stop taking new work at this time: a clock time in the local zone (05:45, the next one to come) or an RFC 3339 instant; units in flight finish (within --grace), the run is recorded paused and exits 3: rerun to continue"},
		&cli.DurationFlag{Name: "for", Usage: "stop taking new work after this long (a window that ends DURATION from now)"},
		&cli.DurationFlag{Name: "grace", Value: phase.DefaultGrace, Usage: "with --until or --for, how long units in flight at the window's end may take to finish before they are rolled back"},
		&cli.IntFlag{Name: "max-active-sessions", Usage: "pause while the source has more than this many active sessions of other applications (0: never pause)"},
	}
	if rates {
		flags = append(flags,
			&cli.Float64Flag{Name: "max-rows-per-second", Usage: "limit the rows per second of the whole run, over all workers (0: no limit)"},
			&cli.Float64Flag{Name: "max-bytes-per-second", Usage: "limit the bytes per second of the whole run, over all workers (0: no limit)"})
	}
	return flags
}

// windowOf reads the window flags; nil when none is set.
func windowOf(c *cli.Context, now time.Time) (*phase.Window, error) {
	w := &phase.Window{Grace: c.Duration("grace"), MaxRowsPerSecond: c.Float64("max-rows-per-second"), MaxBytesPerSecond: c.Float64("max-bytes-per-second")}
	var problems []string
	switch {
	case c.IsSet("until") && c.IsSet("for"):
		problems = append(problems, "--until and --for both set the window's end: give one")
	case c.IsSet("until"):
		t, err := parseUntil(c.String("until"), now)
		if err != nil {
			problems = append(problems, err.Error())
		}
		w.Deadline = t
	case c.IsSet("for"):
		if d := c.Duration("for"); d <= 0 {
			problems = append(problems, fmt.Sprintf("--for must be positive, got %s", d))
		} else {
			w.Deadline = now.Add(d)
		}
	}
	if w.Grace < 0 {
		problems = append(problems, fmt.Sprintf("--grace must not be negative, got %s", w.Grace))
	}
	if w.MaxRowsPerSecond < 0 || w.MaxBytesPerSecond < 0 {
		problems = append(problems, "--max-rows-per-second and --max-bytes-per-second must not be negative")
	}
	if c.Int("max-active-sessions") < 0 {
		problems = append(problems, fmt.Sprintf("--max-active-sessions must not be negative, got %d", c.Int("max-active-sessions")))
	}
	if len(problems) > 0 {
		return nil, usageError(strings.Join(problems, "; "))
	}
	if w.Deadline.IsZero() && w.MaxRowsPerSecond == 0 && w.MaxBytesPerSecond == 0 && c.Int("max-active-sessions") == 0 {
		return nil, nil
	}
	return w, nil
}

// windowSet says whether any window flag was given (a followed copy takes
// none: it runs until the cutover).
func windowSet(c *cli.Context) bool {
	for _, name := range []string{"until", "for", "grace", "max-active-sessions", "max-rows-per-second", "max-bytes-per-second"} {
		if c.IsSet(name) {
			return true
		}
	}
	return false
}

// parseUntil reads --until: an RFC 3339 instant, or a clock time (15:04 or
// 15:04:05) in the local zone, the next one to come after now.
func parseUntil(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !t.After(now) {
			return time.Time{}, fmt.Errorf("--until %s is in the past", s)
		}
		return t, nil
	}
	for _, layout := range []string{"15:04", "15:04:05"} {
		clock, err := time.ParseInLocation(layout, s, now.Location())
		if err != nil {
			continue
		}
		t := time.Date(now.Year(), now.Month(), now.Day(), clock.Hour(), clock.Minute(), clock.Second(), 0, now.Location())
		if !t.After(now) {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--until %q is neither a clock time (05:45) nor an RFC 3339 instant (2026-12-04T05:45:00+01:00)", s)
}

// watchSource makes w pause while the source at url has more than max
// active sessions of other applications; the returned close ends the
// watch's pool.
func watchSource(ctx context.Context, w *phase.Window, url string, max int, note func(string)) (func(), error) {
	if w == nil || max <= 0 {
		return func() {}, nil
	}
	opts := db.ForProfile(db.ProfileCatalog)
	opts.MaxConns = 1
	pool, err := db.Open(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	w.Busy = func(ctx context.Context) (string, error) { return activeSessions(ctx, pool, max) }
	w.Paused = note
	return pool.Close, nil
}

// activeSessions says why the source is busy: more than max sessions of
// other applications are running a statement ("" when not).
func activeSessions(ctx context.Context, pool *pgxpool.Pool, max int) (string, error) {
	var n int
	err := pool.QueryRow(ctx, `SELECT count(*)::int FROM pg_stat_activity
		WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
		AND application_name <> 'tenantmover' AND datname = current_database()`).Scan(&n)
	if err != nil || n <= max {
		return "", err
	}
	return fmt.Sprintf("the source has %d active sessions (--max-active-sessions %d)", n, max), nil
}
