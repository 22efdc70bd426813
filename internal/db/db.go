// Package db opens PostgreSQL connection pools with the runtime settings a
// tool working on a live production database needs, classifies errors that
// are worth retrying, keeps passwords out of anything printed, and quotes
// identifiers.
//
// Every connection tenantmover makes carries application_name=tenantmover so
// a DBA can find (and if needed terminate) it in pg_stat_activity, and carries
// timeouts chosen for the work it does (a Profile): a backfill batch must never wait
// long for a lock held by the application, while a COPY of a large chunk may
// legitimately run for minutes.
package db

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options are the runtime settings of a pool. The zero value is valid: every
// zero field takes the default documented on it.
type Options struct {
	// ApplicationName shows in pg_stat_activity. Default "tenantmover".
	ApplicationName string
	// StatementTimeout bounds every statement. Zero means no limit (the
	// server's default), which is right for long COPY streams.
	StatementTimeout time.Duration
	// LockTimeout bounds the wait for any lock. Default 5s; backfill uses a
	// much shorter one so the application never queues behind it for long.
	LockTimeout time.Duration
	// IdleInTransactionTimeout ends a session left idle inside a transaction,
	// so a crashed or stalled tool never holds locks for long. Default 60s.
	IdleInTransactionTimeout time.Duration
	// MaxConns caps the pool. Default 4.
	MaxConns int32
	// Settings are extra session settings (name -> value) applied to every
	// connection, for example DateStyle for checksums.
	Settings map[string]string
}

// Profile names the kind of work a pool serves; each has its own timeouts.
type Profile int

const (
	// ProfileCatalog reads the catalog: short statements, never blocks
	// writers.
	ProfileCatalog Profile = iota
	// ProfileBatches runs short batches on the live source (backfill).
	ProfileBatches
	// ProfileStreams streams large chunks (copy).
	ProfileStreams
	// ProfileScans runs long aggregate scans (verify).
	ProfileScans
)

// ForProfile returns the options of a kind of work.
func ForProfile(p Profile) Options {
	switch p {
	case ProfileCatalog:
		return Options{StatementTimeout: 5 * time.Minute, LockTimeout: 2 * time.Second}
	case ProfileBatches:
		return Options{StatementTimeout: 2 * time.Minute, LockTimeout: time.Second}
	case ProfileStreams:
		return Options{LockTimeout: 30 * time.Second, IdleInTransactionTimeout: 10 * time.Minute}
	default:
		return Options{LockTimeout: 5 * time.Second}
	}
}

func (o Options) withDefaults() Options {
	if o.ApplicationName == "" {
		o.ApplicationName = "tenantmover"
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = 5 * time.Second
	}
	if o.IdleInTransactionTimeout == 0 {
		o.IdleInTransactionTimeout = 60 * time.Second
	}
	if o.MaxConns == 0 {
		o.MaxConns = 4
	}
	return o
}

// ConnError is returned when a database cannot be reached or refuses the
// connection. Its message never contains the password.
type ConnError struct {
	URL string // redacted
	Err error
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("connecting to %s: %s", e.URL, oneLine(RedactError(e.Err)))
}

// oneLine folds pgx's one-line-per-address connect errors into one line,
// dropping repeats (localhost resolves to two addresses that fail alike).
func oneLine(msg string) string {
	var parts []string
	seen := map[string]bool{}
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !seen[l] {
			seen[l] = true
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}

func (e *ConnError) Unwrap() error { return e.Err }

// Config parses url (a libpq keyword/value string or URI; empty means the
// PG* environment variables) and applies opts to it.
func Config(url string, opts Options) (*pgxpool.Config, error) {
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &ConnError{URL: Redact(url), Err: errors.New(RedactError(err))}
	}
	rp := cfg.ConnConfig.RuntimeParams
	rp["application_name"] = opts.ApplicationName
	rp["statement_timeout"] = ms(opts.StatementTimeout)
	rp["lock_timeout"] = ms(opts.LockTimeout)
	rp["idle_in_transaction_session_timeout"] = ms(opts.IdleInTransactionTimeout)
	// If the machine running tenantmover dies, the server only learns it
	// through TCP keepalives; without them its sessions (and the run's
	// advisory lock) would linger for the kernel default of two hours.
	for k, v := range map[string]string{"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10", "tcp_keepalives_count": "3"} {
		if _, set := rp[k]; !set {
			rp[k] = v
		}
	}
	for k, v := range opts.Settings {
		rp[k] = v
	}
	cfg.MaxConns = opts.MaxConns
	cfg.ConnConfig.ConnectTimeout = connectTimeout(cfg.ConnConfig.ConnectTimeout)
	return cfg, nil
}

// Open connects a pool and checks that the server answers, so a wrong
// password or host fails here with a clear error rather than later.
func Open(ctx context.Context, url string, opts Options) (*pgxpool.Pool, error) {
	cfg, err := Config(url, opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &ConnError{URL: Redact(url), Err: err}
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, &ConnError{URL: Redact(url), Err: err}
	}
	return pool, nil
}

// Connect opens a single connection with the same settings as Open. Used
// where one session must hold state: an advisory lock, a COPY stream.
func Connect(ctx context.Context, url string, opts Options) (*pgx.Conn, error) {
	cfg, err := Config(url, opts)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, &ConnError{URL: Redact(url), Err: err}
	}
	return conn, nil
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func connectTimeout(d time.Duration) time.Duration {
	if d == 0 {
		return 10 * time.Second
	}
	return d
}
