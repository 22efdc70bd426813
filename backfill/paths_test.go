package backfill_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/backfill"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/schema"
)

func pub(n string) schema.Name { return schema.Name{Schema: "public", Name: n} }

// polySchema has comments on posts (three hops from the store, through
// blogs) and on photos (two), and on users, which have no tenant; and a
// Django generic foreign key from tagged items to posts and photos.
const polySchema = `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE blogs (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE posts (id bigint PRIMARY KEY, blog_id bigint NOT NULL REFERENCES blogs);
CREATE TABLE photos (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE users (id bigint PRIMARY KEY);
CREATE TABLE comments (id bigint PRIMARY KEY, commentable_type varchar, commentable_id bigint, body text);
CREATE TABLE django_content_type (id serial PRIMARY KEY, app_label varchar(100) NOT NULL, model varchar(100) NOT NULL);
INSERT INTO django_content_type (app_label, model) VALUES ('auth', 'user'), ('app', 'posts'), ('app', 'photos');
CREATE TABLE tagged (id bigint PRIMARY KEY, content_type_id int NOT NULL REFERENCES django_content_type, object_id bigint NOT NULL);
INSERT INTO store SELECT g FROM generate_series(1, 10) g;
INSERT INTO blogs SELECT g, 1 + g % 10 FROM generate_series(1, 30) g;
INSERT INTO posts SELECT g, 1 + g % 30 FROM generate_series(1, 300) g;
INSERT INTO photos SELECT g, 1 + (g * 3) % 10 FROM generate_series(1, 200) g;
INSERT INTO users SELECT g FROM generate_series(1, 5) g;
INSERT INTO comments SELECT g,
  CASE g % 10 WHEN 0 THEN 'User' WHEN 1 THEN NULL WHEN 2 THEN 'Photo' WHEN 3 THEN 'Photo' ELSE 'Post' END,
  CASE g % 10 WHEN 0 THEN 1 WHEN 1 THEN 1 WHEN 2 THEN 1 + g % 200 WHEN 3 THEN 1000 + g ELSE 1 + g % 300 END, ''
FROM generate_series(1, 3000) g;
INSERT INTO tagged SELECT g, 2 + g % 2, 1 + g % 200 FROM generate_series(1, 1000) g;
INSERT INTO tagged VALUES (5000, 1, 1);
ANALYZE;
`

var polyRelations = []string{
	"comments.commentable_id=posts.id when commentable_type=Post",
	"comments.commentable_id=photos.id when commentable_type='Photo'",
	"tagged.object_id=posts.id when content_type_id=app.posts",
	"tagged.object_id=photos.id when content_type_id=app.photos",
}

// polyWrong counts comments and tagged rows whose store_id is not the one
// their type's parent has (NULL included), among the rows that have one.
const polyWrong = `SELECT
  (SELECT count(*) FROM comments c JOIN posts p ON c.commentable_type = 'Post' AND p.id = c.commentable_id JOIN blogs b ON b.id = p.blog_id
     WHERE c.store_id IS DISTINCT FROM b.store_id) +
  (SELECT count(*) FROM comments c JOIN photos p ON c.commentable_type = 'Photo' AND p.id = c.commentable_id
     WHERE c.store_id IS DISTINCT FROM p.store_id) +
  (SELECT count(*) FROM tagged t JOIN posts p ON t.content_type_id = 2 AND p.id = t.object_id JOIN blogs b ON b.id = p.blog_id
     WHERE t.store_id IS DISTINCT FROM b.store_id) +
  (SELECT count(*) FROM tagged t JOIN photos p ON t.content_type_id = 3 AND p.id = t.object_id
     WHERE t.store_id IS DISTINCT FROM p.store_id)`

func TestPolymorphicBackfill(t *testing.T) {
	t.Parallel()
	pool, _ := source(t, polySchema)
	p := buildPlan(t, pool, plan.Config{TenantTable: "store", Relations: polyRelations})
	require.Len(t, p.Table(pub("comments")).Branches, 2)
	cfg := fastConfig()
	cfg.KeepTriggers = true
	rep := fill(t, pool, p, cfg)

	require.Zero(t, pgtest.Scalar[int64](t, pool, polyWrong), "every row of a declared type has its parent's tenant")
	comments := tableReport(t, rep, "public.comments")
	require.Equal(t, "public.photos, public.posts", comments.Parent)
	// 300 users' comments, 300 with no type, 300 photos that do not exist.
	require.Equal(t, map[string]int64{
		backfill.ReasonUnknownType:   300,
		backfill.ReasonNullFK:        300,
		backfill.ReasonMissingParent: 300,
	}, comments.Orphans.ByReason)
	require.Equal(t, int64(900), comments.Orphans.Count)
	require.Equal(t, int64(900), pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM comments WHERE store_id IS NULL`))
	tagged := tableReport(t, rep, "public.tagged")
	require.Equal(t, map[string]int64{backfill.ReasonUnknownType: 1}, tagged.Orphans.ByReason)

	// The trigger fills new rows of each type, and re-parents on a type change.
	pgtest.Exec(t, pool, `
INSERT INTO comments VALUES (9001, 'Post', 7, ''), (9002, 'Photo', 7, ''), (9003, 'User', 1, '');
INSERT INTO tagged VALUES (9001, 2, 7), (9002, 3, 7);
UPDATE comments SET commentable_type = 'Photo' WHERE id = 5;`)
	require.Zero(t, pgtest.Scalar[int64](t, pool, polyWrong))
	require.Equal(t, int64(1), pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM comments WHERE id > 9000 AND store_id IS NULL`))
}

// TestPinnedPathIsBackfilled fills a table through the key --via names
// when two parents disagree on the tenant, and through the data's choice
// without it.
func TestPinnedPathIsBackfilled(t *testing.T) {
	t.Parallel()
	ddl := `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE alpha (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE beta (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE note (id bigint PRIMARY KEY, alpha_id bigint REFERENCES alpha, beta_id bigint REFERENCES beta);
INSERT INTO store VALUES (1), (2);
INSERT INTO alpha VALUES (1, 1);
INSERT INTO beta VALUES (1, 2);
INSERT INTO note SELECT g, 1, CASE WHEN g % 4 = 0 THEN 1 END FROM generate_series(1, 400) g;
ANALYZE;
`
	for via, want := range map[string]int64{"": 1, "note.beta_id": 2} {
		pool, _ := source(t, ddl)
		cfg := plan.Config{TenantTable: "store"}
		if via != "" {
			cfg.Via = []string{via}
		}
		p := buildPlan(t, pool, cfg)
		rep := fill(t, pool, p, fastConfig())
		require.Equal(t, int64(400), pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM note`))
		require.Equal(t, int64(0), pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM note WHERE store_id IS DISTINCT FROM $1 AND store_id IS NOT NULL`, want), via)
		if via != "" {
			require.Equal(t, int64(300), tableReport(t, rep, "public.note").Orphans.Count, "the rows without beta_id are orphans")
		}
	}
}
