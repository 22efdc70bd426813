package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/checkpoints"
	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
)

func copyCommand() *cli.Command {
	flags := commonFlags(sourceFlag, targetFlag, runFlag, formatFlag,
		&cli.StringSliceFlag{Name: "tenants", Usage: "copy only these tenants (tenant key values, comma-separated or repeated)"},
		&cli.StringFlag{Name: "tenants-file", Usage: "copy only the tenants listed in this file, one per line"},
		&cli.BoolFlag{Name: "replace", Usage: "with --tenants: delete the tenants' target rows in the same transaction as their copy"},
		&cli.IntFlag{Name: "workers", Value: pgcopy.DefaultWorkers, Usage: "chunks copied at the same time, across tables"},
		&cli.Int64Flag{Name: "chunk-rows", Value: pgcopy.DefaultChunkRows, Usage: "rows per chunk (fixed when a run first plans a table)"},
		&cli.BoolFlag{Name: "restart", Usage: "forget the run's checkpoints and empty the target tables it copies into (only the tenants' rows with --tenants)"},
		&cli.BoolFlag{Name: "dry-run", Usage: "check everything and list the chunks and their SQL, writing nothing"},
		&cli.StringFlag{Name: "part", Usage: "copy part K of N of the run (K/N, e.g. 2/3): N processes, on N machines, copy one run together; each part reads a source snapshot of its own, so not with --follow or --tenants"},
	)
	return &cli.Command{
		Name:  "copy",
		Usage: "stream every table into the target with COPY, in parallel chunks, exactly once, resumable",
		Description: `Copies the planned tables from the source into the target (the Citus coordinator,
whose schema 'tenantmover plan --apply' created): reference tables first, then
distributed tables parents first. Tables are split into primary-key ranges;
each chunk is a binary COPY piped from source to target, committed together
with its checkpoint (schema tenantmover on the target). After a crash, kill -9
or Ctrl-C, rerun the same command: committed chunks are skipped. A target
holding rows the run did not copy is refused; --restart empties it first.

With --tenants only those tenants' rows are copied (each tenant in one
transaction), plus the reference tables if the target's are empty; --replace
re-syncs tenants already there. Sequences are set past the copied values.

With --follow the application keeps writing: the copy reads the snapshot of a
logical replication slot it creates on the source (wal_level = logical), then
applies every change made since, through the coordinator, until
'tenantmover cutover' switches the application over (Ctrl-C pauses; a rerun
resumes from the last applied change). 'tenantmover cleanup' ends an
abandoned one.

With --part K/N, N processes (on N machines, all with the same flags but K)
copy one run together, each holding a lock of its own: the first to arrive
plans the chunks, and each copies the chunks that are its share (a table's
chunks go round-robin over the parts). A table starts once every table it
references on the target is complete, whichever part copied it: a part
waits for the others, saying so. Each part reads a snapshot of its own, so
the parts copy as of different moments: use --part on a quiet source (or a
target whose foreign keys are added after the copy), not with --follow or
--tenants. A part that ends while others copy says what they have left and
exits 0; the last one sets the sequences and creates what goes in after the
data. A part that died is rerun alone (same command). 'tenantmover status'
shows every part.`,
		Flags:  append(append(append(flags, followFlags()...), windowFlags(true)...), tenantFlags()...),
		Action: runCopy,
	}
}

func runCopy(c *cli.Context) error {
	fcfg, err := followConfig(c)
	if err != nil {
		return err
	}
	if fcfg != nil {
		if c.IsSet("part") {
			return usageError("--part cannot be used with --follow: a followed copy reads the one snapshot of its replication slot, and each part reads a snapshot of its own")
		}
		return runCopyFollow(c, *fcfg)
	}
	format, rep, err := runPhase(c, pgcopy.Name, true, copyConfig, copyThenAfterData(stderrOf(c)))
	if errors.Is(err, phase.ErrWindowEnded) && rep != nil {
		printCopySummary(stderrOf(c), rep) // what this window did; status shows what is left
	}
	if err != nil {
		return err
	}
	if rep.DryRun {
		printDryRun(stderrOf(c), rep)
	} else {
		printCopySummary(stderrOf(c), rep)
	}
	return writeJSON(c, format, rep)
}

// copyThenAfterData runs the copy, then, when it copied every table,
// creates on the target what plan --apply left for after the data
// (triggers, row-level security and policies, and any foreign key or
// materialized view refresh the target lacks): they would have acted on
// the copied rows. A copy of some tenants leaves them: the others are
// still to come.
func copyThenAfterData(w io.Writer) func(context.Context, *phase.Env, pgcopy.Config) (*pgcopy.Report, error) {
	return func(ctx context.Context, env *phase.Env, cfg pgcopy.Config) (*pgcopy.Report, error) {
		rep, err := pgcopy.Run(ctx, env, cfg)
		if err != nil || cfg.DryRun || len(cfg.Tenants) > 0 {
			return rep, err
		}
		if !cfg.Part.Whole() && !rep.CompletedRun {
			return rep, nil // other parts are still copying: the last one does it
		}
		return rep, createAfterData(ctx, w, env)
	}
}

func createAfterData(ctx context.Context, w io.Writer, env *phase.Env) error {
	dst, err := db.Open(ctx, env.Target, db.ForProfile(db.ProfileScans))
	if err != nil {
		return err
	}
	defer dst.Close()
	after, err := ddl.PrepareAfterData(ctx, dst, env.Plan)
	if err != nil {
		return err
	}
	if err := after.Run(ctx, dst); err != nil {
		return fmt.Errorf("creating what goes in after the data (the data is copied; rerun copy to try again): %w", err)
	}
	if n := len(after.Steps()); n > 0 {
		fmt.Fprintf(w, "after the data: %d statement(s) on the target (%d trigger, row-level security and policy)\n", n, after.ActingOnWrites())
	}
	return nil
}

// copyConfig reads copy's own flags.
func copyConfig(c *cli.Context) (pgcopy.Config, error) {
	cfg := pgcopy.Config{
		Workers:   c.Int("workers"),
		ChunkRows: c.Int64("chunk-rows"),
		Tenants:   splitList(c.StringSlice("tenants")),
		Replace:   c.Bool("replace"),
		DryRun:    c.Bool("dry-run"),
	}
	var err error
	if cfg.Tenants, err = withTenantsFile(c, cfg.Tenants); err != nil {
		return cfg, err
	}
	if c.IsSet("part") {
		if cfg.Part, err = checkpoints.ParsePart(c.String("part")); err != nil {
			return cfg, usageError(err.Error())
		}
		if c.Bool("restart") {
			return cfg, usageError("--restart cannot be used with --part: one part would empty the tables the others copy into; restart the run in one process without --part, or start the parts under a new --run name into an empty target")
		}
	}
	if cfg, err = pgcopy.NewConfig(cfg); err != nil {
		return cfg, usageError(err.Error())
	}
	return cfg, nil
}

// splitList also splits values given as "1,2,3" inside one flag.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// buildPlan plans from the source as it is now (after backfill).
func buildPlan(c *cli.Context, srcURL string, cfg plan.Config) (*plan.Plan, error) {
	pool, err := db.Open(c.Context, srcURL, db.ForProfile(db.ProfileCatalog))
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	p, err := plan.Build(c.Context, pool, cfg)
	if err != nil {
		return nil, fmt.Errorf("planning: %w", err)
	}
	return p, nil
}

// printCopySummary writes the per-table table and the totals.
func printCopySummary(w io.Writer, r *pgcopy.Report) {
	if len(r.Truncated) > 0 {
		fmt.Fprintf(w, "restart: emptied %s\n", strings.Join(r.Truncated, ", "))
	}
	var rows [][]string
	for _, t := range r.Tables {
		note := t.Skipped
		rows = append(rows, []string{t.Table, t.Kind, fmt.Sprint(t.Rows), fmtBytes(t.Bytes),
			fmt.Sprintf("%d/%d", t.ChunksCopied, t.Chunks), fmt.Sprint(t.ChunksSkipped), fmt.Sprintf("%.1f", t.Seconds), note})
	}
	tabular(w, []string{"TABLE", "KIND", "ROWS", "BYTES", "CHUNKS COPIED", "SKIPPED (DONE BEFORE)", "SECONDS", "NOTE"}, rows)
	fmt.Fprintf(w, "\ncopied %d rows (%s) of %d tables in %.1fs: %.0f rows/s, %s/s; %d chunks copied, %d done before\n",
		r.Rows, fmtBytes(r.Bytes), len(r.Tables), r.Seconds, r.RowsPerSecond, fmtBytes(int64(r.BytesPerSecond)), r.ChunksCopied, r.ChunksSkipped)
	if len(r.Sequences) > 0 {
		var seqs []string
		for _, s := range r.Sequences {
			seqs = append(seqs, fmt.Sprintf("%s=%d", s.Sequence, s.Value))
		}
		fmt.Fprintf(w, "sequences set past the copied values: %s\n", strings.Join(seqs, ", "))
	}
	printPartEnd(w, r)
}

// printPartEnd says, for a part of a run, whether the run is complete and
// what the other parts have left.
func printPartEnd(w io.Writer, r *pgcopy.Report) {
	switch {
	case r.Part == "" || r.DryRun:
	case len(r.PartsLeft) > 0:
		fmt.Fprintf(w, "part %s is done; the other parts are still copying:\n", r.Part)
		for _, l := range r.PartsLeft {
			fmt.Fprintf(w, "  %s\n", l.Describe())
		}
		fmt.Fprintln(w, "the part that ends last sets the sequences and creates what goes in after the data; 'tenantmover status' shows every part")
	case r.CompletedRun:
		fmt.Fprintf(w, "part %s completed the run: every part is done\n", r.Part)
	default:
		fmt.Fprintf(w, "part %s is done; every part is done and another part completed the run\n", r.Part)
	}
}

// printDryRun lists every chunk with its state and SQL.
func printDryRun(w io.Writer, r *pgcopy.Report) {
	if len(r.Truncated) > 0 {
		fmt.Fprintf(w, "--restart would empty: %s\n\n", strings.Join(r.Truncated, ", "))
	}
	for _, t := range r.Tables {
		if t.Skipped != "" {
			fmt.Fprintf(w, "%s: skipped (%s)\n", t.Table, t.Skipped)
		}
	}
	for _, ch := range r.Chunks {
		fmt.Fprintf(w, "%s chunk %d %s [%s]\n  %s\n  %s\n", ch.Table, ch.Chunk, ch.Range, ch.State, ch.SQL[0], ch.SQL[1])
	}
	pending := len(r.Chunks) - r.ChunksSkipped
	fmt.Fprintf(w, "\ndry run: %d chunks in %d tables, %d to copy, %d done before; nothing was written\n", len(r.Chunks), len(r.Tables), pending, r.ChunksSkipped)
}
