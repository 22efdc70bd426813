// Package checkpoints stores the progress of tenantmover runs in the database
// being written, in schema "tenantmover".
//
// The point of keeping progress there, rather than in a file, is atomicity:
// a unit of work (a backfill batch, a copied chunk) and the checkpoint that
// records it are written in the same transaction, so after a crash, kill -9
// or Ctrl-C the database says exactly which units are done: none is lost
// (beyond the ones in flight, which rolled back) and none is done twice.
//
// A run has a name and remembers the options it started with; resuming with
// other options is refused with ErrOptionsChanged unless the caller restarts
// it. Only one process may work on a run at a time: Lock takes a session
// advisory lock that dies with the process.
package checkpoints

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed schema.sql
var schemaSQL string

// Unit states.
const (
	Pending = "pending"
	Done    = "done"
)

// Querier is what the checkpoint writes need: a transaction (so they commit
// with the work) or a pool.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store reads and writes checkpoints in one database.
type Store struct {
	pool *pgxpool.Pool
}

// layout is the comment schema.sql ends by setting on the schema: a store
// that has it needs no DDL.
const layout = "tenantmover checkpoints, layout 7"

// Open creates the tenantmover schema, or brings an older layout up to
// date, and returns a Store. A current schema is left untouched: its DDL
// would wait for the locks of other runs' units in flight (and queue their
// checkpoints behind it).
func Open(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	// One process at a time (the parts of a run start together): two
	// creating the schema, or making its tables Citus reference tables,
	// would collide (a duplicate schema, a distributed deadlock).
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		// Destroying the connection releases the lock even if ctx is done.
		_ = conn.Conn().Close(context.Background())
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, 0)`, lockSpace); err != nil {
		return nil, fmt.Errorf("locking checkpoint schema tenantmover: %w", err)
	}
	var current *string
	err = conn.QueryRow(ctx, `SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = 'tenantmover'`).Scan(&current)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("reading checkpoint schema tenantmover: %w", err)
	}
	if current == nil || *current != layout {
		if _, err := conn.Exec(ctx, schemaSQL); err != nil {
			return nil, fmt.Errorf("creating checkpoint schema tenantmover: %w", err)
		}
	}
	if err := onCitus(ctx, conn); err != nil {
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// Attach returns a Store over an existing checkpoint schema without creating
// it; status uses it so that looking never writes.
func Attach(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// ErrOptionsChanged is returned when a run is resumed with options other
// than the ones it started with.
type ErrOptionsChanged struct {
	Run      string
	Previous json.RawMessage
	Current  json.RawMessage
}

func (e *ErrOptionsChanged) Error() string {
	return fmt.Sprintf("run %q was started with other options (%s, now %s): rerun with the same options to resume, pass --restart to start it over, or use another --run name",
		e.Run, e.Previous, e.Current)
}

// ErrRunLocked is returned when another process holds the run.
type ErrRunLocked struct {
	Run string
	// Part is the part held ("2/3"), for a run copied in parts.
	Part string
	// Holder describes the session holding the lock (pid, application,
	// client, since when), when it could be read.
	Holder string
	PID    int
}

func (e *ErrRunLocked) Error() string {
	msg := fmt.Sprintf("run %q is being worked on by another tenantmover process", e.Run)
	if e.Part != "" {
		msg = fmt.Sprintf("part %s of run %q is being worked on by another tenantmover process", e.Part, e.Run)
	}
	if e.Holder != "" {
		msg += " (" + e.Holder + ")"
	}
	msg += ": wait for it to finish or stop it first"
	if e.PID != 0 {
		msg += fmt.Sprintf("; if that process is gone (its machine died), end its session with SELECT pg_terminate_backend(%d)", e.PID)
	}
	return msg
}

// Run is a named run in a Store.
type Run struct {
	Name  string
	store *Store
	// Resumed is true when the run existed before Begin.
	Resumed bool
}

// Begin starts run name for command with options, or resumes it. options is
// any JSON-marshalable value; resuming with different options fails with
// ErrOptionsChanged unless restart is true, in which case the old run's
// checkpoints are deleted first.
func (s *Store) Begin(ctx context.Context, name, command string, options any, restart bool) (*Run, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, fmt.Errorf("encoding run options: %w", err)
	}
	run := &Run{Name: name, store: s}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var prevCommand string
		var prev json.RawMessage
		err := tx.QueryRow(ctx, `SELECT command, options FROM tenantmover.runs WHERE name = $1 FOR UPDATE`, name).Scan(&prevCommand, &prev)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case restart:
			if _, err := tx.Exec(ctx, `DELETE FROM tenantmover.runs WHERE name = $1`, name); err != nil {
				return err
			}
		case prevCommand != command || !sameJSON(prev, opts):
			return &ErrOptionsChanged{Run: name, Previous: prev, Current: opts}
		default:
			run.Resumed = true
			_, err := tx.Exec(ctx, `UPDATE tenantmover.runs SET status = 'running', updated_at = now(), resumed_at = now() WHERE name = $1`, name)
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO tenantmover.runs (name, command, options) VALUES ($1, $2, $3)`, name, command, opts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("starting run %q: %w", name, err)
	}
	return run, nil
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// Lock takes the run's advisory lock on a dedicated connection and keeps it
// until unlock is called or the process dies. It waits up to LockWait for a
// holder that is going away (the session of a process killed a moment ago
// ends asynchronously), then fails with ErrRunLocked naming the holder.
func (s *Store) Lock(ctx context.Context, name string) (unlock func(), err error) {
	return s.lock(ctx, name, LockWait, &ErrRunLocked{Run: name})
}

// lock takes the advisory lock of key on a dedicated connection, waiting
// up to wait (0: until ctx ends); locked is the error when another session
// holds it.
func (s *Store) lock(ctx context.Context, key string, wait time.Duration, locked *ErrRunLocked) (unlock func(), err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	if err := waitAdvisoryLock(ctx, conn.Conn(), key, wait, locked); err != nil {
		conn.Release()
		return nil, err
	}
	return func() {
		// Destroying the connection releases the lock even if ctx is done.
		_ = conn.Conn().Close(context.Background())
		conn.Release()
	}, nil
}

// LockWait is how long Lock waits for another holder to let go.
const LockWait = 5 * time.Second

func waitAdvisoryLock(ctx context.Context, conn *pgx.Conn, key string, wait time.Duration, locked *ErrRunLocked) error {
	_, err := conn.Exec(ctx, `SELECT set_config('lock_timeout', $1, false)`, fmt.Sprint(wait.Milliseconds()))
	if err == nil {
		_, err = conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockSpace, lockKey(key))
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.LockNotAvailable {
		_ = conn.QueryRow(ctx, `SELECT a.pid, format('pid %s, %s from %s, since %s', a.pid, a.application_name, coalesce(a.client_addr::text, 'local'), date_trunc('second', a.backend_start))
			FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int::oid AND l.objid = $2::int::oid
			  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1`,
			lockSpace, lockKey(key)).Scan(&locked.PID, &locked.Holder)
		return locked
	}
	if err != nil {
		return fmt.Errorf("locking run %q: %w", locked.Run, err)
	}
	// Back to the connection's own lock_timeout.
	_, err = conn.Exec(ctx, `RESET lock_timeout`)
	return err
}

// lockSpace is the first key of tenantmover's advisory locks, so they do not
// collide with the application's single-key locks.
const lockSpace = int32(0x746d) // "tm"

func lockKey(name string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return int32(h.Sum32())
}

// SetPhase records the phase the run is in: the one working now, or the
// last one that worked.
func (r *Run) SetPhase(ctx context.Context, phase string) error {
	_, err := r.store.pool.Exec(ctx, `UPDATE tenantmover.runs SET phase = $2, updated_at = now() WHERE name = $1`, r.Name, phase)
	return err
}

// Phase returns the phase the run last recorded.
func (r *Run) Phase(ctx context.Context) (string, error) {
	var p string
	err := r.store.pool.QueryRow(ctx, `SELECT phase FROM tenantmover.runs WHERE name = $1`, r.Name).Scan(&p)
	return p, err
}

// Status returns the run's recorded status (running, done, ...).
func (r *Run) Status(ctx context.Context) (string, error) {
	var s string
	err := r.store.pool.QueryRow(ctx, `SELECT status FROM tenantmover.runs WHERE name = $1`, r.Name).Scan(&s)
	return s, err
}

// Finish marks the run finished (status "done") or failed.
func (r *Run) Finish(ctx context.Context, status string) error {
	// The finish time is bound, not a CASE around now(): on Citus the
	// checkpoint tables are reference tables, whose updates take only
	// immutable functions inside CASE.
	var finished *time.Time
	if status == Done {
		now := time.Now()
		finished = &now
	}
	windows := 0 // the time windows the run used up (status shows them as nights)
	if status == Paused {
		windows = 1
	}
	_, err := r.store.pool.Exec(ctx, `UPDATE tenantmover.runs SET status = $2, updated_at = now(), finished_at = $3, windows = windows + $4 WHERE name = $1`,
		r.Name, status, finished, windows)
	return err
}

// RecordEnd records how a command's run ended (EndState of err). It writes
// on a context of its own (ctx may be cancelled) and best effort: committed
// work stays done whatever status is recorded; the status is what
// tenantmover status shows.
func (r *Run) RecordEnd(ctx context.Context, err error) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = r.Finish(fctx, EndState(ctx, err))
}
