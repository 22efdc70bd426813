package ddl

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// Names of the target-schema phases of a migration.
const (
	SchemaPhaseName      = "schema"
	ForeignKeysPhaseName = "foreign-keys"
)

// SchemaPhase creates the target schema without its foreign keys, before
// the copy (foreign keys would slow it and need its parents first). On a
// restart the tables may hold rows of the run being restarted, which the
// restarted copy empties; tables the plan gained since are created all
// the same.
func SchemaPhase() phase.Phase {
	return phase.New(SchemaPhaseName, phase.Once, func(ctx context.Context, env *phase.Env) (phase.Result, error) {
		opts := []ApplyOption{WithoutForeignKeys()}
		res := phase.Result{Summary: phase.Summary{Phase: SchemaPhaseName}}
		if env.Restart {
			opts = append(opts, AllowingRows())
			res.Note = "the restarted copy empties the tables first"
		}
		return res, onTarget(ctx, env, func(pool *pgxpool.Pool) error { return Apply(ctx, pool, env.Plan, opts...) })
	})
}

// ForeignKeysPhase adds what goes in once the data is in: the target's
// foreign keys, the materialized views' refresh, triggers, row-level
// security and policies (not the ones WithoutTriggers leaves out).
func ForeignKeysPhase(opts ...ApplyOption) phase.Phase {
	return phase.New(ForeignKeysPhaseName, phase.Once, func(ctx context.Context, env *phase.Env) (phase.Result, error) {
		res := phase.Result{Summary: phase.Summary{Phase: ForeignKeysPhaseName}}
		return res, onTarget(ctx, env, func(pool *pgxpool.Pool) error { return ApplyForeignKeys(ctx, pool, env.Plan, opts...) })
	})
}

// onTarget calls fn with a pool on env.Target made for DDL: no statement
// timeout, since adding a foreign key validates every copied row.
func onTarget(ctx context.Context, env *phase.Env, fn func(*pgxpool.Pool) error) error {
	pool, err := db.Open(ctx, env.Target, db.ForProfile(db.ProfileScans))
	if err != nil {
		return err
	}
	defer pool.Close()
	return fn(pool)
}
