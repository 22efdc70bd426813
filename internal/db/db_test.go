package db_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/pgtest"
)

var env pgtest.Env

func TestMain(m *testing.M) { env.Main(m) }

func TestRedact(t *testing.T) {
	cases := map[string]string{
		"postgres://bob:s3cret@host:5432/db":       "postgres://bob:xxxxx@host:5432/db",
		"postgres://bob@host/db?password=s3cret":   "postgres://bob@host/db?password=xxxxx",
		"host=h user=bob password=s3cret dbname=d": "host=h user=bob password=xxxxx dbname=d",
		"host=h password='se cret x' dbname=d":     "host=h password=xxxxx dbname=d",
		"postgres://bob:p%40ss@host/db":            "postgres://bob:xxxxx@host/db",
		"host=h user=bob dbname=d":                 "host=h user=bob dbname=d",
	}
	for in, want := range cases {
		got := db.Redact(in)
		require.Equal(t, want, got, in)
		require.NotContains(t, got, "s3cret")
	}
}

func TestOpenBadPasswordNeverPrintsIt(t *testing.T) {
	// A port nobody listens on: the error must name the host but not the password.
	_, err := db.Open(context.Background(), "postgres://bob:topsecret@127.0.0.1:1/db?connect_timeout=2", db.Options{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "topsecret")
	require.Contains(t, err.Error(), "127.0.0.1")
	var ce *db.ConnError
	require.ErrorAs(t, err, &ce)

	_, err = db.Open(context.Background(), "postgres://bob:topsecret@[bad", db.Options{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "topsecret")
}

func TestOpenAppliesRuntimeSettings(t *testing.T) {
	ctx := context.Background()
	pool, err := db.Open(ctx, env.NewDB(t), db.ForProfile(db.ProfileBatches))
	require.NoError(t, err)
	defer pool.Close()
	var app, lock, stmt string
	require.NoError(t, pool.QueryRow(ctx, "SELECT current_setting('application_name'), current_setting('lock_timeout'), current_setting('statement_timeout')").Scan(&app, &lock, &stmt))
	require.Equal(t, "tenantmover", app)
	require.Equal(t, "1s", lock)
	require.Equal(t, "2min", stmt)
}

func TestClassify(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code}) }
	require.Equal(t, db.LockTimeout, db.Classify(pg(pgerrcode.LockNotAvailable)))
	require.Equal(t, db.Conflict, db.Classify(pg(pgerrcode.DeadlockDetected)))
	require.Equal(t, db.Conflict, db.Classify(pg(pgerrcode.SerializationFailure)))
	require.Equal(t, db.ConnectionLost, db.Classify(pg(pgerrcode.AdminShutdown)))
	require.Equal(t, db.ConnectionLost, db.Classify(pg(pgerrcode.ConnectionFailure)))
	require.Equal(t, db.Fatal, db.Classify(pg(pgerrcode.UndefinedTable)))
	require.Equal(t, db.Canceled, db.Classify(context.Canceled))
	require.Equal(t, db.Fatal, db.Classify(errors.New("boom")))
	require.True(t, db.IsRetryable(pg(pgerrcode.DeadlockDetected)))
	require.False(t, db.IsRetryable(pg(pgerrcode.UniqueViolation)))
}

// A real lock timeout and a real terminated backend classify as retryable.
func TestClassifyRealErrors(t *testing.T) {
	ctx := context.Background()
	url := env.NewDB(t)
	pool, err := db.Open(ctx, url, db.Options{})
	require.NoError(t, err)
	defer pool.Close()
	pgtest.Exec(t, pool, "CREATE TABLE t (id int)")

	holder, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer holder.Rollback(ctx)
	pgtest.Exec(t, holder, "LOCK t IN ACCESS EXCLUSIVE MODE")

	conn, err := db.Connect(ctx, url, db.Options{LockTimeout: 50_000_000})
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT * FROM t")
	require.Equal(t, db.LockTimeout, db.Classify(err), "%v", err)

	var pid int
	require.NoError(t, conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	pgtest.Exec(t, pool, "SELECT pg_terminate_backend($1)", pid)
	_, err = conn.Exec(ctx, "SELECT 1")
	require.Error(t, err)
	require.Equal(t, db.ConnectionLost, db.Classify(err), "%v", err)
}

func TestParseQualifiedName(t *testing.T) {
	cases := []struct {
		in     string
		schema string
		name   string
		shown  string
	}{
		{"store", "public", "store", "public.store"},
		{"Store", "public", "store", "public.store"},
		{`"Sales Ops"."Tenant"`, "Sales Ops", "Tenant", `"Sales Ops"."Tenant"`},
		{`app."we""ird.name"`, "app", `we"ird.name`, `app."we""ird.name"`},
		{`"user"`, "public", "user", `public."user"`},
		{`"Ünïcode"`, "public", "Ünïcode", `public."Ünïcode"`},
	}
	for _, c := range cases {
		q, err := db.ParseQualifiedName(c.in, "public")
		require.NoError(t, err, c.in)
		require.Equal(t, c.schema, q.Schema, c.in)
		require.Equal(t, c.name, q.Name, c.in)
		require.Equal(t, c.shown, q.String(), c.in)
		back, err := db.ParseQualifiedName(q.String(), "x")
		require.NoError(t, err)
		require.Equal(t, q, back)
	}
	for _, bad := range []string{"", `"unterminated`, "a.b.c", "has space", `""`} {
		_, err := db.ParseQualifiedName(bad, "public")
		require.Error(t, err, bad)
	}
}

func TestConnErrorIsOneLine(t *testing.T) {
	_, err := db.Open(context.Background(), "postgres://u:pw123456@localhost:1/x?connect_timeout=2", db.Options{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "\n")
	require.NotContains(t, err.Error(), "pw123456")
	require.Contains(t, err.Error(), "postgres://u:xxxxx@localhost:1/x")
}
