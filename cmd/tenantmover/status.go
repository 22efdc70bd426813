package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/db"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show every run's progress from its checkpoints",
		Description: `Reads the checkpoints that backfill keeps on the source and copy keeps on the
target (schema tenantmover) and shows each run's phase and per-table progress.
It only reads.`,
		Flags: commonFlags(sourceFlag, targetFlag, runFlag, formatFlag),
		Action: func(c *cli.Context) error {
			format, err := validateFormat(c, "text", "json")
			if err != nil {
				return err
			}
			if c.String("source") == "" && c.String("target") == "" {
				return usageError("give --source, --target or both (or set TENANTMOVER_SOURCE / TENANTMOVER_TARGET)")
			}
			out := map[string][]checkpoints.RunStatus{}
			var streams []streamLag
			for _, side := range []string{"source", "target"} {
				url := c.String(side)
				if url == "" {
					continue
				}
				pool, err := db.Open(c.Context, url, db.ForProfile(db.ProfileCatalog))
				if err != nil {
					return err
				}
				runs, err := checkpoints.Attach(pool).Status(c.Context, c.String("run"))
				if err == nil && side == "target" {
					streams, err = targetStreams(c, pool)
				}
				pool.Close()
				if err != nil {
					return fmt.Errorf("reading checkpoints on the %s: %w", side, err)
				}
				out[side] = runs
			}
			if format == "json" {
				doc := map[string]any{}
				for side, runs := range out {
					doc[side] = runs
				}
				if len(streams) > 0 {
					doc["streams"] = streams
				}
				return writeJSON(c, format, doc)
			}
			printStatus(c, out)
			printStreams(stderrOf(c), streams)
			return nil
		},
	}
}

// targetStreams reads the target's followed streams, with their lag when
// --source is given.
func targetStreams(c *cli.Context, dst *pgxpool.Pool) ([]streamLag, error) {
	list, err := checkpoints.Attach(dst).Streams(c.Context, c.String("run"))
	if err != nil || len(list) == 0 {
		return nil, err
	}
	var src *pgxpool.Pool
	if url := c.String("source"); url != "" {
		if src, err = db.Open(c.Context, url, db.ForProfile(db.ProfileCatalog)); err != nil {
			return nil, err
		}
		defer src.Close()
	}
	return streamStatus(c.Context, src, list), nil
}

func printStatus(c *cli.Context, out map[string][]checkpoints.RunStatus) {
	w := stderrOf(c)
	for _, side := range []string{"source", "target"} {
		runs, ok := out[side]
		if !ok {
			continue
		}
		if len(runs) == 0 {
			fmt.Fprintf(w, "%s: no runs\n", side)
			continue
		}
		for _, r := range runs {
			fmt.Fprintf(w, "%s: run %q (%s) phase=%s status=%s started %s\n", side, r.Name, r.Command, r.Phase, r.Status, r.StartedAt.Format("2006-01-02 15:04:05"))
			printWindows(w, r)
			printPhases(w, r.Phases)
			printParts(w, r.Parts)
			var rows [][]string
			for _, t := range r.Tables {
				pct := "-"
				if t.TotalRows > 0 {
					pct = fmt.Sprintf("%.1f%%", 100*float64(t.Rows)/float64(t.TotalRows))
				}
				total := fmt.Sprint(t.TotalRows)
				if t.TotalRows < 0 {
					total = "unknown" // the source never analyzed the table
				}
				rows = append(rows, []string{t.Phase, t.Table, t.State, fmt.Sprintf("%d/%d", t.UnitsDone, t.Units), fmt.Sprint(t.Rows), total, pct})
			}
			if len(rows) > 0 {
				tabular(w, []string{"  PHASE", "TABLE", "STATE", "UNITS", "ROWS", "OF ~", "DONE"}, indent(rows))
			}
		}
	}
}

// printPhases lists the phases of an orchestrated run, with the restarts
// a --restart still has to do.
func printPhases(w io.Writer, phases []checkpoints.PhaseRecord) {
	var rows [][]string
	var restarts []string
	for _, p := range phases {
		if p.Restart {
			restarts = append(restarts, p.Phase)
		}
		if p.State == checkpoints.Pending {
			continue
		}
		rows = append(rows, []string{p.Phase, p.State, fmt.Sprintf("%.1fs", p.Seconds), fmt.Sprint(p.Rows), p.Note})
	}
	if len(restarts) > 0 {
		fmt.Fprintf(w, "  --restart still to do for: %s\n", strings.Join(restarts, ", "))
	}
	if len(rows) > 0 {
		tabular(w, []string{"  PHASE", "STATE", "TIME", "ROWS", "NOTE"}, indent(rows))
	}
}

func indent(rows [][]string) [][]string {
	for _, r := range rows {
		if len(r) > 0 {
			r[0] = "  " + r[0]
		}
	}
	return rows
}

// printWindows says how many time windows a run used and what it has
// left, at the rate it had since it last started.
func printWindows(w io.Writer, r checkpoints.RunStatus) {
	if r.Windows > 0 {
		fmt.Fprintf(w, "  time windows used: %d (each ended with work left; rerun the same command to continue)\n", r.Windows)
	}
	if r.Left == nil {
		return
	}
	if r.Left.RowsPerSecond == 0 {
		fmt.Fprintf(w, "  left: about %d rows\n", r.Left.Rows)
		return
	}
	fmt.Fprintf(w, "  left: about %d rows, %s at %.0f rows/s (the rate since it last started)\n",
		r.Left.Rows, time.Duration(r.Left.Seconds*float64(time.Second)).Round(time.Second), r.Left.RowsPerSecond)
}

// printParts lists the parts of a run copied in parts (copy --part K/N).
func printParts(w io.Writer, parts []checkpoints.PartStatus) {
	var rows [][]string
	for _, p := range parts {
		lock := "no"
		if p.Locked {
			lock = "held now"
		}
		rows = append(rows, []string{fmt.Sprintf("%s %d/%d", p.Phase, p.Part, p.Parts), p.State, fmt.Sprintf("%d/%d", p.UnitsDone, p.Units), lock})
	}
	if len(rows) > 0 {
		tabular(w, []string{"  PART", "STATE", "UNITS", "LOCK"}, indent(rows))
	}
}
