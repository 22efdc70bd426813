package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/backfill"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
)

func backfillCommand() *cli.Command {
	flags := commonFlags(sourceFlag, runFlag, formatFlag,
		&cli.IntFlag{Name: "workers", Value: backfill.DefaultWorkers, Usage: "batches in flight at once, across key ranges and tables whose parents are done"},
		&cli.DurationFlag{Name: "batch-time", Value: backfill.DefaultBatchTime, Usage: "target duration of one batch; the batch size adapts toward it"},
		&cli.BoolFlag{Name: "restart", Usage: "forget the run's checkpoints and walk every table again (values already filled stay)"},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the DDL, the batch SQL and the rows per table, changing nothing"},
		&cli.BoolFlag{Name: "keep-triggers", Usage: "leave the fill triggers installed, for an application that does not write the tenant column yet"},
		&cli.BoolFlag{Name: "set-not-null", Usage: "then add NOT NULL online (CHECK NOT VALID, VALIDATE, SET NOT NULL); needs --keep-triggers"},
		&cli.DurationFlag{Name: "max-replica-lag", Usage: "pause batches while a replica replays further behind than this (0: off)"},
		&cli.DurationFlag{Name: "lock-timeout", Usage: "how long a batch waits for a row lock before it retries smaller (default 2 x --batch-time)"},
		&cli.DurationFlag{Name: "batch-timeout", Usage: "a batch running longer is cancelled and retried smaller, so none holds its locks longer (default 3 x --batch-time)"},
		&cli.IntFlag{Name: "max-retries", Value: backfill.DefaultMaxRetries, Usage: "attempts per batch on lock timeouts, deadlocks and lost connections before giving up"},
		&cli.IntFlag{Name: "min-batch-rows", Value: backfill.DefaultMinBatchRows, Usage: "smallest batch"},
		&cli.IntFlag{Name: "max-batch-rows", Value: backfill.DefaultMaxBatchRows, Usage: "largest batch"},
	)
	return &cli.Command{
		Name:  "backfill",
		Usage: "add the tenant column to nested tables and fill it online, in small resumable batches",
		Description: `For every nested table of the plan, parents first: adds the tenant column
(nullable, the root key's type: a catalog-only change), installs a trigger that
fills it for rows the application writes meanwhile, then fills existing rows
one foreign-key hop from the parent in short keyset batches, each committed
with its checkpoint (schema tenantmover on the source). Batches run under a
short lock_timeout, adapt their size to --batch-time, retry with backoff and
pause while replicas lag (--max-replica-lag).

At the end each table gets an index on the column (CREATE INDEX CONCURRENTLY),
and every remaining NULL must be an orphan (NULL foreign key, missing parent,
parent without a value): orphans are counted and listed with sample keys.
--set-not-null then adds NOT NULL without a long lock. The triggers are
dropped unless --keep-triggers: keep them until the application writes the
column itself.

After a crash, kill -9 or Ctrl-C, run the same command again: it continues
where it stopped. 'tenantmover status --source URL' shows the progress.`,
		Flags:  append(append(flags, windowFlags(true)...), tenantFlags()...),
		Action: runBackfill,
	}
}

func runBackfill(c *cli.Context) error {
	format, rep, runErr := runPhase(c, backfill.Name, false, backfillConfig, func(ctx context.Context, env *phase.Env, cfg backfill.Config) (*backfill.Report, error) {
		if len(env.Plan.OfKind(plan.Nested)) == 0 {
			fmt.Fprintf(stderrOf(c), "no nested tables: every distributed table already has a column referencing %s; nothing to backfill\n", env.Plan.Root.Name())
		}
		return backfill.Run(ctx, env, cfg)
	})
	if rep == nil {
		return runErr
	}
	if runErr == nil || isReportable(runErr) {
		printBackfill(stderrOf(c), rep)
		if err := writeJSON(c, format, rep); err != nil {
			return err
		}
	}
	return runErr
}

// backfillConfig reads backfill's own flags.
func backfillConfig(c *cli.Context) (backfill.Config, error) {
	cfg, err := backfill.NewConfig(backfill.Config{
		Workers:       c.Int("workers"),
		BatchTime:     c.Duration("batch-time"),
		MinBatchRows:  c.Int("min-batch-rows"),
		MaxBatchRows:  c.Int("max-batch-rows"),
		LockTimeout:   c.Duration("lock-timeout"),
		BatchTimeout:  c.Duration("batch-timeout"),
		MaxRetries:    c.Int("max-retries"),
		MaxReplicaLag: c.Duration("max-replica-lag"),
		KeepTriggers:  c.Bool("keep-triggers"),
		SetNotNull:    c.Bool("set-not-null"),
		DryRun:        c.Bool("dry-run"),
	})
	if err != nil {
		return cfg, usageError(err.Error())
	}
	return cfg, nil
}

// isReportable: errors after which the report is complete and worth
// printing (it lists the orphans the error is about).
func isReportable(err error) bool {
	var oe *backfill.OrphansError
	return errors.As(err, &oe) || errors.Is(err, phase.ErrWindowEnded)
}

func printBackfill(w io.Writer, r *backfill.Report) {
	if r.DryRun {
		printBackfillDryRun(w, r)
		return
	}
	var rows [][]string
	for _, t := range r.Tables {
		rows = append(rows, []string{t.Table, t.Parent + "." + t.ParentColumn, fmt.Sprint(t.RowsUpdated),
			fmt.Sprintf("%d/%d", t.RowsVisitedBefore+t.RowsVisited, t.EstimatedRows), fmt.Sprint(t.Batches), fmt.Sprint(t.Retries),
			fmtMillis(t.MaxBatchSeconds), fmt.Sprint(t.Orphans.Count), notNullText(t), fmt.Sprintf("%.1f", t.Seconds)})
	}
	if r.Resumed {
		fmt.Fprintf(w, "run %q resumed from its checkpoints\n", r.Run)
	}
	tabular(w, []string{"TABLE", "FROM", "FILLED", "WALKED/~ROWS", "BATCHES", "RETRIES", "MAX BATCH", "ORPHANS", "NOT NULL", "SECONDS"}, rows)
	printOrphans(w, r)
	if r.ReplicaPauseSeconds > 0 {
		fmt.Fprintf(w, "paused %.1fs waiting for replicas\n", r.ReplicaPauseSeconds)
	}
	switch {
	case len(r.Tables) == 0:
	case r.TriggersKept:
		fmt.Fprintf(w, "\nThe fill triggers stay installed: keep them until your application writes %s itself, then drop them:\n", r.Column)
		for _, s := range r.DropTriggers {
			fmt.Fprintf(w, "  %s;\n", s)
		}
	default:
		fmt.Fprintf(w, "\nThe fill triggers were dropped: rows inserted from now on get %s only if your application writes it (use --keep-triggers to keep them).\n", r.Column)
	}
}

// fmtMillis shows seconds as whole milliseconds: 116ms.
func fmtMillis(s float64) string { return fmt.Sprintf("%.0fms", s*1000) }

func notNullText(t *backfill.TableReport) string {
	if t.NotNullAdded {
		return "yes"
	}
	return "-"
}

func printOrphans(w io.Writer, r *backfill.Report) {
	for _, t := range r.Tables {
		if t.Orphans.Count == 0 {
			continue
		}
		var parts []string
		for reason, n := range t.Orphans.ByReason {
			parts = append(parts, fmt.Sprintf("%d %s", n, reason))
		}
		fmt.Fprintf(w, "\n%s: %d orphans left without %s (%s); sample keys:\n", t.Table, t.Orphans.Count, t.Column, strings.Join(parts, ", "))
		for _, s := range t.Orphans.Samples {
			fmt.Fprintf(w, "  (%s)  %s\n", strings.Join(s.Key, ", "), s.Reason)
		}
	}
}

func printBackfillDryRun(w io.Writer, r *backfill.Report) {
	fmt.Fprintln(w, "-- dry run: nothing was changed")
	for _, t := range r.Tables {
		fmt.Fprintf(w, "\n-- %s: about %d rows, filled from %s.%s\n", t.Table, t.EstimatedRows, t.Parent, t.ParentColumn)
		if t.Note != "" {
			fmt.Fprintf(w, "-- %s\n", t.Note)
		}
		for _, s := range t.DDL {
			fmt.Fprintf(w, "%s;\n", s)
		}
		fmt.Fprintln(w, "-- each batch: find where it ends (params: cursor key, unit upper bound, batch rows), then fill it (params: cursor key, batch end key); keys travel as text")
		for _, s := range t.BatchSQL {
			fmt.Fprintf(w, "%s;\n", s)
		}
	}
}
