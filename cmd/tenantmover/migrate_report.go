package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/tenantmover/tenantmover/migrate"
)

// printMigrateReport writes a migration's report: one line per phase, then
// the verdict.
func printMigrateReport(w io.Writer, r *migrate.Report) {
	fmt.Fprintf(w, "\nmigrate run %q: %s -> %s", r.Run, r.Source, r.Target)
	if r.Citus != "" {
		fmt.Fprintf(w, " (Citus %s)", r.Citus)
	}
	fmt.Fprintln(w)
	var rows [][]string
	for _, p := range r.Phases {
		rate := ""
		if p.RowsPerSecond > 0 {
			rate = fmt.Sprintf("%.0f rows/s", p.RowsPerSecond)
		}
		rows = append(rows, []string{p.Phase, p.Status, fmt.Sprintf("%.1fs", p.Seconds), fmt.Sprint(p.Rows), rate, p.Note})
	}
	tabular(w, []string{"PHASE", "STATUS", "TIME", "ROWS", "THROUGHPUT", "NOTE"}, rows)
	switch {
	case r.OthersCopying && len(r.PartsLeft) == 0:
		fmt.Fprintf(w, "part %s copied its share; another part completed the copy, and adds the foreign keys and verifies\n", r.Part)
	case r.OthersCopying:
		fmt.Fprintf(w, "part %s copied its share; the other parts are still copying:\n", r.Part)
		for _, l := range r.PartsLeft {
			fmt.Fprintf(w, "  %s\n", l.Describe())
		}
		fmt.Fprintln(w, "the part that completes the copy adds the foreign keys and verifies; 'tenantmover status' shows every part")
	case !r.Finished && r.Paused:
		fmt.Fprintln(w, "paused at the window's end: what is done is kept (tenantmover status shows what is left); rerun the same command, in the next window, to continue")
	case !r.Finished:
		fmt.Fprintln(w, "not finished: finished work is kept; once the error below is dealt with, rerun the same command to resume")
	case r.Follow != nil:
		fmt.Fprintf(w, "followed until the cutover: %s\n", r.Follow.Stopped)
	case r.Match:
		fmt.Fprintf(w, "verified: every tenant of every table matches (%.1fs in all)\n", r.Seconds)
	default:
		fmt.Fprintf(w, "verify found %d differences (run tenantmover verify --format json for the list)\n", len(r.Verify.Differences))
	}
}

// writeReport writes the report as JSON to path, when one is given.
func writeReport(path string, r *migrate.Report) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
