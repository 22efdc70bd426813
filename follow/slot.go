package follow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// replConnect opens a replication connection (replication=database) to url.
func replConnect(ctx context.Context, url string) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	cfg.RuntimeParams["replication"] = "database"
	cfg.RuntimeParams["application_name"] = "tenantmover follow"
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("source: opening a replication connection: %s", db.RedactError(err))
	}
	return conn, nil
}

// exported is a slot just created, with the snapshot it exported: the
// snapshot lives as long as conn runs no other command.
type exported struct {
	conn     *pgconn.PgConn
	snapshot string
	lsn      pglogrepl.LSN
}

func (e *exported) close() {
	if e != nil && e.conn != nil {
		_ = e.conn.Close(context.Background())
	}
}

// createSlot creates the stream's logical slot (pgoutput), exporting its
// snapshot: the state of the source at the slot's consistent point.
func createSlot(ctx context.Context, url, slot string) (*exported, error) {
	conn, err := replConnect(ctx, url)
	if err != nil {
		return nil, err
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, conn, slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT"})
	if err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("source: creating replication slot %s: %w", slot, err)
	}
	lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		_ = conn.Close(ctx)
		return nil, err
	}
	return &exported{conn: conn, snapshot: res.SnapshotName, lsn: lsn}, nil
}

// dropSlot drops slot if it exists, ending the session that uses it (a
// follower of an abandoned run, or one a crash left behind).
func dropSlot(ctx context.Context, src *pgxpool.Pool, slot string) error {
	for attempt := 0; ; attempt++ {
		var active *int32
		var exists bool
		err := src.QueryRow(ctx, `SELECT true, active_pid FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&exists, &active)
		if err != nil && !strings.Contains(err.Error(), "no rows") {
			return fmt.Errorf("source: reading slot %s: %w", slot, err)
		}
		if !exists {
			return nil
		}
		if active != nil {
			_, _ = src.Exec(ctx, `SELECT pg_terminate_backend($1)`, *active)
		}
		_, err = src.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, slot)
		if err == nil || attempt >= 50 {
			if err != nil {
				return fmt.Errorf("source: dropping replication slot %s: %w", slot, err)
			}
			return nil
		}
		// The terminated walsender releases the slot asynchronously.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// createPublication (re)creates the stream's publication for the planned
// tables (changes of other tables never leave the source).
func createPublication(ctx context.Context, src *pgxpool.Pool, pub string, tables []*plan.Table) error {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Name().Quoted()
	}
	stmt := fmt.Sprintf("DROP PUBLICATION IF EXISTS %s; CREATE PUBLICATION %s FOR TABLE %s",
		db.Ident(pub), db.Ident(pub), strings.Join(names, ", "))
	if _, err := src.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("source: creating publication %s: %w", pub, err)
	}
	return nil
}

func dropPublication(ctx context.Context, src *pgxpool.Pool, pub string) error {
	if _, err := src.Exec(ctx, "DROP PUBLICATION IF EXISTS "+db.Ident(pub)); err != nil {
		return fmt.Errorf("source: dropping publication %s: %w", pub, err)
	}
	return nil
}

// needsFullIdentity lists the distributed tables whose replica identity
// lacks the tenant column: without it, a delete or an update that moves a
// row to another tenant would not say which tenant (which shard) the old
// row is in on the target.
func needsFullIdentity(p *plan.Plan) []*plan.Table {
	var out []*plan.Table
	for _, t := range p.Distributed() {
		if t.Source.ReplicaIdentity == "f" {
			continue
		}
		pk := t.Source.PrimaryKey
		if t.Source.ReplicaIdentity == "d" && pk != nil && contains(pk.Columns, t.TenantColumn) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// setFullIdentity sets REPLICA IDENTITY FULL on tables (a catalog change
// taken under a short lock, retried) and returns their names.
func setFullIdentity(ctx context.Context, src *pgxpool.Pool, tables []*plan.Table) ([]string, error) {
	var names []string
	for _, t := range tables {
		stmt := fmt.Sprintf("SET lock_timeout = '5s'; ALTER TABLE %s REPLICA IDENTITY FULL; RESET lock_timeout", t.Name().Quoted())
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			if _, err = src.Exec(ctx, stmt); err == nil {
				break
			}
		}
		if err != nil {
			return names, fmt.Errorf("source: setting REPLICA IDENTITY FULL on %s: %w", t.Name(), err)
		}
		names = append(names, t.Name().Quoted())
	}
	return names, nil
}

// restoreIdentity puts back the default replica identity of the tables a
// stream set to FULL.
func restoreIdentity(ctx context.Context, src *pgxpool.Pool, quoted []string) error {
	for _, q := range quoted {
		if _, err := src.Exec(ctx, fmt.Sprintf("ALTER TABLE %s REPLICA IDENTITY DEFAULT", q)); err != nil && !isUndefinedTable(err) {
			return fmt.Errorf("source: restoring the replica identity of %s: %w", q, err)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
