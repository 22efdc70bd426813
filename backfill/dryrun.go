package backfill

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/internal/phase"
)

// dryRun reports, per table, the statements a backfill would run and the
// rows it would walk, and changes nothing (it does not even create the
// checkpoint schema).
func dryRun(ctx context.Context, pool *pgxpool.Pool, env *phase.Env, tgts []*target, cfg Config) (*Report, error) {
	rep := &Report{Summary: phase.Summary{Phase: Name, Run: env.Run}, DryRun: true, Column: env.Plan.TenantColumn, TriggersKept: cfg.KeepTriggers}
	for _, t := range tgts {
		rows, err := estimateRows(ctx, pool, t)
		if err != nil {
			return nil, err
		}
		parents, parentCols := t.parentNames()
		tr := &TableReport{Table: t.name, Column: t.column, Parent: parents, ParentColumn: parentCols, EstimatedRows: rows}
		typ, err := columnType(ctx, pool, t)
		if err != nil {
			return nil, err
		}
		if typ == "" {
			tr.DDL = append(tr.DDL, t.addColumnSQL())
		} else {
			tr.Note = fmt.Sprintf("column %s exists (%s)", t.column, typ)
		}
		tr.DDL = append(tr.DDL, t.functionSQL(), t.createTriggerSQL())
		tr.DDL = append(tr.DDL, t.indexSQL())
		if cfg.SetNotNull {
			add, validate, set := t.notNullSQL()
			tr.DDL = append(tr.DDL, add, validate)
			tr.DDL = append(tr.DDL, set...)
		}
		if !cfg.KeepTriggers {
			tr.DDL = append(tr.DDL, t.dropTriggerSQL()...)
		}
		// The SQL of a batch in the middle of a unit: its values are the
		// same bind parameters whatever the keys.
		mid := phase.Range{Lo: make([]string, len(t.key)), Hi: make([]string, len(t.key))}
		ceiling := make([]string, len(t.key))
		tr.BatchSQL = []string{t.boundarySQL(mid, ceiling, 0, phase.Params())}
		for _, b := range t.branches {
			tr.BatchSQL = append(tr.BatchSQL, t.updateSQL(b, mid, ceiling, phase.Params()))
		}
		rep.Tables = append(rep.Tables, tr)
	}
	return rep, nil
}
