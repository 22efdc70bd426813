package plan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/planview"
)

// tieDDL has notes reaching the store equally far through two nullable
// keys: through alpha (first by name, the column almost always NULL) and
// through beta (rarely NULL), and the same pair on a table that is
// analyzed (pg_stats) and on one that is not (counted).
const tieDDL = `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE alpha (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE beta (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE note (id bigint PRIMARY KEY, alpha_id bigint REFERENCES alpha, beta_id bigint REFERENCES beta);
CREATE TABLE memo (id bigint PRIMARY KEY, alpha_id bigint REFERENCES alpha, beta_id bigint REFERENCES beta);
CREATE TABLE both_set (id bigint PRIMARY KEY, alpha_id bigint NOT NULL REFERENCES alpha, beta_id bigint NOT NULL REFERENCES beta);
INSERT INTO store VALUES (1), (2);
INSERT INTO alpha VALUES (1, 1), (2, 2);
INSERT INTO beta VALUES (1, 1), (2, 2);
INSERT INTO note SELECT g, CASE WHEN g % 10 = 0 THEN 1 END, CASE WHEN g % 50 <> 0 THEN 2 END FROM generate_series(1, 500) g;
INSERT INTO memo SELECT id, alpha_id, beta_id FROM note;
INSERT INTO both_set VALUES (1, 1, 1);
ANALYZE note;
`

func TestPathTiesPreferFewerNulls(t *testing.T) {
	t.Parallel()
	p := build(t, tieDDL, plan.Config{TenantTable: "store"})
	for _, name := range []string{"note", "memo"} {
		tb := tbl(t, p, name)
		require.Equal(t, plan.Nested, tb.Kind, name)
		require.Equal(t, "public."+name+".beta_id -> public.beta.id", tb.Path[0].String(), "%s: the rarely NULL key wins over the first by name", name)
		require.True(t, tb.Path[0].NullsKnown, name)
		require.InDelta(t, 0.02, tb.Path[0].NullFrac, 0.015, name)
		require.NotContains(t, codes(tb), plan.CodeAmbiguousPath, "%s: the data decided, nothing is ambiguous", name)
		require.Len(t, tb.Alternatives, 1, name)
		require.Equal(t, "public."+name+".alpha_id -> public.alpha.id", tb.Alternatives[0].Path[0].String())
		require.Contains(t, tb.Alternatives[0].Reason, "more NULLs: alpha_id in 90.", name)
	}
	// NOT NULL keys with no NULLs tie: names decide, and plan says so.
	both := tbl(t, p, "both_set")
	require.Equal(t, "public.both_set.alpha_id -> public.alpha.id", both.Path[0].String())
	require.Contains(t, codes(both), plan.CodeAmbiguousPath)
	require.Contains(t, both.Alternatives[0].Reason, "a tie")
	for _, pr := range both.Problems {
		if pr.Code == plan.CodeAmbiguousPath {
			require.Contains(t, pr.Remedy, "--via 'public.both_set.alpha_id'")
		}
	}

	var text, js bytes.Buffer
	require.NoError(t, planview.RenderText(&text, p))
	require.Regexp(t, `public\.note\s+public\.note -> public\.alpha -> public\.store\s+--via public\.note\.alpha_id\s+more NULLs`, text.String())
	require.NoError(t, planview.RenderJSON(&js, p))
	var doc planview.JSON
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	for _, jt := range doc.Tables {
		if jt.Name == "public.note" {
			require.Len(t, jt.Alternatives, 1)
			require.Contains(t, jt.Alternatives[0].Reason, "more NULLs")
			require.NotNil(t, jt.Path[0].NullFraction)
		}
	}
}

func TestRelationAndViaPinThePath(t *testing.T) {
	t.Parallel()
	pool := sourceDB(t, tieDDL)
	ctx := context.Background()
	plans := func(cfg plan.Config) *plan.Plan {
		cfg.TenantTable = "store"
		p, err := plan.Build(ctx, pool, cfg)
		require.NoError(t, err)
		return p
	}
	// A --relation naming the edge a catalog key ties with pins it.
	p := plans(plan.Config{Relations: []string{"both_set.beta_id=beta.id"}})
	both := tbl(t, p, "both_set")
	require.Equal(t, "public.both_set.beta_id -> public.beta.id", both.Path[0].String())
	require.True(t, both.Path[0].Declared)
	require.Equal(t, "--relation", both.Pinned)
	require.NotContains(t, codes(both), plan.CodeAmbiguousPath)

	// --via pins a column against the data's choice, and its table's
	// children follow.
	pgtest.Exec(t, pool, `CREATE TABLE reply (id bigint PRIMARY KEY, note_id bigint NOT NULL REFERENCES note)`)
	p = plans(plan.Config{Via: []string{"note.alpha_id"}})
	note := tbl(t, p, "note")
	require.Equal(t, "public.note.alpha_id -> public.alpha.id", note.Path[0].String())
	require.Equal(t, "--via public.note.alpha_id", note.Pinned)
	require.Equal(t, "not the key --via public.note.alpha_id names", note.Alternatives[0].Reason)
	require.Equal(t, "public.alpha", tbl(t, p, "reply").Path[1].To.String())

	// --via beats a shorter path too.
	pgtest.Exec(t, pool, `ALTER TABLE reply ADD COLUMN store_id bigint REFERENCES store`)
	p = plans(plan.Config{Via: []string{"reply.note_id"}})
	reply := tbl(t, p, "reply")
	require.Equal(t, plan.Nested, reply.Kind)
	require.Len(t, reply.Path, 3)

	for bad, msg := range map[string]string{
		"note.id":              "has no foreign key on id",
		"note.nope":            "has no column nope",
		"nope.alpha_id":        "not found",
		"note":                 "expected table.column",
		"store.id":             "tenant table",
		`note.alpha_id"`:       "",
		"both_set.(alpha_id)x": "",
	} {
		_, err := plan.Build(ctx, pool, plan.Config{TenantTable: "store", Via: []string{bad}})
		require.Error(t, err, bad)
		require.ErrorContains(t, err, msg, bad)
	}
	_, err := plan.Build(ctx, pool, plan.Config{TenantTable: "store", Via: []string{"note.alpha_id", "note.beta_id"}})
	require.ErrorContains(t, err, "already pinned")

	// A pin to a table without a path is a blocking problem.
	pgtest.Exec(t, pool, `CREATE TABLE lookup (id bigint PRIMARY KEY); ALTER TABLE memo ADD COLUMN lookup_id bigint REFERENCES lookup`)
	p = plans(plan.Config{Via: []string{"memo.lookup_id"}})
	require.Equal(t, plan.Reference, tbl(t, p, "memo").Kind)
	require.Contains(t, codes(tbl(t, p, "memo")), plan.CodePinnedPath)
	require.NotEmpty(t, p.Blocking()[pub("memo")])
}

// polyDDL has a Rails polymorphic association (comments on posts and
// photos, and one on a user, a reference table) and a Django generic
// foreign key (tagged items of blog posts and shop items).
const polyDDL = `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE posts (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE photos (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE users (id bigint PRIMARY KEY);
CREATE TABLE comments (id bigint PRIMARY KEY, commentable_type varchar NOT NULL, commentable_id bigint NOT NULL, body text);
INSERT INTO comments VALUES (1, 'Post', 1, ''), (2, 'Photo', 1, ''), (3, 'User', 1, '');
CREATE TABLE django_content_type (id serial PRIMARY KEY, app_label varchar(100) NOT NULL, model varchar(100) NOT NULL);
INSERT INTO django_content_type (app_label, model) VALUES ('blog', 'post'), ('shop', 'item'), ('auth', 'user');
CREATE TABLE blog_post (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE shop_item (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE tags_taggeditem (id bigint PRIMARY KEY, content_type_id int NOT NULL REFERENCES django_content_type,
  object_id bigint NOT NULL, tag varchar);
INSERT INTO tags_taggeditem VALUES (1, 1, 1, 'a'), (2, 2, 1, 'b');
`

// suggested are the --relation flags in the remedies of the plan's notes.
func suggested(p *plan.Plan) []string {
	re := regexp.MustCompile(`--relation '([^']*)'`)
	var out []string
	for _, t := range p.Tables {
		for _, pr := range t.Problems {
			if pr.Code == plan.CodePolymorphic || pr.Code == plan.CodeUndeclaredRelation {
				for _, m := range re.FindAllStringSubmatch(pr.Remedy, -1) {
					out = append(out, m[1])
				}
			}
		}
	}
	return out
}

func TestPolymorphicDetectedAndDeclared(t *testing.T) {
	t.Parallel()
	pool := sourceDB(t, polyDDL)
	ctx := context.Background()
	p, err := plan.Build(ctx, pool, plan.Config{TenantTable: "store"})
	require.NoError(t, err)
	require.Equal(t, plan.Reference, tbl(t, p, "comments").Kind)
	require.Contains(t, codes(tbl(t, p, "comments")), plan.CodePolymorphic)
	require.Contains(t, codes(tbl(t, p, "tags_taggeditem")), plan.CodePolymorphic)
	flags := suggested(p)
	require.ElementsMatch(t, []string{
		"public.comments.commentable_id=public.photos.id when commentable_type=Photo",
		"public.comments.commentable_id=public.posts.id when commentable_type=Post",
		"public.tags_taggeditem.object_id=public.blog_post.id when content_type_id=blog.post",
		"public.tags_taggeditem.object_id=public.shop_item.id when content_type_id=shop.item",
	}, flags)
	for _, pr := range tbl(t, p, "comments").Problems {
		if pr.Code == plan.CodePolymorphic {
			require.Contains(t, pr.Remedy, "User (public.users, a reference table)")
		}
	}

	p, err = plan.Build(ctx, pool, plan.Config{TenantTable: "store", Relations: flags})
	require.NoError(t, err)
	for name, types := range map[string][]string{"comments": {"Photo", "Post"}, "tags_taggeditem": {"blog.post", "shop.item"}} {
		tb := tbl(t, p, name)
		require.Equal(t, plan.Nested, tb.Kind, name)
		require.NotContains(t, codes(tb), plan.CodePolymorphic, name)
		require.Len(t, tb.Branches, 2, name)
		for i, br := range tb.Branches {
			require.Equal(t, types[i], br[0].When.Value, name)
		}
		for _, d := range p.ForeignKeys(tb) {
			require.NotEqual(t, tb.Branches[0][0].FromColumns, d.FK.Columns, "%s: a polymorphic branch is never a constraint", name)
		}
	}
	require.NotNil(t, tbl(t, p, "tags_taggeditem").Branches[0][0].When.ContentType)
	require.Empty(t, p.Blocking())
	before(t, p, "posts", "comments")

	for bad, msg := range map[string]string{
		"comments.commentable_id=posts.id when nope=Post":                             "no column nope",
		"tags_taggeditem.object_id=blog_post.id when content_type_id=blogpost":        "app_label.model",
		"tags_taggeditem.object_id=blog_post.id when content_type_id=blog.nothing":    "no content type blog.nothing",
		"comments.commentable_id=posts.id when commentable_type=":                     "empty type value",
		"comments.(commentable_id,id)=posts.(id,store_id) when commentable_type=Post": "one id column",
	} {
		_, err := plan.Build(ctx, pool, plan.Config{TenantTable: "store", Relations: []string{bad}})
		require.ErrorContains(t, err, msg, bad)
	}
	_, err = plan.Build(ctx, pool, plan.Config{TenantTable: "store", Relations: []string{
		"comments.commentable_id=posts.id when commentable_type=Post", "comments.commentable_id=photos.id when commentable_type='Post'"}})
	require.ErrorContains(t, err, "already goes to another table")

	// A declared branch to a table without a tenant blocks.
	p, err = plan.Build(ctx, pool, plan.Config{TenantTable: "store", Relations: append(flags, "comments.commentable_id=users.id when commentable_type=User")})
	require.NoError(t, err)
	require.Contains(t, codes(tbl(t, p, "comments")), plan.CodePolymorphicParent)
}

// railsKinds is what every table of testdata/rails_structure.sql is, with
// the flags plan suggests.
var railsKinds = map[plan.Kind][]string{
	plan.Root: {"accounts"},
	plan.Direct: {"projects", "labels", "teams", "clients", "webhooks", "api_keys", "invoices", "tags", "integrations",
		"exports", "imports", "settings", "subscriptions", "account_users", "audits", "ReportSnapshots"},
	plan.Nested: {"team_memberships", "boards", "lists", "cards", "checklists", "checklist_items", "card_labels",
		"card_assignments", "sprints", "milestones", "notes", "invoice_items", "payments", "client_contacts",
		"webhook_deliveries", "comments", "reactions", "active_storage_attachments", "time_entries", "integration_logs",
		"export_files", "import_rows", "documents", "document_versions", "ReportRows"},
	plan.Reference: {"users", "countries", "currencies", "plans", "feature_flags", "email_templates", "timezones",
		"languages", "oauth_applications", "oauth_access_tokens", "active_storage_blobs", "active_storage_variant_records",
		"schema_migrations", "ar_internal_metadata"},
}

// TestRailsStructureWithSuggestedFlags plans a Rails db/structure.sql of
// 56 tables: with no flags, then with the --relation flags plan suggests,
// which must classify every table right, break the notes tie by the data,
// fill comments and attachments through their polymorphic associations
// and leave nothing blocking.
func TestRailsStructureWithSuggestedFlags(t *testing.T) {
	t.Parallel()
	ddl, err := os.ReadFile("testdata/rails_structure.sql")
	require.NoError(t, err)
	pool := sourceDB(t, string(ddl))
	ctx := context.Background()
	p, err := plan.Build(ctx, pool, plan.Config{TenantTable: "accounts"})
	require.NoError(t, err)
	require.Len(t, p.Tables, 56)
	flags := suggested(p)
	require.ElementsMatch(t, []string{
		"public.audits.account_id=public.accounts.id",
		"public.import_rows.import_id=public.imports.id",
		"public.comments.commentable_id=public.cards.id when commentable_type=Card",
		"public.comments.commentable_id=public.projects.id when commentable_type=Project",
		"public.active_storage_attachments.record_id=public.cards.id when record_type=Card",
	}, flags)

	p, err = plan.Build(ctx, pool, plan.Config{TenantTable: "accounts", Relations: flags})
	require.NoError(t, err)
	got := map[plan.Kind][]string{}
	for _, tb := range p.Tables {
		got[tb.Kind] = append(got[tb.Kind], tb.Name().Name)
	}
	for kind, want := range railsKinds {
		require.ElementsMatch(t, want, got[kind], kind)
	}
	require.Empty(t, p.Blocking())
	require.Empty(t, suggested(p), "no further flags suggested")

	require.Equal(t, "public.notes.sprint_id -> public.sprints.id", tbl(t, p, "notes").Path[0].String())
	require.Contains(t, tbl(t, p, "notes").Alternatives[0].Reason, "more NULLs")
	require.Len(t, tbl(t, p, "cards").Path, 4)
	require.Len(t, tbl(t, p, "checklist_items").Path, 6)
	require.Equal(t, "public.card_labels.label_id -> public.labels.id", tbl(t, p, "card_labels").Path[0].String())
	require.Len(t, tbl(t, p, "comments").Branches, 2)
	require.Equal(t, "uuid", p.KeyType)
	require.Equal(t, "account_id", p.TenantColumn)
	rows := p.Table(pub("ReportRows"))
	require.Equal(t, `public."ReportRows"."snapshotId" -> public."ReportSnapshots"."Id"`, rows.Path[0].String())

	var text bytes.Buffer
	require.NoError(t, planview.RenderText(&text, p))
	require.Contains(t, text.String(), "Card: public.comments -> public.cards -> public.lists -> public.boards -> public.projects -> public.accounts | Project: public.comments -> public.projects -> public.accounts (pinned)")
	require.True(t, strings.Contains(text.String(), "No blocking problems."), text.String())
}
