package pgcopy

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// snapshot is one source snapshot shared by every chunk a process copies,
// so the tables arrive as of one moment: a child row never references a
// parent row inserted after the parent's table was copied (the target's
// foreign keys would refuse it). It is exported by a transaction held open
// on a connection of its own until the copy ends; each chunk's source
// transaction imports it (SET TRANSACTION SNAPSHOT). Holding it keeps
// VACUUM from removing rows deleted since, as any long read does.
//
// A rerun after a crash exports a new snapshot: the chunks committed before
// it are as of the old one, the rest as of the new one.
type snapshot struct {
	id   string
	conn *pgxpool.Conn
}

// takeSnapshot uses the snapshot the config gives, or exports one.
func (e *engine) takeSnapshot(ctx context.Context) (*snapshot, error) {
	if e.cfg.Snapshot != "" {
		return &snapshot{id: e.cfg.Snapshot}, nil
	}
	return holdSnapshot(ctx, e.src)
}

// holdSnapshot exports the snapshot from a connection taken out of the pool.
func holdSnapshot(ctx context.Context, pool *pgxpool.Pool) (*snapshot, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	// The transaction stays idle while the chunks copy, for hours on a big
	// source: the phase's idle-in-transaction timeout must not end it.
	const begin = `SET idle_in_transaction_session_timeout = 0;
		BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`
	s := &snapshot{conn: conn}
	if _, err := conn.Exec(ctx, begin); err != nil {
		s.release()
		return nil, fmt.Errorf("source: starting the snapshot transaction: %w", err)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&s.id); err != nil {
		s.release()
		return nil, fmt.Errorf("source: exporting a snapshot: %w", err)
	}
	return s, nil
}

// importSQL makes a just-begun REPEATABLE READ transaction see the snapshot.
// SET takes no parameters; the id is the server's, quoted all the same.
func (s *snapshot) importSQL() string {
	return "SET TRANSACTION SNAPSHOT " + phase.QuoteLiteral(s.id)
}

// release ends the snapshot's transaction and closes its connection (it
// carries a session setting the pool's other users must not inherit).
func (s *snapshot) release() {
	if s == nil || s.conn == nil {
		return
	}
	_ = s.conn.Conn().Close(context.Background())
	s.conn.Release()
	s.conn = nil
}

// snapshotLost explains an import that failed because the exporting
// transaction is gone (its connection was closed or terminated): the run
// cannot go on as of the same moment, but a rerun continues with a new one.
func snapshotLost(err error) error {
	var pe *pgconn.PgError
	// 22023 when the snapshot's file is gone; 55000 ("could not import the
	// requested snapshot") when its transaction ended a moment before.
	if errors.As(err, &pe) && (pe.Code == pgerrcode.InvalidParameterValue || pe.Code == pgerrcode.ObjectNotInPrerequisiteState) {
		return fmt.Errorf("the source snapshot this run copies from is gone (its connection was closed): rerun to continue from a new snapshot; committed chunks are kept: %w", err)
	}
	return err
}
