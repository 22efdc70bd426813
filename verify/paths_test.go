package verify_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/schema"
	"github.com/tenantmover/tenantmover/verify"
)

// TestPolymorphicInvariant checks a polymorphic table's tenant against each
// type's parent on that type's rows only: consistent data matches (a check
// ignoring the type would compare photo comments with posts of the same
// id), and a post comment with another tenant is named.
func TestPolymorphicInvariant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := open(t, env.NewDB(t))
	pgtest.Exec(t, src, `
CREATE TABLE store (id bigint PRIMARY KEY);
CREATE TABLE posts (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE photos (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store);
CREATE TABLE comments (id bigint PRIMARY KEY, commentable_type text, commentable_id bigint, store_id bigint);
INSERT INTO store VALUES (1), (2);
INSERT INTO posts VALUES (1, 1), (2, 2);
INSERT INTO photos VALUES (1, 2), (2, 1);
INSERT INTO comments VALUES (1, 'Post', 1, 1), (2, 'Photo', 1, 2), (3, 'Post', 2, 2), (4, 'Photo', 2, 1), (5, 'User', 1, NULL);`)
	p, err := plan.Build(ctx, src, plan.Config{TenantTable: "store", Relations: []string{
		"comments.commentable_id=posts.id when commentable_type=Post", "comments.commentable_id=photos.id when commentable_type=Photo"}})
	require.NoError(t, err)
	require.Len(t, p.Table(schema.Name{Schema: "public", Name: "comments"}).Branches, 2)

	// Only the user's comment, an orphan, is named: no invariant breaks.
	invariants := func() (orphans, broken []verify.Difference) {
		res, err := verify.CheckSource(ctx, envOf(src, nil, p, nil), verify.Config{})
		require.NoError(t, err)
		for _, d := range res.Differences {
			if d.Kind == verify.KindInvariant {
				broken = append(broken, d)
			} else {
				orphans = append(orphans, d)
			}
		}
		return orphans, broken
	}
	orphans, broken := invariants()
	require.Empty(t, broken)
	require.Len(t, orphans, 1)
	require.Equal(t, []string{"5"}, orphans[0].Keys)

	pgtest.Exec(t, src, `UPDATE comments SET store_id = 2 WHERE id = 1`)
	_, broken = invariants()
	require.Len(t, broken, 1)
	require.Equal(t, []string{"1"}, broken[0].Keys)
	require.Contains(t, broken[0].Detail, "public.posts")
}
