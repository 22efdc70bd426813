package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/tenantmover/tenantmover/internal/localpg"
)

// Aliases of internal/localpg, so tests need one import.
type (
	Server         = localpg.Server
	Options        = localpg.Options
	ClusterOptions = localpg.ClusterOptions
)

// Start starts a throwaway server (see localpg.Start).
func Start(opts Options) (*Server, error) { return localpg.Start(opts) }

// FindBinDir locates the PostgreSQL server binaries (see localpg.FindBinDir).
func FindBinDir() (string, error) { return localpg.FindBinDir() }

// CitusInstalled checks for citus.so next to the server binaries.
func CitusInstalled(bindir string) error { return localpg.CitusInstalled(bindir) }

// IsCitusMissing reports whether err means Citus is not installed here.
func IsCitusMissing(err error) bool { return localpg.IsCitusMissing(err) }

// Cluster is a Citus coordinator and its workers, with test helpers.
type Cluster struct{ *localpg.Cluster }

// StartCluster starts a coordinator and workers; the error satisfies
// IsCitusMissing when Citus is not installed.
func StartCluster(opts ClusterOptions) (*Cluster, error) {
	c, err := localpg.StartCluster(opts)
	if err != nil {
		return nil, err
	}
	return &Cluster{c}, nil
}

// ClusterDB is one test's database on a cluster.
type ClusterDB struct {
	Name        string
	Coordinator string   // URL of the database on the coordinator
	Workers     []string // URLs of the database on each worker
	db          *localpg.Database
}

// NewDB creates database name on every node, with the extension created and
// the workers registered; everything is dropped when t ends.
func (c *Cluster) NewDB(t testing.TB, name string) ClusterDB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := c.CreateDatabase(ctx, name)
	t.Cleanup(func() { dropLogged(t, d) })
	if err != nil {
		t.Fatal(err)
	}
	return ClusterDB{Name: d.Name, Coordinator: d.Coordinator, Workers: d.Workers, db: d}
}

// AddNode registers server s (from Cluster.StartNode) as a worker of this
// database.
func (cdb *ClusterDB) AddNode(t testing.TB, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cdb.db.AddNode(ctx, s); err != nil {
		t.Fatal(err)
	}
	cdb.Workers = cdb.db.Workers
}

func dropLogged(t testing.TB, d *localpg.Database) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Drop(ctx); err != nil {
		t.Logf("dropping database %s: %v", d.Name, err)
	}
}
