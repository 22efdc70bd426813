package schema_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// BenchmarkLoad500Tables compares schema.Load on a 500-table schema with
// the per-table introspection it replaces (one round of catalog queries per
// table, as an ORM-style tool would do), measured in the same run, and
// reports the ratio.
func BenchmarkLoad500Tables(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.Pool(b, env.NewDB(b))
	var ddl strings.Builder
	ddl.WriteString("CREATE TABLE t0 (id bigserial PRIMARY KEY);\n")
	for i := 1; i < 500; i++ {
		fmt.Fprintf(&ddl, "CREATE TABLE t%d (id bigserial PRIMARY KEY, p bigint NOT NULL REFERENCES t%d, v text UNIQUE, n int CHECK (n > 0), at timestamptz DEFAULT now());\n", i, i-1)
		fmt.Fprintf(&ddl, "CREATE INDEX ON t%d (p, at);\n", i)
	}
	pgtest.Exec(b, pool, ddl.String())

	var tool, baseline time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		cat, err := schema.Load(ctx, pool, nil)
		require.NoError(b, err)
		require.Len(b, cat.Tables, 500)
		tool += time.Since(start)

		start = time.Now()
		require.NoError(b, perTable(ctx, pool))
		baseline += time.Since(start)
	}
	b.ReportMetric(float64(tool.Milliseconds())/float64(b.N), "load-ms/op")
	b.ReportMetric(float64(baseline.Milliseconds())/float64(b.N), "per-table-ms/op")
	b.ReportMetric(float64(baseline)/float64(tool), "speedup")
}

// perTable is the baseline: the table list, then columns, constraints,
// indexes and size table by table (sequences, partitions and types left
// out, which favours the baseline).
func perTable(ctx context.Context, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r'`)
	if err != nil {
		return err
	}
	var oids []uint32
	for rows.Next() {
		var o uint32
		if err := rows.Scan(&o); err != nil {
			return err
		}
		oids = append(oids, o)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, o := range oids {
		for _, q := range []string{
			`SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped`,
			`SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1`,
			`SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = $1`,
			`SELECT reltuples, pg_total_relation_size(oid) FROM pg_class WHERE oid = $1`,
		} {
			r, err := pool.Query(ctx, q, o)
			if err != nil {
				return err
			}
			r.Close()
			if r.Err() != nil {
				return r.Err()
			}
		}
	}
	return nil
}
