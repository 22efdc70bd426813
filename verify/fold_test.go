package verify_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/verify"
)

// foldSchema is a shop whose nested tables already carry their tenant:
// purchase reaches the store through product, review through purchase
// (a nullable key), and comments through posts or photos by type.
const foldSchema = `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE product (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE purchase (id bigint PRIMARY KEY, product_id bigint NOT NULL REFERENCES product, store_id bigint);
CREATE TABLE review (id bigint PRIMARY KEY, purchase_id bigint REFERENCES purchase, store_id bigint);
CREATE TABLE posts (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE photos (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE comments (id bigint PRIMARY KEY, commentable_type text, commentable_id bigint, store_id bigint);
` + foldRows

// foldRows are foldSchema's rows.
const foldRows = `
INSERT INTO store VALUES (1), (2), (3);
INSERT INTO product VALUES (10, 1), (11, 1), (20, 2), (30, 3);
INSERT INTO purchase VALUES (100, 10, 1), (101, 11, 1), (102, 20, 2), (103, 20, 2), (104, 30, 3);
INSERT INTO review VALUES (1000, 100, 1), (1001, NULL, 1), (1002, 102, 2), (1003, 104, 3);
INSERT INTO posts VALUES (1, 1), (2, 2);
INSERT INTO photos VALUES (1, 2), (2, 1);
INSERT INTO comments VALUES (1, 'Post', 1, 1), (2, 'Photo', 1, 2), (3, 'Post', 2, 2), (4, 'Photo', 2, 1);`

// foldPair is a source and a plain target holding foldSchema, and its plan.
func foldPair(t *testing.T) (src, dst *pgxpool.Pool, p *plan.Plan) {
	t.Helper()
	return pairWith(t, foldSchema)
}

// pairWith is a source holding foldSchema, a plain target made by
// targetSQL, and the source's plan.
func pairWith(t *testing.T, targetSQL string) (src, dst *pgxpool.Pool, p *plan.Plan) {
	t.Helper()
	src, dst = open(t, env.NewDB(t)), open(t, env.NewDB(t))
	pgtest.Exec(t, src, foldSchema)
	pgtest.Exec(t, dst, targetSQL)
	p, err := plan.Build(context.Background(), src, plan.Config{TenantTable: "store", Relations: []string{
		"comments.commentable_id=posts.id when commentable_type=Post", "comments.commentable_id=photos.id when commentable_type=Photo"}})
	require.NoError(t, err)
	return src, dst, p
}

// invariantsOf returns the invariant differences of res, and fails on any
// other kind: the changes these tests make keep every tenant's count.
func invariantsOf(t *testing.T, res *verify.Result) map[string]verify.Difference {
	t.Helper()
	out := map[string]verify.Difference{}
	for _, d := range res.Differences {
		require.Equal(t, verify.KindInvariant, d.Kind, "%+v", d)
		require.NotContains(t, out, d.Table, "one difference per table: %+v", res.Differences)
		out[d.Table] = d
	}
	return out
}

func TestFoldedInvariantMatches(t *testing.T) {
	t.Parallel()
	src, dst, p := foldPair(t)
	res := run(t, src, dst, "", p, verify.Config{Checksum: true})
	require.True(t, res.Match, "a NULL key breaks nothing; photo comments are not compared with posts: %+v", res.Differences)
	for _, s := range res.Overview.Tables {
		require.Equal(t, s.SourceRows, s.TargetRows, s.Table)
	}
	// Every check is listed, in plan order, as run on the target.
	var checks []string
	for _, c := range res.Invariants {
		require.Equal(t, "target", c.Side, "%+v", c)
		require.True(t, c.Checked, "%+v", c)
		require.Zero(t, c.Violations, "%+v", c)
		checks = append(checks, c.Table+" → "+c.Parent+" "+c.When)
	}
	require.Equal(t, []string{"public.comments → public.photos commentable_type = Photo", "public.comments → public.posts commentable_type = Post",
		"public.purchase → public.product ", "public.review → public.purchase "}, checks)
}

// Each kind of violation on the target, with every tenant's count kept:
// a purchase moved to another tenant's product, a review whose purchase
// does not exist, a review without a tenant (which also changes counts),
// and a post comment pointing at another tenant's post. Each is named with
// its key and tenant.
func TestFoldedInvariantNamesEveryViolation(t *testing.T) {
	t.Parallel()
	src, dst, p := foldPair(t)
	pgtest.Exec(t, dst, `ALTER TABLE purchase DROP CONSTRAINT purchase_product_id_fkey;
		ALTER TABLE review DROP CONSTRAINT review_purchase_id_fkey;
		UPDATE purchase SET product_id = 30 WHERE id = 101;
		UPDATE review SET purchase_id = 999 WHERE id = 1002;
		UPDATE review SET store_id = NULL WHERE id = 1003;
		UPDATE comments SET commentable_id = 2 WHERE id = 1`)

	res := run(t, src, dst, "", p, verify.Config{})
	got := invariantsOf(t, &verify.Result{Differences: filter(res.Differences, verify.KindInvariant)})
	require.Len(t, got, 3, "%+v", res.Differences)
	// Each check that found violations on the target ran on the source
	// too, and found none there.
	violations := map[string]int64{}
	for _, c := range res.Invariants {
		require.True(t, c.Checked, "%+v", c)
		violations[c.Table+" → "+c.Parent+" "+c.Side] = c.Violations
	}
	require.Equal(t, map[string]int64{
		"public.purchase → public.product target": 1, "public.purchase → public.product source": 0,
		"public.review → public.purchase target": 2, "public.review → public.purchase source": 0,
		"public.comments → public.posts target": 1, "public.comments → public.posts source": 0,
		"public.comments → public.photos target": 0,
	}, violations)

	d := got["public.purchase"]
	require.Equal(t, int64(1), d.Target)
	require.Equal(t, []string{"101"}, d.Keys)
	require.Contains(t, d.Detail, "public.product")
	require.Contains(t, d.Detail, "in tenants 1")

	d = got["public.review"]
	require.Equal(t, int64(2), d.Target, "the orphan and the review without a tenant")
	require.ElementsMatch(t, []string{"1002", "1003"}, d.Keys)
	require.Contains(t, d.Detail, "in tenants NULL, 2")

	d = got["public.comments"]
	require.Equal(t, int64(1), d.Target)
	require.Equal(t, []string{"1"}, d.Keys)
	require.Contains(t, d.Detail, "public.posts")
}

// A parent without a unique key on the target cannot be joined without
// multiplying its children's counts: its check runs on its own, and still
// names the row.
func TestUnfoldedInvariantWithoutUniqueParent(t *testing.T) {
	t.Parallel()
	src, dst, p := foldPair(t)
	pgtest.Exec(t, dst, `ALTER TABLE product DROP CONSTRAINT product_pkey CASCADE;
		INSERT INTO product VALUES (10, 1);
		UPDATE purchase SET product_id = 30 WHERE id = 101`)
	res := run(t, src, dst, "", p, verify.Config{})
	counts := filter(res.Differences, verify.KindCount)
	require.Len(t, counts, 1, "the duplicated product, and no other count: %+v", res.Differences)
	require.Equal(t, "public.product", counts[0].Table)
	inv := filter(res.Differences, verify.KindInvariant)
	require.Len(t, inv, 1, "%+v", res.Differences)
	require.Equal(t, "public.purchase", inv[0].Table)
	require.Equal(t, []string{"101"}, inv[0].Keys)
}

// The same violation on both sides (a backfill bug copied as it was) is
// named on each, and a tenant filter still sees it in its tenant only.
func TestFoldedInvariantBothSidesAndTenantFilter(t *testing.T) {
	t.Parallel()
	src, dst, p := foldPair(t)
	for _, pool := range []*pgxpool.Pool{src, dst} {
		pgtest.Exec(t, pool, `UPDATE purchase SET store_id = 3 WHERE id = 103`)
	}
	res := run(t, src, dst, "", p, verify.Config{})
	inv := filter(res.Differences, verify.KindInvariant)
	require.Len(t, inv, 2, "%+v", res.Differences)
	for _, d := range inv {
		require.Equal(t, "public.purchase", d.Table)
		require.Equal(t, []string{"103"}, d.Keys)
		require.Equal(t, int64(1), d.Source+d.Target)
	}

	res = run(t, src, dst, "", p, verify.Config{Tenants: []string{"3"}})
	require.Len(t, filter(res.Differences, verify.KindInvariant), 2, "%+v", res.Differences)
	res = run(t, src, dst, "", p, verify.Config{Tenants: []string{"1", "2"}})
	require.Empty(t, filter(res.Differences, verify.KindInvariant), "%+v", res.Differences)
}

// filter returns the differences of one kind.
func filter(diffs []verify.Difference, kind string) []verify.Difference {
	var out []verify.Difference
	for _, d := range diffs {
		if d.Kind == kind {
			out = append(out, d)
		}
	}
	return out
}
