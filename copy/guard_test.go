package pgcopy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/sample"
)

func tinyMonolith() sample.Params {
	p := sample.Small()
	p.Purchases, p.Refunds = 5_000, 500
	return p
}

// Rows already on the target that no checkpoint accounts for are refused
// before anything is copied; --restart says what it empties, empties it and
// copies everything.
func TestForeignRowsRefusedThenRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL, src, dst, p := monolithPair(t, tinyMonolith())
	pgtest.Exec(t, dst, "INSERT INTO auth_user (id, username) VALUES (7, 'copied by hand')")
	pgtest.Exec(t, dst, "INSERT INTO store (id, name) VALUES (3, 'by hand'); INSERT INTO product (id, store_id) VALUES (4000, 3)")

	_, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{ChunkRows: 500}, nil)
	var refused *pgcopy.ErrTargetNotEmpty
	require.ErrorAs(t, err, &refused)
	var tables []string
	for _, f := range refused.Tables {
		tables = append(tables, f.Table)
	}
	require.Equal(t, []string{"public.auth_user", "public.store", "public.product"}, tables)
	require.Contains(t, err.Error(), "--restart")
	require.Contains(t, err.Error(), "public.product (chunk 3 [1501, +inf))", "product 4000 is past the last boundary")
	require.EqualValues(t, 1, pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM store"), "nothing copied")
	require.EqualValues(t, 0, pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM tenantmover.units WHERE state = 'done'"))

	var ev events
	rep, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{ChunkRows: 500}, ev.add, runAs{restart: true})
	require.NoError(t, err)
	require.Len(t, rep.Truncated, 8)
	require.Equal(t, "public.refund", rep.Truncated[0], "children listed first")
	notes := ev.of(phase.Note)
	require.Len(t, notes, 1)
	require.Equal(t, "restart: emptying "+strings.Join(rep.Truncated, ", "), notes[0].Message)
	requireSame(t, src, dst, p)
}

// A second run under another name finds the first run's rows and refuses.
func TestOtherRunsRowsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL, _, _, p := monolithPair(t, tinyMonolith())
	_, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{}, nil, runAs{name: "first"})
	require.NoError(t, err)
	_, err = copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{}, nil, runAs{name: "second"})
	var refused *pgcopy.ErrTargetNotEmpty
	require.ErrorAs(t, err, &refused)
	require.Len(t, refused.Tables, 8)
	require.True(t, strings.Contains(err.Error(), `run "second" did not copy`), err.Error())
}

// A dry run lists every chunk with its SQL and writes nothing, not even the
// checkpoint schema.
func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL, _, dst, p := monolithPair(t, tinyMonolith())
	rep, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{ChunkRows: 1000, DryRun: true}, nil)
	require.NoError(t, err)
	require.True(t, rep.DryRun)
	var purchase []pgcopy.PlannedChunk
	for _, c := range rep.Chunks {
		if c.Table == "public.purchase" {
			purchase = append(purchase, c)
		}
	}
	require.Len(t, purchase, 5)
	require.Nil(t, purchase[0].Lo)
	require.Nil(t, purchase[4].Hi)
	require.Equal(t, purchase[0].Hi, purchase[1].Lo)
	require.Equal(t, `COPY (SELECT "id", "product_id", "ordered_at", "billing_address", "shipping_address", "amount", "store_id" FROM ONLY "public"."purchase" WHERE "id" >= '1001'::bigint AND "id" < '2001'::bigint) TO STDOUT (FORMAT binary)`, purchase[1].SQL[0])
	require.Equal(t, `COPY "public"."purchase" ("id", "product_id", "ordered_at", "billing_address", "shipping_address", "amount", "store_id") FROM STDIN (FORMAT binary)`, purchase[1].SQL[1])
	require.False(t, hasSchema(t, dst, "tenantmover"))
	require.EqualValues(t, 0, pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM purchase"))
}
