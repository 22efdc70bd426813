package main

import (
	"errors"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/backfill"
	"github.com/tenantmover/tenantmover/checkpoints"
	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/planview"
	"github.com/tenantmover/tenantmover/migrate"
	"github.com/tenantmover/tenantmover/verify"
)

func migrateCommand() *cli.Command {
	flags := commonFlags(sourceFlag, targetFlag, runFlag,
		&cli.IntFlag{Name: "workers", Usage: "batches, chunks and comparisons in flight at once (default: each phase's own, as its command: backfill 2, copy 4, verify 2)"},
		&cli.DurationFlag{Name: "batch-time", Value: backfill.DefaultBatchTime, Usage: "target duration of one backfill batch"},
		&cli.Int64Flag{Name: "chunk-rows", Value: pgcopy.DefaultChunkRows, Usage: "rows per copy chunk"},
		&cli.BoolFlag{Name: "checksum", Usage: "verify content hashes too, not only counts"},
		&cli.BoolFlag{Name: "skip-tenant-check", Usage: "skip the tenant-check phase (a NULL scan per distributed table and a join per foreign key between them); rows it would find then stop the copy or the foreign keys"},
		&cli.BoolFlag{Name: "restart", Usage: "forget this run's checkpoints and start over (empties the target tables it copies into)"},
		&cli.StringFlag{Name: "report", Usage: "also write the final report as JSON to this file"},
		&cli.StringFlag{Name: "part", Usage: "copy part K of N (K/N, as copy --part): N processes run the migration together, one at a time through the phases before the copy, sharing the copy; the part completing it adds the foreign keys and verifies (not with --follow)"},
	)
	return &cli.Command{
		Name:  "migrate",
		Usage: "plan, backfill, create the target schema, copy and verify as one resumable run",
		Description: `The whole night in one command. Phases, in order:

   plan          read the source; stop if the plan has blocking problems
   backfill      add and fill the tenant column on nested tables (source)
   tenant-check  check every row has a tenant and its foreign keys stay within it
   schema        create the Citus schema on the target, if absent
   copy          stream every table into the target, chunk by chunk
   foreign-keys  add the target's (composite) foreign keys
   verify        compare every tenant of every table

With --follow the application keeps writing throughout: copy reads a
replication slot's snapshot, and instead of verify a follow phase applies the
source's changes until 'tenantmover cutover --run NAME' (which verifies).

Every phase checkpoints in the database it writes, so after a crash, kill or
Ctrl-C, running the same command again continues at the phase and chunk where
it stopped. Exit status 0 when the target matches, 2 when verify found
differences (or the plan has blocking problems), 1 on error, 3 stopped at the
end of its time window (--until, --for: rerun to continue), 130 interrupted.`,
		Flags:  append(append(append(flags, followFlags()...), windowFlags(true)...), tenantFlags()...),
		Action: runMigrate,
	}
}

// migrateConfig maps migrate's flags to the library's config.
func migrateConfig(c *cli.Context) (migrate.Config, error) {
	pcfg, err := planConfig(c)
	if err != nil {
		return migrate.Config{}, err
	}
	cfg := migrate.Config{Plan: pcfg, Run: runName(c, migrate.DefaultRun), Restart: c.Bool("restart"), SkipTenantCheck: c.Bool("skip-tenant-check"),
		Backfill: backfill.Config{Workers: c.Int("workers"), BatchTime: c.Duration("batch-time")},
		Copy:     pgcopy.Config{Workers: c.Int("workers"), ChunkRows: c.Int64("chunk-rows")},
		Verify:   verify.Config{Workers: c.Int("workers"), Checksum: c.Bool("checksum")},
	}
	if cfg.Follow, err = followConfig(c); err != nil {
		return cfg, err
	}
	if c.IsSet("part") {
		if cfg.Copy.Part, err = checkpoints.ParsePart(c.String("part")); err != nil {
			return cfg, usageError(err.Error())
		}
		switch {
		case cfg.Follow != nil:
			return cfg, usageError("--part cannot be used with --follow: a followed copy reads the one snapshot of its replication slot, and each part reads a snapshot of its own")
		case cfg.Restart:
			return cfg, usageError("--restart cannot be used with --part: one part would empty the tables the others copy into; restart the run in one process without --part")
		}
	}
	if cfg.Window, err = windowOf(c, time.Now()); err != nil {
		return cfg, err
	}
	if c.IsSet("workers") && c.Int("workers") < 1 {
		return cfg, usageError("--workers must be at least 1")
	}
	if cfg.Source, err = requireURL(c, "source"); err != nil {
		return cfg, err
	}
	cfg.Target, err = requireURL(c, "target")
	return cfg, err
}

func runMigrate(c *cli.Context) error {
	cfg, err := migrateConfig(c)
	if err != nil {
		return err
	}
	return runMigration(c, cfg)
}

// runMigration runs cfg with progress and prints (and with --report
// writes) its report; the demo runs it too.
func runMigration(c *cli.Context, cfg migrate.Config) error {
	progress, closeProgress := newProgress(c)
	progress = (&phase.Estimator{Window: cfg.Window}).Wrap(progress)
	cfg.Progress = progress
	closeWatch, err := watchSource(c.Context, cfg.Window, cfg.Source, c.Int("max-active-sessions"), func(why string) {
		progress(phase.Event{Kind: phase.Note, Message: "paused: " + why})
	})
	if err != nil {
		closeProgress()
		return err
	}
	rep, err := migrate.Run(c.Context, cfg)
	closeWatch()
	closeProgress()
	var blocked *migrate.BlockedError
	if errors.As(err, &blocked) {
		_ = planview.RenderText(stderrOf(c), blocked.Plan)
		return &differencesError{msg: err.Error()}
	}
	var problems *verify.TenantProblemsError
	if errors.As(err, &problems) {
		printDifferences(stderrOf(c), problems.Differences)
	}
	if rep == nil {
		return err
	}
	printMigrateReport(stderrOf(c), rep)
	if werr := writeReport(c.String("report"), rep); werr != nil && err == nil {
		err = werr
	}
	if err == nil && !rep.Match && rep.Follow == nil && !rep.OthersCopying {
		return &differencesError{msg: "verify found differences"}
	}
	return err
}
