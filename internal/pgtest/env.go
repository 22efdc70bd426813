// Package pgtest gives tests throwaway PostgreSQL servers and Citus clusters
// (started by internal/localpg): one server per test package, started from
// TestMain through Env, and a fresh database per test, dropped on cleanup, so
// tests can run with t.Parallel(). The Citus tier skips, saying why, when the
// extension is not installed.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Env is the servers of one test package. Declare one at package level and
// run the package through it:
//
//	var env pgtest.Env
//	func TestMain(m *testing.M) { env.Main(m, pgtest.WithCitus()) }
//
// then call env.NewDB(t) or env.NewCitusDB(t) in each test.
type Env struct {
	pg        *Server
	citus     *Cluster
	citusSkip string // why Citus tests skip, when they do
	seq       atomic.Int64
}

// EnvOption selects what Main starts.
type EnvOption func(*envConfig)

type envConfig struct{ citus bool }

// WithCitus also starts a Citus cluster (a coordinator and two workers) when
// the extension is installed.
func WithCitus() EnvOption { return func(c *envConfig) { c.citus = true } }

// Main starts the servers, runs the tests and stops the servers. A missing
// PostgreSQL fails the whole package: a test must never pass by not running.
func (e *Env) Main(m *testing.M, opts ...EnvOption) {
	var cfg envConfig
	for _, o := range opts {
		o(&cfg)
	}
	code := e.run(m, cfg)
	writeTally()
	os.Exit(code)
}

func (e *Env) run(m *testing.M, cfg envConfig) int {
	// Logical WAL, slots and senders: the follow tests stream from the
	// package's server.
	pg, err := Start(Options{Settings: map[string]string{"wal_level": "logical", "max_replication_slots": "40", "max_wal_senders": "40"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: cannot start PostgreSQL:", err)
		return 1
	}
	e.pg = pg
	defer pg.Close()
	if cfg.citus {
		e.startCitus()
		if e.citus != nil {
			defer e.citus.Close()
		}
	}
	return m.Run()
}

// TestShardCount is citus.shard_count on the test clusters: enough shards
// that tenants spread over both workers and several shards per node, a
// quarter of Citus's default so that each test's DDL creates a quarter of
// the shard tables.
const TestShardCount = 8

func (e *Env) startCitus() {
	c, err := StartCluster(ClusterOptions{Workers: 2, ShardCount: TestShardCount})
	if err != nil {
		e.citusSkip = err.Error()
		if !IsCitusMissing(err) {
			// A Citus that is installed but cannot start is a failure the
			// tests report, not a reason to skip.
			e.citusSkip = "FAIL: " + err.Error()
		}
		return
	}
	e.citus = c
}

// Server is the package's plain PostgreSQL server.
func (e *Env) Server() *Server { return e.pg }

// NewDB creates an empty database for t on the plain server and returns its
// URL; the database is dropped when t ends.
func (e *Env) NewDB(t testing.TB) string {
	t.Helper()
	if e.pg == nil {
		t.Fatal("pgtest: Env.Main did not start a server (call env.Main from TestMain)")
	}
	name := e.dbName(t)
	createDB(t, e.pg, name)
	return e.pg.URL(name)
}

// Cluster returns the package's Citus cluster, skipping t with the reason
// when Citus is not installed (failing it instead under PGTEST_REQUIRE_CITUS,
// and whenever Citus is installed but did not start).
func (e *Env) Cluster(t testing.TB) *Cluster {
	t.Helper()
	if e.citus == nil {
		if strings.HasPrefix(e.citusSkip, "FAIL: ") {
			t.Fatal(e.citusSkip)
		}
		if e.citusSkip == "" {
			t.Fatal("pgtest: Citus was not requested (use env.Main(m, pgtest.WithCitus()))")
		}
	}
	CitusTier(t, e.citusSkip)
	return e.citus
}

// NewCitusDB creates a database on every node of the package's Citus
// cluster, with the extension created and the workers registered.
func (e *Env) NewCitusDB(t testing.TB) ClusterDB {
	t.Helper()
	return e.Cluster(t).NewDB(t, e.dbName(t))
}

// dbName makes a unique, readable database name for a test.
func (e *Env) dbName(t testing.TB) string {
	n := e.seq.Add(1)
	base := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '_'
	}, t.Name())
	if len(base) > 40 {
		base = base[:40]
	}
	return fmt.Sprintf("t%d_%s", n, base)
}

func createDB(t testing.TB, s *Server, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.DropDatabase(ctx, name); err != nil {
			t.Logf("dropping database %s: %v", name, err)
		}
	})
}
