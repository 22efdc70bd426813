package pgcopy

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// copyTenants copies each pending tenant of a tenant copy, Workers tenants
// at a time. A tenant is one unit across every distributed table: its rows
// of all of them travel in one target transaction, so it arrives whole or
// not at all (and on Citus, since its rows share one shard group, each COPY
// goes to one shard).
func (e *engine) copyTenants(ctx context.Context, jobs []*job) error {
	if len(jobs) == 0 {
		return nil
	}
	type tenant struct {
		id   int
		jobs []*job
	}
	var todo []tenant
	for id := range e.cfg.Tenants {
		pending, err := pendingFor(jobs, id)
		if err != nil {
			return err
		}
		if len(pending) > 0 {
			todo = append(todo, tenant{id, pending})
		}
		for _, j := range pending {
			e.tableStarted(j)
		}
	}
	err := phase.Each(ctx, e.env.Window, e.cfg.Workers, len(todo), func(ctx context.Context, i int) error {
		return e.copyTenant(ctx, todo[i].jobs, todo[i].id)
	})
	if err != nil {
		return err
	}
	for _, j := range jobs {
		e.tableFinished(j)
	}
	return nil
}

// pendingFor lists the tables (in plan order) whose unit id is not done.
func pendingFor(jobs []*job, id int) ([]*job, error) {
	var out []*job
	for _, j := range jobs {
		if id >= len(j.units) || j.units[id].ID != id {
			return nil, fmt.Errorf("checkpoints of %s do not match the tenant list: rerun with --restart", j.key)
		}
		if j.units[id].State != checkpoints.Done {
			out = append(out, j)
		}
	}
	return out, nil
}

// copyTenant copies one tenant, retrying like a chunk.
func (e *engine) copyTenant(ctx context.Context, jobs []*job, id int) error {
	u := jobs[0].units[id]
	counts := make([][2]int64, len(jobs))
	err := e.retry(ctx, jobs[0], u, func(ctx context.Context) error {
		return e.tenantAttempt(ctx, jobs, u, counts)
	}, func(checkpoints.Unit) { clear(counts) })
	if err != nil {
		return &ChunkError{Table: jobs[0].key, Chunk: id, Range: u.Describe(), Err: err}
	}
	var rows, bytes int64
	for i := range jobs {
		rows, bytes = rows+counts[i][0], bytes+counts[i][1]
	}
	err = e.env.Window.Take(ctx, rows, bytes) // before the report, as a chunk's
	for i, j := range jobs {
		e.chunkDone(j, id, counts[i][0], counts[i][1])
	}
	return err
}

// tenantAttempt copies a tenant's rows of every table from one source
// snapshot into one target transaction; with replace, the tenant's target
// rows are deleted first, children before parents so foreign keys (which
// on the target include the tenant column) never see an orphan.
func (e *engine) tenantAttempt(ctx context.Context, jobs []*job, u checkpoints.Unit, counts [][2]int64) error {
	srcTx, err := e.src.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer rollback(srcTx)
	tx, err := e.dst.Begin(ctx)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer rollback(tx)
	if e.replace {
		for i := len(jobs) - 1; i >= 0; i-- {
			j := jobs[i]
			v := phase.Params()
			if _, err := tx.Exec(ctx, "DELETE FROM "+j.name.Quoted()+" WHERE "+tenantCond(v, *j.tenant, u.Tenant), v.Args...); err != nil {
				return fmt.Errorf("deleting %s from %s: %w", u.Describe(), j.key, err)
			}
		}
	}
	for i, j := range jobs {
		rows, bytes, err := stream(ctx, srcTx.Conn().PgConn(), tx.Conn().PgConn(),
			j.copyOut(j.unitCond(phase.Literals(), u)), j.copyIn(), e.midChunkHook(j, u.ID))
		if err != nil {
			return fmt.Errorf("%s: %w", j.key, err)
		}
		if err := e.run.Complete(ctx, tx, Name, j.key, u.ID, rows, bytes); err != nil {
			return err
		}
		counts[i] = [2]int64{rows, bytes}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}
