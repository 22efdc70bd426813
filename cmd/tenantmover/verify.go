package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/verify"
)

func verifyCommand() *cli.Command {
	flags := commonFlags(sourceFlag, targetFlag, formatFlag,
		&cli.BoolFlag{Name: "checksum", Usage: "also compare a content hash per tenant per table (reads every row's content)"},
		&cli.BoolFlag{Name: "skip-invariant", Usage: "skip checking that nested rows carry their parent's tenant (a join of each nested table with its parent)"},
		&cli.BoolFlag{Name: "recheck-foreign-keys", Usage: "check the tenant invariant even where a validated, enforced foreign key of the target holds it (rows written under session_replication_role = replica bypass foreign keys)"},
		&cli.StringSliceFlag{Name: "tenants", Usage: "only these tenants (tenant key values, comma-separated or repeated)"},
		&cli.StringFlag{Name: "tenants-file", Usage: "only the tenants listed in this file, one per line"},
		&cli.StringSliceFlag{Name: "tables", Usage: "only these tables, as in SQL (comma-separated or repeated)"},
		&cli.IntFlag{Name: "max-samples", Value: verify.DefaultMaxSamples, Usage: "keys of differing rows listed per difference"},
		&cli.IntFlag{Name: "workers", Value: verify.DefaultWorkers, Usage: "tables (and shards) compared at the same time"},
	)
	return &cli.Command{
		Name:  "verify",
		Usage: "compare source and target per table and per tenant: counts, checksums, shard placements",
		Description: `For every table and every tenant, compares the row count on the source and
the target (with --checksum also a content hash, and names the keys of the
rows that differ). On a Citus target it also reads every shard placement
directly on its worker: rows in a shard their tenant does not hash to are
"misplaced", and replicas of a shard that disagree are reported too. Nested
tables are checked to carry their parent's tenant.

Where the target already enforces that with a composite foreign key (tenant
column and key, as plan makes them) that is validated, whose triggers are
enabled and whose tenant column is NOT NULL (on Citus: on the coordinator and
on every shard placement, read on its node), the check is not rescanned: the
database refused every row that would break it. The catalog shows the key
enforced now, not that it always was: rows written under
session_replication_role = replica (which skips the triggers of foreign
keys, as some bulk loads and replication tools do), or while the triggers
were disabled (ALTER TABLE ... DISABLE TRIGGER, then ENABLE), were never
checked. --recheck-foreign-keys checks them anyway.

Exit status 0 when everything matches, 2 when anything differs, 1 on error.
A summary goes to stderr; --format json writes every difference to stdout.`,
		Flags:  append(append(flags, windowFlags(false)...), tenantFlags()...),
		Action: runVerify,
	}
}

func runVerify(c *cli.Context) error {
	format, res, err := runPhase(c, verify.Name, true, verifyConfig, verify.Run)
	if err != nil {
		return err
	}
	printVerify(c, res)
	if err := writeJSON(c, format, res); err != nil {
		return err
	}
	if !res.Match {
		return &differencesError{msg: fmt.Sprintf("%d differences", len(res.Differences))}
	}
	return nil
}

// verifyConfig reads verify's own flags.
func verifyConfig(c *cli.Context) (verify.Config, error) {
	cfg := verify.Config{
		Checksum:           c.Bool("checksum"),
		SkipInvariant:      c.Bool("skip-invariant"),
		RecheckForeignKeys: c.Bool("recheck-foreign-keys"),
		Tenants:            c.StringSlice("tenants"),
		Tables:             c.StringSlice("tables"),
		MaxSamples:         c.Int("max-samples"),
		Workers:            c.Int("workers"),
	}
	if cfg.MaxSamples < 1 {
		return cfg, usageError("--max-samples must be at least 1")
	}
	if cfg.Workers < 1 {
		return cfg, usageError("--workers must be at least 1")
	}
	var err error
	cfg.Tenants, err = withTenantsFile(c, cfg.Tenants)
	return cfg, err
}

// withTenantsFile adds the tenants --tenants-file lists, if it is given, to
// tenants (--tenants).
func withTenantsFile(c *cli.Context, tenants []string) ([]string, error) {
	f := c.String("tenants-file")
	if f == "" {
		return tenants, nil
	}
	more, err := readTenantsFile(f)
	if err != nil {
		return nil, err
	}
	return append(tenants, more...), nil
}

// readTenantsFile reads one tenant per line, skipping blank lines and
// lines starting with #.
func readTenantsFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError(fmt.Sprintf("--tenants-file: %v", err))
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// printVerify writes the summary table and the differences to stderr.
func printVerify(c *cli.Context, res *verify.Result) {
	w := stderrOf(c)
	var rows [][]string
	var tenants, srcRows, dstRows int64
	for _, t := range res.Overview.Tables {
		rows = append(rows, []string{t.Table, t.Kind, fmt.Sprint(t.Tenants), fmt.Sprint(t.SourceRows), fmt.Sprint(t.TargetRows), fmt.Sprint(t.Differences)})
		tenants = max(tenants, t.Tenants)
		srcRows += t.SourceRows
		dstRows += t.TargetRows
	}
	rows = append(rows, []string{fmt.Sprintf("%d tables", len(res.Overview.Tables)), "", fmt.Sprint(tenants), fmt.Sprint(srcRows), fmt.Sprint(dstRows), fmt.Sprint(len(res.Differences))})
	tabular(w, []string{"TABLE", "KIND", "TENANTS", "SOURCE ROWS", "TARGET ROWS", "DIFFERENCES"}, rows)
	what := "counts"
	if res.Overview.Checksum {
		what = "counts and checksums"
	}
	if res.Overview.Citus {
		what += fmt.Sprintf(", %d shards / %d placements", res.Overview.Shards, res.Overview.Placements)
	}
	printInvariants(w, res.Invariants)
	if len(res.Differences) > 0 {
		fmt.Fprintln(w)
		printDifferences(w, res.Differences)
		fmt.Fprintf(w, "\nDIFFERENCES: %d (%s compared)\n", len(res.Differences), what)
		return
	}
	fmt.Fprintf(w, "\nMATCH: every tenant of every table is the same on both sides (%s compared)\n", what)
}

// printDifferences lists differences one per row, with sample keys.
func printDifferences(w io.Writer, ds []verify.Difference) {
	var rows [][]string
	for _, d := range ds {
		rows = append(rows, []string{d.Kind, d.Table, dashIfEmpty(d.Tenant), shardText(d.Shard), fmt.Sprint(d.Source), fmt.Sprint(d.Target), dashIfEmpty(strings.Join(d.Keys, ",")), d.Detail})
	}
	tabular(w, []string{"KIND", "TABLE", "TENANT", "SHARD", "SOURCE", "TARGET", "KEYS", "DETAIL"}, rows)
}

func shardText(id int64) string {
	if id == 0 {
		return "-"
	}
	return fmt.Sprint(id)
}

// printInvariants says which tenant invariant checks a foreign key of the
// target held, so they were not rescanned, and why a key between the two
// tables did not count where one was there.
func printInvariants(w io.Writer, checks []verify.InvariantCheck) {
	first := true
	for _, c := range checks {
		var line string
		switch {
		case c.HeldBy != "":
			line = fmt.Sprintf("tenant of %s → %s held by foreign key %s on the %s (%s): not rescanned", c.Table, c.Parent, c.HeldBy, c.Side, c.Note)
		case c.Note != "":
			line = fmt.Sprintf("tenant of %s → %s checked on the %s: %s", c.Table, c.Parent, c.Side, c.Note)
		default:
			continue
		}
		if first {
			fmt.Fprintln(w)
			first = false
		}
		fmt.Fprintln(w, line)
	}
}
