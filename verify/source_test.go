package verify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/verify"
)

// crossTenantSchema has the references a tenant model forbids but a
// catalog allows: a self-reference (a task's parent) and a many-to-many
// row, each able to point at another tenant's row. Names need quoting and
// the tenant key is a uuid, as in a Django app with UUID primary keys.
const crossTenantSchema = `
CREATE SCHEMA "App";
CREATE TABLE "App"."Account" ("Id" uuid PRIMARY KEY);
CREATE TABLE "App".project (id bigint PRIMARY KEY, "Account_id" uuid NOT NULL REFERENCES "App"."Account");
CREATE TABLE "App".task (id bigint PRIMARY KEY, project_id bigint NOT NULL REFERENCES "App".project,
	parent_id bigint REFERENCES "App".task, "Account_id" uuid);
CREATE TABLE "App".label (id int PRIMARY KEY, "Account_id" uuid NOT NULL REFERENCES "App"."Account");
CREATE TABLE "App".task_label (task_id bigint REFERENCES "App".task, label_id int REFERENCES "App".label,
	"Account_id" uuid, PRIMARY KEY (task_id, label_id));
INSERT INTO "App"."Account" VALUES ('00000000-0000-0000-0000-00000000000a'), ('00000000-0000-0000-0000-00000000000b');
INSERT INTO "App".project VALUES (1, '00000000-0000-0000-0000-00000000000a'), (2, '00000000-0000-0000-0000-00000000000b');
INSERT INTO "App".label VALUES (1, '00000000-0000-0000-0000-00000000000a'), (2, '00000000-0000-0000-0000-00000000000b');
INSERT INTO "App".task (id, project_id, parent_id) VALUES (10, 1, NULL), (11, 1, 10), (20, 2, NULL), (21, 2, 20);
UPDATE "App".task t SET "Account_id" = p."Account_id" FROM "App".project p WHERE p.id = t.project_id;
INSERT INTO "App".task_label (task_id, label_id) VALUES (10, 1), (11, 1), (20, 2);
UPDATE "App".task_label tl SET "Account_id" = l."Account_id" FROM "App".label l WHERE l.id = tl.label_id;
`

func TestCheckSourceFindsCrossTenantReferences(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := open(t, env.NewDB(t))
	pgtest.Exec(t, src, crossTenantSchema)
	p, err := plan.Build(ctx, src, plan.Config{TenantTable: `"App"."Account"`})
	require.NoError(t, err)

	res, err := verify.CheckSource(ctx, envOf(src, nil, p, nil), verify.Config{})
	require.NoError(t, err)
	require.True(t, res.Match, "a consistent source: %+v", res.Differences)

	// Task 21 (tenant b) becomes the child of task 10 (tenant a), and task
	// 20 (tenant b) gets tenant a's label.
	pgtest.Exec(t, src, `UPDATE "App".task SET parent_id = 10 WHERE id = 21;
		INSERT INTO "App".task_label (task_id, label_id) VALUES (20, 1);
		UPDATE "App".task_label SET "Account_id" = '00000000-0000-0000-0000-00000000000a' WHERE task_id = 20 AND label_id = 1`)
	res, err = verify.CheckSource(ctx, envOf(src, nil, p, nil), verify.Config{})
	require.NoError(t, err)
	require.False(t, res.Match)
	got := map[string][]string{}
	for _, d := range res.Differences {
		require.Equal(t, verify.KindInvariant, d.Kind)
		require.Zero(t, d.Target, "CheckSource reads only the source")
		got[d.Table] = append(got[d.Table], d.Detail+" keys "+strings.Join(d.Keys, ","))
	}
	require.Len(t, got[`"App".task`], 1, "%v", got)
	require.Contains(t, got[`"App".task`][0], "(parent_id → id) keys 21")
	require.Len(t, got[`"App".task_label`], 1, "%v", got)
	require.Contains(t, got[`"App".task_label`][0], `"App".task row (task_id → id) keys (20,1)`)
}

// TestCitusUUIDTenantsMatch verifies a uuid-keyed, quoted-name migration on
// Citus end to end: the per-placement checks must work for a tenant type
// without min() (they once used it to walk a shard's tenants).
func TestCitusUUIDTenantsMatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cdb := env.NewCitusDB(t)
	srcURL := env.NewDB(t)
	src, dst := open(t, srcURL), open(t, cdb.Coordinator)
	pgtest.Exec(t, src, crossTenantSchema)
	p, err := plan.Build(ctx, src, plan.Config{TenantTable: `"App"."Account"`})
	require.NoError(t, err)
	require.NoError(t, ddl.Apply(ctx, dst, p))
	_, err = pgcopy.Run(ctx, &phase.Env{Source: srcURL, Target: cdb.Coordinator, Plan: p, Run: "copy"}, pgcopy.Config{})
	require.NoError(t, err)

	res, err := verify.Run(ctx, envOf(src, dst, p, nil), verify.Config{Checksum: true})
	require.NoError(t, err)
	require.True(t, res.Match, "%+v", res.Differences)
	require.True(t, res.Overview.Citus)
	require.Positive(t, res.Overview.Placements, "the placements were checked")

}
