package localpg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClusterOptions configure a Citus cluster.
type ClusterOptions struct {
	// Workers is the number of worker nodes. Default 2.
	Workers int
	// ShardCount, when set, is the coordinator's citus.shard_count: the
	// shards a distributed table gets when its creator names none. Tests
	// use fewer than Citus's 32, since every shard is a table on a worker
	// that each DDL statement creates, indexes and constrains.
	ShardCount int
}

// Cluster is a Citus coordinator and its workers. Databases are created on
// every node with CreateDatabase; the server processes are shared.
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
		return fmt.Errorf("%w: %s not found (build Citus 13.x against this PostgreSQL and install it to use a Citus cluster)", errCitusMissing, lib)
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
	if c.Coordinator, err = Start(coordinatorOptions(nodeOpts, opts)); err != nil {
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

// coordinatorOptions are a node's settings plus the cluster's own.
func coordinatorOptions(node Options, opts ClusterOptions) Options {
	if opts.ShardCount == 0 {
		return node
	}
	settings := maps.Clone(node.Settings)
	settings["citus.shard_count"] = strconv.Itoa(opts.ShardCount)
	node.Settings = settings
	return node
}

// StartNode starts one more server configured as a Citus node, for adding a
// worker; register it with Database.AddNode.
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

// Database is one database created on every node of a cluster.
type Database struct {
	Name        string
	Coordinator string   // URL of the database on the coordinator
	Workers     []string // URLs of the database on each worker
	cluster     *Cluster
	nodes       []*Server
}

// CreateDatabase creates database name on every node, creates the citus
// extension in each, and registers the workers with the coordinator.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (*Database, error) {
	d := &Database{Name: name, cluster: c, Coordinator: c.Coordinator.URL(name)}
	if err := d.addServer(ctx, c.Coordinator); err != nil {
		return d, err
	}
	if err := c.Coordinator.Exec(ctx, name, "SELECT citus_set_coordinator_host('127.0.0.1', $1)", c.Coordinator.Port); err != nil {
		return d, fmt.Errorf("setting the coordinator host: %w", err)
	}
	for _, w := range c.Workers {
		if err := d.AddNode(ctx, w); err != nil {
			return d, err
		}
	}
	return d, nil
}

// AddNode creates the database and extension on s (started with
// Cluster.StartNode or one of the cluster's workers) and registers it as a
// worker of this database.
func (d *Database) AddNode(ctx context.Context, s *Server) error {
	if err := d.addServer(ctx, s); err != nil {
		return err
	}
	if err := d.registerNode(ctx, s); err != nil {
		return err
	}
	d.Workers = append(d.Workers, s.URL(d.Name))
	return nil
}

// registerNode adds s to the coordinator's node list. On a loaded machine
// (many test databases on one cluster) the coordinator's connection to
// the worker can fail ("failure on connection marked as essential"); the
// call is idempotent (an added node is returned as it is), so it is tried
// again a few times before giving up with both servers' logs.
func (d *Database) registerNode(ctx context.Context, s *Server) error {
	const attempts = 3
	var err error
	for i := 1; i <= attempts; i++ {
		if err = d.cluster.Coordinator.Exec(ctx, d.Name, "SELECT citus_add_node('127.0.0.1', $1)", s.Port); err == nil {
			return nil
		}
		if i < attempts {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(i) * time.Second):
			}
		}
	}
	return fmt.Errorf("registering worker on port %d (%d attempts): %w\ncoordinator log:\n%s\nworker log:\n%s",
		s.Port, attempts, err, tail(d.cluster.Coordinator.LogFile()), tail(s.LogFile()))
}

func (d *Database) addServer(ctx context.Context, s *Server) error {
	if err := s.CreateDatabase(ctx, d.Name); err != nil {
		return err
	}
	d.nodes = append(d.nodes, s)
	if err := s.Exec(ctx, d.Name, "CREATE EXTENSION citus"); err != nil {
		return fmt.Errorf("CREATE EXTENSION citus on port %d: %w\n%s", s.Port, err, tail(s.LogFile()))
	}
	return nil
}

// Drop drops the database from every node it was created on.
func (d *Database) Drop(ctx context.Context) error {
	var errs []error
	for _, s := range d.nodes {
		errs = append(errs, s.DropDatabase(ctx, d.Name))
	}
	return errors.Join(errs...)
}

// CreateDatabase creates an empty database on the server.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	if err := s.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("creating database %s on port %d: %w", name, s.Port, err)
	}
	return nil
}

// DropDatabase drops a database, disconnecting its sessions.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	return s.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}
