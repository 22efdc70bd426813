package citus_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/pgtest"
)

func TestWorkerURL(t *testing.T) {
	node := citus.Node{Name: "10.0.0.7", Port: 6433}
	cases := map[string]string{
		"postgres://bob:s3cret@coord:5432/app?sslmode=require":          "postgres://bob:s3cret@10.0.0.7:6433/app?sslmode=require",
		"postgresql://bob@coord/app?host=coord&port=5432&sslmode=allow": "postgresql://bob@10.0.0.7:6433/app?sslmode=allow",
		"host=coord port=5432 user=bob password='a b\\'c' dbname=app":   "user=bob password='a b\\'c' dbname=app host=10.0.0.7 port=6433",
		"dbname = app hostaddr=1.2.3.4":                                 "dbname = app host=10.0.0.7 port=6433",
		"":                                                              "host=10.0.0.7 port=6433",
	}
	for in, want := range cases {
		require.Equal(t, want, citus.WorkerURL(in, node), in)
	}
	// IPv6 node names are bracketed in URIs.
	require.Equal(t, "postgres://u@[::1]:7000/d", citus.WorkerURL("postgres://u@h/d", citus.Node{Name: "::1", Port: 7000}))
}

func TestRequireCoordinatorOnPlainPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, env.NewDB(t))
	ok, err := citus.IsCitus(ctx, pool)
	require.NoError(t, err)
	require.False(t, ok)
	_, err = citus.RequireCoordinator(ctx, pool)
	var nc *citus.NotCoordinatorError
	require.ErrorAs(t, err, &nc)
	require.Regexp(t, `^target is not a Citus coordinator \(extension citus not installed in database t\d+_\w+\)$`, err.Error())
}
