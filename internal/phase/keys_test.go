package phase_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
)

var env pgtest.Env

func TestMain(m *testing.M) { env.Main(m) }

func TestRangeString(t *testing.T) {
	require.Equal(t, "[-inf, +inf)", phase.Range{}.String())
	require.Equal(t, "[1, 500)", phase.Range{Lo: []string{"1"}, Hi: []string{"500"}}.String())
	require.Equal(t, "[(1, a b), +inf)", phase.Range{Lo: []string{"1", "a b"}}.String())
	require.True(t, phase.Range{}.All())
	require.Len(t, phase.Partition(nil), 1)
	require.True(t, phase.Partition(nil)[0].All())
}

// The one convention: a table's ranges, cut anywhere (at keys that exist
// and at keys that do not), partition its keys. Each row lies in exactly
// one range, whatever the key's type: integer, text with quotes and
// capitals, uuid, and a composite of them. Lo is in its range, Hi is not,
// and the literal rendering for COPY selects the same rows as the bind
// parameters.
func TestRangesPartitionKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, env.NewDB(t))
	pgtest.Exec(t, pool, `CREATE TABLE "Keys" (n bigint, "Label" text, u uuid, PRIMARY KEY (n, "Label", u))`)
	pgtest.Exec(t, pool, `INSERT INTO "Keys" SELECT i % 7, CASE WHEN i % 3 = 0 THEN 'it''s ' || i ELSE 'Z' || i END, md5(i::text)::uuid
		FROM generate_series(1, 500) i`)
	key := []phase.Column{{Name: "n", Type: "bigint"}, {Name: "Label", Type: "text"}, {Name: "u", Type: "uuid"}}
	// Cut points: every 101st existing key and two keys that do not exist,
	// put in key order by the server (its collation orders the text).
	rows, err := pool.Query(ctx, `SELECT n::text, l, u::text FROM (
		SELECT n, "Label" AS l, u FROM (SELECT *, row_number() OVER (ORDER BY n, "Label", u) AS r FROM "Keys") s WHERE r % 101 = 37
		UNION ALL VALUES (3::bigint, 'M', '00000000-0000-0000-0000-000000000000'::uuid), (6, 'zz', 'ffffffff-ffff-ffff-ffff-ffffffffffff')) c
		ORDER BY n, l, u`)
	require.NoError(t, err)
	var cuts [][]string
	for rows.Next() {
		c := make([]string, 3)
		require.NoError(t, rows.Scan(&c[0], &c[1], &c[2]))
		cuts = append(cuts, c)
	}
	require.NoError(t, rows.Err())
	require.Len(t, cuts, 7)
	ranges := phase.Partition(cuts)
	require.Len(t, ranges, len(cuts)+1)

	expr := phase.KeyExpr("k", key)
	for _, r := range ranges {
		v := phase.Params()
		cond := r.Where(expr, key, v)
		if cond == "" {
			cond = "true"
		}
		lit := r.Where(expr, key, phase.Literals())
		if lit == "" {
			lit = "true"
		}
		var params, literals int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM "Keys" k WHERE `+cond, v.Args...).Scan(&params))
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM "Keys" k WHERE `+lit).Scan(&literals))
		require.Equal(t, params, literals, "range %s: parameters and literals select the same rows", r)
	}
	// Every row in exactly one range: the first matching range of each row
	// is also its only matching range.
	var multiple, unmatched int64
	var matches []string
	for _, r := range ranges {
		c := r.Where(expr, key, phase.Literals())
		if c == "" {
			c = "true"
		}
		matches = append(matches, "("+c+")::int")
	}
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE m > 1), count(*) FILTER (WHERE m = 0)
		FROM (SELECT `+strings.Join(matches, " + ")+` AS m FROM "Keys" k) s`).Scan(&multiple, &unmatched))
	require.Zero(t, multiple, "rows in more than one range")
	require.Zero(t, unmatched, "rows in no range")
	// Lo is inside its range, Hi outside: the cut key itself falls in the
	// range that starts at it.
	first := phase.Range{Lo: cuts[0], Hi: cuts[1]}
	v := phase.Params()
	var loIn, hiIn bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT bool_or(`+phase.KeyExpr("k", key)+` = `+phase.Literals().Key(key, cuts[0])+`),
		bool_or(`+phase.KeyExpr("k", key)+` = `+phase.Literals().Key(key, cuts[1])+`) FROM "Keys" k WHERE `+first.Where(expr, key, v), v.Args...).Scan(&loIn, &hiIn))
	require.True(t, loIn, "Lo is in the range")
	require.False(t, hiIn, "Hi is not")
}
