package checkpoints

import (
	"context"
	"fmt"

	"github.com/tenantmover/tenantmover/internal/citus"
)

// checkpointTables are the checkpoint tables, referenced before referencing.
var checkpointTables = []string{"tenantmover.runs", "tenantmover.units", "tenantmover.tables", "tenantmover.phases", "tenantmover.streams", "tenantmover.stream_tenants", "tenantmover.stream_lanes", "tenantmover.parts"}

// onCitus makes the checkpoint tables Citus reference tables when the
// database is a Citus coordinator. That is what makes a unit exactly once
// whatever Citus decides: Citus uses two-phase commit only for a
// transaction that modifies more than one node (transaction_management.c,
// Activate2PCIfModifyingTransactionExpandsToNewNode), so a unit whose rows
// land on one worker, plus an update of a plain coordinator table, would
// commit on the worker first and could lose its checkpoint if the
// coordinator died before its own commit; the rerun would then do the unit
// again. A reference table has a placement on every node, so writing the
// checkpoint always makes the unit's transaction a multi-node one, which
// Citus commits with two-phase commit: data and checkpoint commit or
// roll back together, and a crash in between is resolved by Citus's
// recovery (see citus.RecoverPrepared).
func onCitus(ctx context.Context, pool Querier) error {
	v, err := citus.Detect(ctx, pool)
	if err != nil || v == "" {
		return err
	}
	for _, t := range checkpointTables {
		if err := referenceTable(ctx, pool, t); err != nil {
			return fmt.Errorf("making %s a Citus reference table: %w", t, err)
		}
	}
	return nil
}

// referenceTable makes table a reference table unless it is one. Two
// processes may race to it: the loser finds it done. A table that Citus
// made a local table of its own (a table created with a foreign key to a
// reference table is one: a checkpoint table that a newer layout adds to a
// store that is already on Citus) is made a reference table too: a Citus
// local table lives on the coordinator alone, which would bring back the
// single-node commit that reference tables avoid.
func referenceTable(ctx context.Context, pool Querier, table string) error {
	const known = `SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1::regclass
		AND partmethod = 'n' AND repmodel = 't')`
	var done bool
	if err := pool.QueryRow(ctx, known, table).Scan(&done); err != nil || done {
		return err
	}
	_, err := pool.Exec(ctx, `SELECT create_reference_table($1::regclass)`, table)
	if err != nil {
		if rerr := pool.QueryRow(ctx, known, table).Scan(&done); rerr == nil && done {
			return nil
		}
	}
	return err
}
