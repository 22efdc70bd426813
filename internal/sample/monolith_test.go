package sample_test

import (
	"context"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/sample"
)

var env pgtest.Env

func TestMain(m *testing.M) { env.Main(m) }

func generate(t *testing.T, p sample.Params) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.Pool(t, env.NewDB(t))
	require.NoError(t, sample.Generate(context.Background(), pool, p))
	return pool
}

// tiny is the smallest monolith with every table populated.
func tiny() sample.Params {
	return sample.Params{Stores: 3, Products: 10, Purchases: 30, Refunds: 5, Companies: 2, Users: 4,
		CampaignsPerCompany: 2, MembershipsPerCompany: 3, Skew: 1, Seed: 1}
}

func TestGenerateMakesExactCounts(t *testing.T) {
	t.Parallel()
	p := sample.Small()
	pool := generate(t, p)
	counts, err := sample.Counts(context.Background(), pool)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{
		"store": int64(p.Stores), "product": int64(p.Products), "purchase": int64(p.Purchases), "refund": int64(p.Refunds),
		"company": int64(p.Companies), "auth_user": int64(p.Users),
		"campaign":      int64(p.Companies * p.CampaignsPerCompany),
		"company_users": int64(p.Companies * p.MembershipsPerCompany),
	}, counts)
}

// purchasesPerStore returns every store's purchase count, largest first
// (stores without purchases count as 0).
func purchasesPerStore(t *testing.T, pool *pgxpool.Pool) []int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT count(pu.id) FROM store s
		LEFT JOIN product p ON p.store_id = s.id
		LEFT JOIN purchase pu ON pu.product_id = p.id
		GROUP BY s.id`)
	require.NoError(t, err)
	counts, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	sort.Slice(counts, func(i, j int) bool { return counts[i] > counts[j] })
	return counts
}

func TestTenantSizesAreSkewed(t *testing.T) {
	t.Parallel()
	p := sample.Small()
	counts := purchasesPerStore(t, generate(t, p))
	require.Len(t, counts, p.Stores)

	// What the model promises for these parameters (package doc).
	n := p.Stores
	wantRatio := sample.Share(n, p.Skew, 1) / sample.Share(n, p.Skew, (n+1)/2)
	k := int(math.Ceil(float64(n) / 10))
	wantTop := sample.TopShare(n, p.Skew, k)
	require.Greater(t, wantRatio, 4.0, "Small() should have a few huge stores")
	require.Greater(t, wantTop, 0.3, "Small()'s top decile should hold well over 10%")

	// The data keeps at least most of the promise (sampling noise aside).
	median := counts[len(counts)/2]
	require.Positive(t, median)
	ratio := float64(counts[0]) / float64(median)
	require.Greater(t, ratio, wantRatio/2, "largest store %d purchases, median %d", counts[0], median)
	var top int64
	for _, c := range counts[:k] {
		top += c
	}
	share := float64(top) / float64(p.Purchases)
	require.Greater(t, share, 0.8*wantTop, "top %d stores hold %.1f%% of purchases", k, 100*share)
}

func TestZeroSkewIsUniform(t *testing.T) {
	t.Parallel()
	p := sample.Small()
	p.Skew, p.Refunds, p.Companies = 0, 0, 0
	counts := purchasesPerStore(t, generate(t, p))
	// Uniform: 400 purchases a store on average; the largest is nowhere near
	// the several-fold excess a skewed load has.
	require.Less(t, float64(counts[0])/float64(counts[len(counts)/2]), 2.0)
}

// checksums hashes every table's rows in id order.
func checksums(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for _, table := range sample.Tables() {
		q := "SELECT md5(string_agg(t::text, E'\\n' ORDER BY id)) FROM " + pgx.Identifier{table}.Sanitize() + " t"
		sums[table] = pgtest.Scalar[string](t, pool, q)
	}
	return sums
}

func TestSameSeedSameData(t *testing.T) {
	t.Parallel()
	p := sample.Small()
	a := checksums(t, generate(t, p))
	b := checksums(t, generate(t, p))
	require.Equal(t, a, b)

	p.Seed = 0.43
	c := checksums(t, generate(t, p))
	for _, table := range sample.Tables() {
		require.NotEqual(t, a[table], c[table], "table %s should change with the seed", table)
	}
}

func TestForeignKeysHold(t *testing.T) {
	t.Parallel()
	pool := generate(t, sample.Small())
	ctx := context.Background()

	var fks, validated int
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE convalidated) FROM pg_constraint
		WHERE contype = 'f' AND connamespace = current_schema()::regnamespace`).Scan(&fks, &validated))
	require.Equal(t, 6, fks)
	require.Equal(t, fks, validated)

	// And check the data directly, not only the catalog's word for it.
	orphans := map[string]string{
		"product.store_id":         `SELECT count(*) FROM product c WHERE NOT EXISTS (SELECT FROM store p WHERE p.id = c.store_id)`,
		"purchase.product_id":      `SELECT count(*) FROM purchase c WHERE NOT EXISTS (SELECT FROM product p WHERE p.id = c.product_id)`,
		"refund.purchase_id":       `SELECT count(*) FROM refund c WHERE NOT EXISTS (SELECT FROM purchase p WHERE p.id = c.purchase_id)`,
		"campaign.company_id":      `SELECT count(*) FROM campaign c WHERE NOT EXISTS (SELECT FROM company p WHERE p.id = c.company_id)`,
		"company_users.company_id": `SELECT count(*) FROM company_users c WHERE NOT EXISTS (SELECT FROM company p WHERE p.id = c.company_id)`,
		"company_users.user_id":    `SELECT count(*) FROM company_users c WHERE NOT EXISTS (SELECT FROM auth_user p WHERE p.id = c.user_id)`,
	}
	for fk, q := range orphans {
		require.Zero(t, pgtest.Scalar[int64](t, pool, q), "orphans in %s", fk)
	}
}

func TestGeneratedSchemaIsUsable(t *testing.T) {
	t.Parallel()
	p := tiny()
	pool := generate(t, p)
	ctx := context.Background()

	// Sequences are past the generated ids, so the application can insert.
	var id int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO store (name) VALUES ('new') RETURNING id`).Scan(&id))
	require.Equal(t, int64(p.Stores+1), id)

	// Statistics are there for reltuples-based estimates.
	var reltuples float64
	require.NoError(t, pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'purchase'::regclass`).Scan(&reltuples))
	require.Equal(t, float64(p.Purchases), reltuples)

	// A second Generate refuses to overwrite; after Drop it works again.
	require.Error(t, sample.Generate(ctx, pool, p))
	require.NoError(t, sample.Drop(ctx, pool))
	require.NoError(t, sample.Generate(ctx, pool, p))
}

func TestSchemaDDLCreatesTheSameTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, env.NewDB(t))
	pgtest.Exec(t, pool, sample.Schema())
	counts, err := sample.Counts(ctx, pool)
	require.NoError(t, err)
	require.Len(t, counts, len(sample.Tables()))
}

func TestDataHasValuesWorthRoundTripping(t *testing.T) {
	t.Parallel()
	pool := generate(t, sample.Small())
	checks := map[string]string{
		"NULL url":               `SELECT count(*) FROM store WHERE url IS NULL`,
		"NULL description":       `SELECT count(*) FROM product WHERE description IS NULL`,
		"empty description":      `SELECT count(*) FROM product WHERE description = ''`,
		"NULL attrs":             `SELECT count(*) FROM product WHERE attrs IS NULL`,
		"json null inside attrs": `SELECT count(*) FROM product WHERE attrs->'note' = 'null'::jsonb`,
		"newline":                `SELECT count(*) FROM purchase WHERE billing_address LIKE '%' || chr(10) || '%'`,
		"backslash":              `SELECT count(*) FROM product WHERE description LIKE '%\\%'`,
		"double quote":           `SELECT count(*) FROM store WHERE name LIKE '%"%'`,
		"non-ASCII":              `SELECT count(*) FROM product WHERE name ~ '[^\x01-\x7e]'`,
		"NULL shipping":          `SELECT count(*) FROM purchase WHERE shipping_address IS NULL`,
		"microseconds":           `SELECT count(*) FROM purchase WHERE extract(microseconds FROM ordered_at)::int % 1000 <> 0`,
		"cents":                  `SELECT count(*) FROM purchase WHERE amount <> trunc(amount)`,
		"NULL reason":            `SELECT count(*) FROM refund WHERE reason IS NULL`,
		"NULL budget":            `SELECT count(*) FROM campaign WHERE budget IS NULL`,
	}
	for what, q := range checks {
		require.Positive(t, pgtest.Scalar[int64](t, pool, q), "no rows with %s", what)
	}
}

func TestProgressReportsEveryStep(t *testing.T) {
	t.Parallel()
	// Every step is reported exactly once, also with parallel workers.
	pool := pgtest.Pool(t, env.NewDB(t))
	steps := map[string]int{}
	err := sample.Generate(context.Background(), pool, tiny(), sample.WithWorkers(3),
		sample.WithProgress(func(step string, _ time.Duration) { steps[step]++ }))
	require.NoError(t, err)
	want := map[string]int{"schema": 1, "constraints": 1, "analyze": 1}
	for _, table := range sample.Tables() {
		want[table] = 1
	}
	require.Equal(t, want, steps)
}

func TestSizes(t *testing.T) {
	t.Parallel()
	for _, name := range sample.SizeNames() {
		p, err := sample.Size(name)
		require.NoError(t, err, name)
		require.NoError(t, p.Validate(), name)
	}
	require.Equal(t, []string{"small", "medium", "large"}, sample.SizeNames())
	small, err := sample.Size("Small")
	require.NoError(t, err)
	require.Equal(t, sample.Small(), small)
	large, err := sample.Size("large")
	require.NoError(t, err)
	require.Equal(t, 5_000_000, large.Purchases)
	_, err = sample.Size("huge")
	require.ErrorContains(t, err, "small, medium, large")

	bad := tiny()
	bad.MembershipsPerCompany = bad.Users + 1
	bad.Stores = 0
	err = bad.Validate()
	require.ErrorContains(t, err, "memberships per company")
	require.ErrorContains(t, err, "stores must be at least 1")
}

func TestShareSumsToOne(t *testing.T) {
	t.Parallel()
	for _, s := range []float64{0, 0.5, 1, 1.5, 3} {
		require.InDelta(t, 1.0, sample.TopShare(50, s, 50), 1e-9, "skew %v", s)
		require.InDelta(t, sample.Share(50, s, 1), sample.TopShare(50, s, 1), 1e-12)
		require.GreaterOrEqual(t, sample.Share(50, s, 1), sample.Share(50, s, 2), "skew %v", s)
	}
	require.InDelta(t, 0.02, sample.Share(50, 0, 7), 1e-9)
}
