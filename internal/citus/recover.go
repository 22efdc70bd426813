package citus

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// RecoverPrepared resolves the two-phase commits a crash left in doubt
// (a coordinator or worker that died between PREPARE and COMMIT PREPARED)
// and returns how many it resolved. Citus does this itself once a minute
// (citus.recover_2pc_interval); until then the rows of an in-doubt unit are
// invisible and its locks held, so a resumed copy would wait on them and a
// verify would report them missing. Without the privilege to run it, it
// does nothing and returns 0: Citus's own recovery still runs.
func RecoverPrepared(ctx context.Context, q Querier) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT pg_catalog.recover_prepared_transactions()`).Scan(&n)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgerrcode.InsufficientPrivilege {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("recovering prepared transactions: %w", err)
	}
	return n, nil
}
