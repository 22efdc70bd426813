package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/backfill"
	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/localpg"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/sample"
	"github.com/tenantmover/tenantmover/migrate"
	"github.com/tenantmover/tenantmover/verify"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run a whole migration on throwaway local databases (nothing to set up)",
		Description: `Starts a throwaway local PostgreSQL as the source and, when the Citus extension
is installed, a local Citus coordinator with two workers as the target
(otherwise a second plain PostgreSQL, saying so). Fills the source with the
sample shop (stores, products, purchases, refunds, and a company/user group),
starts an application writing to it, and runs "tenantmover migrate --follow
--tenant-table store" with progress while it writes; once the follower has
caught up, "tenantmover cutover" switches over: it shows how long writes
paused, that every write the source acknowledged is on the target, and that
the source refuses writes from then on. Then "rebalance status" on Citus,
and everything is removed. --no-follow runs "migrate --checksum" on a quiet
source instead. --keep leaves the servers running and prints their URLs.`,
		Flags: commonFlags(
			&cli.StringFlag{Name: "size", Value: "small", Usage: "sample size: small, medium (500k purchases) or large (5M purchases)"},
			&cli.BoolFlag{Name: "keep", Usage: "leave the servers running and print their URLs and how to stop them"},
			&cli.BoolFlag{Name: "plain", Usage: "use a plain PostgreSQL target even when Citus is installed"},
			&cli.BoolFlag{Name: "no-follow", Usage: "no application writing: migrate --checksum on a quiet source, without follow and cutover"},
			&cli.IntFlag{Name: "workers", Usage: "batches, chunks and comparisons in flight at once (default: each phase's own)"},
		),
		Action: runDemo,
	}
}

// demo is the throwaway servers of one demo run.
type demo struct {
	c       *cli.Context
	source  *localpg.Server
	target  *localpg.Server
	cluster *localpg.Cluster
	srcURL  string
	dstURL  string
}

func runDemo(c *cli.Context) error {
	params, err := sample.Size(c.String("size"))
	if err != nil {
		return usageError(err.Error())
	}
	d := &demo{c: c}
	defer d.cleanup()
	if err := d.startServers(c.Context); err != nil {
		return err
	}
	if err := d.generate(c.Context, params); err != nil {
		return err
	}
	if err := d.migrate(); err != nil {
		return err
	}
	d.rebalanceStatus()
	return nil
}

const demoDB = "shop"

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(stderrOf(d.c), "demo: "+format+"\n", args...)
}

func (d *demo) startServers(ctx context.Context) error {
	var err error
	d.say("starting a throwaway source PostgreSQL")
	// Logical WAL: the follower streams the source's changes.
	if d.source, err = localpg.Start(localpg.Options{Settings: map[string]string{"wal_level": "logical"}}); err != nil {
		return err
	}
	if err := d.source.CreateDatabase(ctx, demoDB); err != nil {
		return err
	}
	d.srcURL = d.source.URL(demoDB)
	if !d.c.Bool("plain") {
		d.cluster, err = localpg.StartCluster(localpg.ClusterOptions{Workers: 2})
		switch {
		case err == nil:
			d.say("starting a Citus coordinator and two workers as the target")
			cdb, err := d.cluster.CreateDatabase(ctx, demoDB)
			if err != nil {
				return err
			}
			d.dstURL = cdb.Coordinator
			return nil
		case !localpg.IsCitusMissing(err):
			return fmt.Errorf("starting the Citus cluster: %w", err)
		}
		d.say("Citus is not installed here (%v): the target is a second plain PostgreSQL, so there is no distribution and no rebalance", err)
	}
	if d.target, err = localpg.Start(localpg.Options{}); err != nil {
		return err
	}
	if err := d.target.CreateDatabase(ctx, demoDB); err != nil {
		return err
	}
	d.dstURL = d.target.URL(demoDB)
	return nil
}

func (d *demo) generate(ctx context.Context, p sample.Params) error {
	d.say("generating the sample shop: %d stores, %d products, %d purchases, %d refunds", p.Stores, p.Products, p.Purchases, p.Refunds)
	pool, err := db.Open(ctx, d.srcURL, db.Options{MaxConns: 4})
	if err != nil {
		return err
	}
	defer pool.Close()
	started := time.Now()
	if err := sample.Generate(ctx, pool, p); err != nil {
		return fmt.Errorf("generating the sample: %w", err)
	}
	d.say("generated in %.1fs", time.Since(started).Seconds())
	return nil
}

// migrate runs the migration as "tenantmover migrate --follow" and
// "tenantmover cutover" would, with an application writing (or
// "tenantmover migrate --checksum" with --no-follow), through the same
// library and report.
func (d *demo) migrate() error {
	w := d.c.Int("workers")
	cfg := migrate.Config{Source: d.srcURL, Target: d.dstURL, Plan: plan.Config{TenantTable: "store"},
		Run:      migrate.DefaultRun,
		Backfill: backfill.Config{Workers: w}, Copy: pgcopy.Config{Workers: w}, Verify: verify.Config{Workers: w, Checksum: true}}
	if !d.c.Bool("no-follow") {
		return d.migrateFollowing(cfg)
	}
	d.say("running: tenantmover migrate --source %s --target %s --tenant-table store --checksum", d.srcURL, d.dstURL)
	return runMigration(d.c, cfg)
}

// rebalanceStatus shows how the tenants spread over the workers, as
// "tenantmover rebalance status" does.
func (d *demo) rebalanceStatus() {
	if d.cluster == nil {
		return
	}
	d.say("running: tenantmover rebalance status --target %s", d.dstURL)
	err := func() error {
		pool, err := db.Open(d.c.Context, d.dstURL, db.ForProfile(db.ProfileScans))
		if err != nil {
			return err
		}
		defer pool.Close()
		st, err := citus.Status(d.c.Context, pool, citus.StatusOptions{TopTenants: 10})
		if err != nil {
			return err
		}
		printClusterStatus(stderrOf(d.c), st)
		return nil
	}()
	if err != nil {
		d.say("rebalance status: %v", db.RedactError(err))
	}
}

func (d *demo) servers() []*localpg.Server {
	var out []*localpg.Server
	for _, s := range []*localpg.Server{d.source, d.target} {
		if s != nil {
			out = append(out, s)
		}
	}
	if d.cluster != nil {
		out = append(out, d.cluster.Coordinator)
		out = append(out, d.cluster.Workers...)
	}
	return out
}

// cleanup stops every server, or with --keep leaves them and says how to
// reach and stop them.
func (d *demo) cleanup() {
	if d.c.Bool("keep") {
		d.say("kept the servers running:")
		fmt.Fprintf(stdoutOf(d.c), "export TENANTMOVER_SOURCE='%s'\nexport TENANTMOVER_TARGET='%s'\n", d.srcURL, d.dstURL)
		for _, s := range d.servers() {
			_ = s.Detach()
			d.say("stop with: %s", s.StopCommand())
		}
		return
	}
	for _, s := range d.servers() {
		_ = s.Close()
	}
	d.say("removed the throwaway servers")
}
