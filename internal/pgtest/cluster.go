package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClusterOptions configure a Citus cluster.
type ClusterOptions struct {
	// Workers is the number of worker nodes. Default 2.
	Workers int
}

// Cluster is a Citus coordinator and its workers. Each test creates its own
// database on every node with NewDB; the nodes are shared.
type Cluster struct {
	Coordinator *Server
	Workers     []*Server
}

// errCitusMissing marks the absence of the Citus extension.
var errCitusMissing = errors.New("citus extension not installed")

// IsCitusMissing reports whether err means Citus is not installed here.
func IsCitusMissing(err error) bool { return errors.Is(err, errCitusMissing) }

// CitusInstalled checks for citus.so in the server's library directory.
func CitusInstalled(bindir string) error {
	lib := filepath.Join(filepath.Dir(bindir), "lib", "citus.so")
	if _, err := os.Stat(lib); err != nil {
		return fmt.Errorf("%w: %s not found (build Citus 13.x against this PostgreSQL and install it to run the Citus tier)", errCitusMissing, lib)
	}
	return nil
}

// CitusNodeOptions are the settings every Citus node needs: the extension
// preloaded, logical decoding for shard moves, and prepared transactions for
// the coordinator's two-phase commits.
func CitusNodeOptions(bindir string) Options {
	settings := map[string]string{
		"shared_preload_libraries":                     "'citus'",
		"wal_level":                                    "logical",
		"max_replication_slots":                        "50",
		"max_wal_senders":                              "50",
		"max_worker_processes":                         "32",
		"citus.max_background_task_executors_per_node": "2",
	}
	probe := &Server{BinDir: bindir}
	// Recent minor releases restrict which libraries may serve as logical
	// decoding output plugins; without citus listed, every shard move, split
	// and tenant isolation fails.
	if probe.HasSetting("output_plugin_libraries") {
		settings["output_plugin_libraries"] = "'pgoutput,citus'"
	}
	return Options{Settings: settings}
}

// StartCluster starts a coordinator and opts.Workers workers. It returns an
// error for which IsCitusMissing is true when Citus is not installed.
func StartCluster(opts ClusterOptions) (*Cluster, error) {
	if opts.Workers == 0 {
		opts.Workers = 2
	}
	bindir, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	if err := CitusInstalled(bindir); err != nil {
		return nil, err
	}
	c := &Cluster{}
	nodeOpts := CitusNodeOptions(bindir)
	if c.Coordinator, err = Start(nodeOpts); err != nil {
		return nil, fmt.Errorf("starting Citus coordinator: %w", err)
	}
	for i := 0; i < opts.Workers; i++ {
		w, err := Start(nodeOpts)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("starting Citus worker %d: %w", i+1, err)
		}
		c.Workers = append(c.Workers, w)
	}
	return c, nil
}

// StartNode starts one more server configured as a Citus node, for tests
// that add a worker; the caller registers it with ClusterDB.AddNode.
func (c *Cluster) StartNode() (*Server, error) {
	return Start(CitusNodeOptions(c.Coordinator.BinDir))
}

// Close stops every node and removes its files.
func (c *Cluster) Close() {
	for _, w := range c.Workers {
		_ = w.Close()
	}
	if c.Coordinator != nil {
		_ = c.Coordinator.Close()
	}
}

// ClusterDB is one test's database on a cluster.
type ClusterDB struct {
	Name        string
	Coordinator string   // URL of the database on the coordinator
	Workers     []string // URLs of the database on each worker
	cluster     *Cluster
}

// NewDB creates database name on every node, creates the citus extension in
// each, and registers the workers with the coordinator. Everything is
// dropped when t ends.
func (c *Cluster) NewDB(t testing.TB, name string) ClusterDB {
	t.Helper()
	db := ClusterDB{Name: name, cluster: c}
	for _, s := range append([]*Server{c.Coordinator}, c.Workers...) {
		createDB(t, s, name)
		mustExec(t, s, name, "CREATE EXTENSION citus")
	}
	db.Coordinator = c.Coordinator.URL(name)
	mustExec(t, c.Coordinator, name, "SELECT citus_set_coordinator_host('127.0.0.1', $1)", c.Coordinator.Port)
	for _, w := range c.Workers {
		db.addNode(t, w)
	}
	return db
}

// AddNode creates the database and extension on server s (started with
// Cluster.StartNode) and registers it as a worker of this database.
func (db *ClusterDB) AddNode(t testing.TB, s *Server) {
	t.Helper()
	createDB(t, s, db.Name)
	mustExec(t, s, db.Name, "CREATE EXTENSION citus")
	db.addNode(t, s)
}

func (db *ClusterDB) addNode(t testing.TB, w *Server) {
	t.Helper()
	mustExec(t, db.cluster.Coordinator, db.Name, "SELECT citus_add_node('127.0.0.1', $1)", w.Port)
	db.Workers = append(db.Workers, w.URL(db.Name))
}

func mustExec(t testing.TB, s *Server, db, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL(db))
	if err != nil {
		t.Fatalf("connecting to %s on port %d: %v", db, s.Port, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s on port %d: %v\n%s", sql, s.Port, err, tail(s.LogFile()))
	}
}
