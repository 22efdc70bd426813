package verify_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/verify"
	"github.com/tenantmover/tenantmover/verify/verifytest"
)

// heldTables is foldSchema's shop as plan makes it on the target: tenant
// columns NOT NULL, keys composite with the tenant column, and composite
// foreign keys (review's written in another column order) that hold the
// tenant of purchase and review. The comments' polymorphic association has
// no foreign key.
const heldTables = `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE product (id bigint, store_id bigint NOT NULL REFERENCES store, PRIMARY KEY (store_id, id));
CREATE TABLE purchase (id bigint, product_id bigint NOT NULL, store_id bigint NOT NULL, PRIMARY KEY (store_id, id),
	CONSTRAINT purchase_product_fk FOREIGN KEY (store_id, product_id) REFERENCES product (store_id, id));
CREATE TABLE review (id bigint, purchase_id bigint, store_id bigint NOT NULL, PRIMARY KEY (store_id, id),
	CONSTRAINT review_purchase_fk FOREIGN KEY (purchase_id, store_id) REFERENCES purchase (id, store_id));
CREATE TABLE posts (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE photos (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE comments (id bigint PRIMARY KEY, commentable_type text, commentable_id bigint, store_id bigint);
`

// heldPair is foldSchema on the source and heldTables with the same rows
// on a plain target, and the plan.
func heldPair(t *testing.T) (src, dst *pgxpool.Pool, p *plan.Plan) {
	t.Helper()
	return pairWith(t, heldTables+foldRows)
}

// invariantEntries returns the result's invariant checks by "table →
// parent side", failing on a repeated one.
func invariantEntries(t *testing.T, res *verify.Result) map[string]verify.InvariantCheck {
	t.Helper()
	out := map[string]verify.InvariantCheck{}
	for _, c := range res.Invariants {
		k := c.Table + " → " + c.Parent + " " + c.Side
		require.NotContains(t, out, k, "%+v", res.Invariants)
		out[k] = c
	}
	return out
}

// A row breaking the invariant written where the foreign key's triggers
// do not fire (session_replication_role = replica) shows that the held
// checks are not run: only --recheck-foreign-keys finds it.
func TestHeldInvariantsNotRescanned(t *testing.T) {
	t.Parallel()
	src, dst, p := heldPair(t)
	pgtest.Exec(t, dst, `SET session_replication_role = replica; UPDATE purchase SET product_id = 30 WHERE id = 101; RESET session_replication_role`)

	var events []phase.Event
	res, err := verify.Run(context.Background(), envOf(src, dst, p, func(ev phase.Event) { events = append(events, ev) }), verify.Config{})
	require.NoError(t, err)
	require.True(t, res.Match, "the held checks were not run: %+v", res.Differences)
	got := invariantEntries(t, res)
	require.Len(t, got, 4, "%+v", res.Invariants)
	for k, name := range map[string]string{"public.purchase → public.product target": "purchase_product_fk", "public.review → public.purchase target": "review_purchase_fk"} {
		c := got[k]
		require.Equal(t, name, c.HeldBy, k)
		require.False(t, c.Checked, k)
		require.Zero(t, c.Violations, k)
		require.Equal(t, "validated, enforced", c.Note, k)
	}
	require.Equal(t, []string{"product_id"}, got["public.purchase → public.product target"].Columns)
	require.Equal(t, []string{"id"}, got["public.purchase → public.product target"].ParentColumns)
	for _, k := range []string{"public.comments → public.posts target", "public.comments → public.photos target"} {
		require.True(t, got[k].Checked, "a polymorphic branch is never held: %s", k)
		require.Empty(t, got[k].HeldBy, k)
		require.NotEmpty(t, got[k].When, k)
	}
	// Held checks count as done in the invariant step.
	var planned, done int64
	for _, ev := range events {
		if ev.Step == verify.StepInvariant && ev.Kind == phase.Planned {
			planned = ev.Total
		}
		if ev.Step == verify.StepInvariant && ev.Kind == phase.Advanced {
			done += ev.Done
		}
	}
	require.Equal(t, int64(4), planned)
	require.Equal(t, int64(4), done)

	res = run(t, src, dst, "", p, verify.Config{RecheckForeignKeys: true})
	inv := filter(res.Differences, verify.KindInvariant)
	require.Len(t, inv, 1, "%+v", res.Differences)
	require.Equal(t, "public.purchase", inv[0].Table)
	require.Equal(t, []string{"101"}, inv[0].Keys)
	require.Equal(t, int64(1), inv[0].Target)
	got = invariantEntries(t, res)
	require.Len(t, got, 5, "the source is checked too where the target shows violations: %+v", res.Invariants)
	c := got["public.purchase → public.product target"]
	require.True(t, c.Checked)
	require.Empty(t, c.HeldBy)
	require.Equal(t, int64(1), c.Violations)
	require.Contains(t, c.Note, "purchase_product_fk")
	require.Contains(t, c.Note, "--recheck-foreign-keys")
	c = got["public.purchase → public.product source"]
	require.True(t, c.Checked)
	require.Zero(t, c.Violations)
	require.True(t, got["public.review → public.purchase target"].Checked)
}

// ALTER TABLE ... DISABLE TRIGGER ALL switches off the foreign keys of the
// table and those referencing it: a row written then is not checked by the
// database, so verify checks both.
func TestHeldInvariantTriggersDisabled(t *testing.T) {
	t.Parallel()
	src, dst, p := heldPair(t)
	pgtest.Exec(t, dst, `ALTER TABLE purchase DISABLE TRIGGER ALL; INSERT INTO purchase VALUES (105, 30, 1)`)

	res := run(t, src, dst, "", p, verify.Config{})
	inv := filter(res.Differences, verify.KindInvariant)
	require.Len(t, inv, 1, "%+v", res.Differences)
	require.Equal(t, "public.purchase", inv[0].Table)
	require.Equal(t, []string{"105"}, inv[0].Keys)
	got := invariantEntries(t, res)
	for _, k := range []string{"public.purchase → public.product target", "public.review → public.purchase target"} {
		require.True(t, got[k].Checked, k)
		require.Empty(t, got[k].HeldBy, k)
		require.Contains(t, got[k].Note, "disabled", k)
	}
	require.Equal(t, int64(1), got["public.purchase → public.product target"].Violations)
	require.Zero(t, got["public.review → public.purchase target"].Violations)
}

// A NOT VALID foreign key never checked the rows that were there before it.
func TestHeldInvariantNotValidKey(t *testing.T) {
	t.Parallel()
	src, dst, p := heldPair(t)
	pgtest.Exec(t, dst, `ALTER TABLE purchase DROP CONSTRAINT purchase_product_fk;
		UPDATE purchase SET product_id = 30 WHERE id = 101;
		ALTER TABLE purchase ADD CONSTRAINT purchase_product_fk FOREIGN KEY (store_id, product_id) REFERENCES product (store_id, id) NOT VALID`)

	res := run(t, src, dst, "", p, verify.Config{})
	inv := filter(res.Differences, verify.KindInvariant)
	require.Len(t, inv, 1, "%+v", res.Differences)
	require.Equal(t, []string{"101"}, inv[0].Keys)
	got := invariantEntries(t, res)
	c := got["public.purchase → public.product target"]
	require.True(t, c.Checked)
	require.Empty(t, c.HeldBy)
	require.Equal(t, int64(1), c.Violations)
	require.Contains(t, c.Note, "NOT VALID")
	require.Equal(t, "review_purchase_fk", got["public.review → public.purchase target"].HeldBy, "the other key still holds")

	pgtest.Exec(t, dst, `UPDATE purchase SET product_id = 11 WHERE id = 101; ALTER TABLE purchase VALIDATE CONSTRAINT purchase_product_fk`)
	res = run(t, src, dst, "", p, verify.Config{})
	require.True(t, res.Match, "%+v", res.Differences)
	require.Equal(t, "purchase_product_fk", invariantEntries(t, res)["public.purchase → public.product target"].HeldBy, "validated now")
}

// Under MATCH SIMPLE a row with a NULL tenant is not checked by the key.
// (A tenant column in the primary key is NOT NULL: this purchase table's
// key is its id, its tenant only in a unique key.)
func TestHeldInvariantNullableTenant(t *testing.T) {
	t.Parallel()
	src, dst, p := heldPair(t)
	pgtest.Exec(t, dst, `ALTER TABLE purchase DROP CONSTRAINT purchase_pkey CASCADE, ADD PRIMARY KEY (id), ADD UNIQUE (store_id, id),
			ALTER COLUMN store_id DROP NOT NULL;
		UPDATE purchase SET store_id = NULL WHERE id = 103`)

	res := run(t, src, dst, "", p, verify.Config{})
	inv := filter(res.Differences, verify.KindInvariant)
	require.Len(t, inv, 1, "%+v", res.Differences)
	require.Equal(t, "public.purchase", inv[0].Table)
	require.Equal(t, []string{"103"}, inv[0].Keys)
	c := invariantEntries(t, res)["public.purchase → public.product target"]
	require.True(t, c.Checked)
	require.Empty(t, c.HeldBy)
	require.Equal(t, int64(1), c.Violations)
	require.Contains(t, c.Note, "nullable")
}

// On a Citus target migrated as tenantmover does it (plan's schema, copy,
// then the composite foreign keys), the keys hold on the coordinator and
// on every shard placement. A shard whose key is switched off on its
// worker, where the coordinator cannot see it, is rescanned.
func TestCitusHeldInvariants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cdb := env.NewCitusDB(t)
	srcURL := env.NewDB(t)
	verifytest.Source(t, srcURL)
	verifytest.Backfill(t, srcURL)
	src, dst := open(t, srcURL), open(t, cdb.Coordinator)
	p := buildPlan(t, src, "store")
	require.NoError(t, ddl.Apply(ctx, dst, p))
	_, err := pgcopy.Run(ctx, &phase.Env{Source: srcURL, Target: cdb.Coordinator, Plan: p, Run: "copy"}, pgcopy.Config{})
	require.NoError(t, err)

	res := run(t, src, dst, cdb.Coordinator, p, verify.Config{})
	require.True(t, res.Match, "%+v", res.Differences)
	require.True(t, res.Overview.Citus)
	got := invariantEntries(t, res)
	require.Len(t, got, 2, "%+v", res.Invariants)
	for k, name := range map[string]string{"public.purchase → public.product target": "purchase_product_id_fkey", "public.refund → public.purchase target": "refund_purchase_id_fkey"} {
		require.Equal(t, name, got[k].HeldBy, "%s: %+v", k, got[k])
		require.False(t, got[k].Checked, k)
		require.Contains(t, got[k].Note, "shard placements", k)
	}

	// Disable the triggers of one refund shard on its worker, and point a
	// refund of it at a purchase that does not exist.
	var shardID int64
	require.NoError(t, dst.QueryRow(ctx, `SELECT get_shard_id_for_distribution_column('refund', store_id) FROM refund ORDER BY id LIMIT 1`).Scan(&shardID))
	shards, err := citus.Shards(ctx, dst, db.QualifiedName{Schema: "public", Name: "refund"})
	require.NoError(t, err)
	i := slices.IndexFunc(shards, func(s citus.Shard) bool { return s.ShardID == shardID })
	require.GreaterOrEqual(t, i, 0)
	shard := shards[i].Name.Quoted()
	worker := open(t, citus.WorkerURL(cdb.Coordinator, shards[i].Placements[0].Node))
	var id string
	pgtest.Exec(t, worker, `ALTER TABLE `+shard+` DISABLE TRIGGER ALL`)
	require.NoError(t, worker.QueryRow(ctx, `UPDATE `+shard+` SET purchase_id = purchase_id + 100000000
		WHERE id = (SELECT min(id) FROM `+shard+`) RETURNING id::text`).Scan(&id))

	res = run(t, src, dst, cdb.Coordinator, p, verify.Config{})
	inv := filter(res.Differences, verify.KindInvariant)
	require.Len(t, inv, 1, "%+v", res.Differences)
	require.Equal(t, "public.refund", inv[0].Table)
	require.Equal(t, []string{id}, inv[0].Keys)
	got = invariantEntries(t, res)
	c := got["public.refund → public.purchase target"]
	require.True(t, c.Checked)
	require.Empty(t, c.HeldBy)
	require.Equal(t, int64(1), c.Violations)
	require.Contains(t, c.Note, shard)
	require.Contains(t, c.Note, "disabled")
	require.Equal(t, "purchase_product_id_fkey", got["public.purchase → public.product target"].HeldBy, "purchase's shards are untouched")
}
