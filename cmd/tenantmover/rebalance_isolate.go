package main

import (
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/internal/citus"
)

func rebalanceIsolateCommand() *cli.Command {
	return &cli.Command{
		Name:  "isolate",
		Usage: "give a tenant a shard of its own (isolate_tenant_to_new_shard ... 'CASCADE') and move it (citus_move_shard_placement)",
		Description: `Splits the tenant's shard in every colocated table so the tenant's hash has
a shard of its own, then moves that shard group to --to (host:port, node
name or node id) or, by default, to the least loaded worker. --stay keeps it
where it is. Checks the logical-replication preconditions first.`,
		Flags: commonFlags(targetFlag, formatFlag, modeFlag, dryRunFlag, verifyFlag,
			&cli.StringFlag{Name: "tenant-table", Usage: "a distributed table of the tenant's colocation group, as in SQL (usually the tenant table)"},
			&cli.StringFlag{Name: "tenant", Usage: "the tenant: its distribution column value"},
			&cli.StringFlag{Name: "to", Usage: "node to move the tenant's shard to: host:port, node name or node id (default: the least loaded worker)"},
			&cli.BoolFlag{Name: "stay", Usage: "isolate only; leave the new shard on the tenant's current node"},
		),
		Action: runIsolate,
	}
}

// isolateResult is isolate's JSON document.
type isolateResult struct {
	*citus.IsolatePlan `json:"plan"`
	Calls              []string          `json:"calls"`
	DryRun             bool              `json:"dry_run"`
	ShardID            int64             `json:"shard_id,omitempty"`
	Node               string            `json:"node,omitempty"`
	Moved              bool              `json:"moved"`
	Verify             *verifyCountsJSON `json:"verify,omitempty"`
}

func runIsolate(c *cli.Context) error {
	format, mode, err := changeFlags(c)
	if err != nil {
		return err
	}
	// Checked here rather than with urfave/cli's Required, which prints the
	// whole help to stdout before its error.
	if c.String("tenant-table") == "" {
		return usageError("--tenant-table is required: a distributed table of the tenant's colocation group (for example --tenant-table store)")
	}
	if c.String("tenant") == "" {
		return usageError("--tenant is required: the tenant's distribution column value (for example --tenant 42)")
	}
	if c.Bool("stay") && c.String("to") != "" {
		return usageError("--stay and --to contradict each other: give one")
	}
	pool, err := openCoordinator(c)
	if err != nil {
		return err
	}
	defer pool.Close()
	table, err := citus.ResolveTable(c.Context, pool, c.String("tenant-table"))
	if err != nil {
		return err
	}
	opts := citus.IsolateOptions{Table: table, Tenant: c.String("tenant"), To: c.String("to"), Stay: c.Bool("stay"), TransferMode: mode}
	p, err := citus.PlanIsolate(c.Context, pool, opts)
	if err != nil {
		return err
	}
	group, err := citus.ColocatedTables(c.Context, pool, p.Table.ColocationID)
	if err != nil {
		return err
	}
	if c.Bool("dry-run") {
		return isolateDryRun(c, pool, p, group, format)
	}
	before, err := countsBefore(c, pool, group)
	if err != nil {
		return err
	}
	log := newLogger(c)
	res, err := citus.Isolate(c.Context, pool, opts, func(step string) { log.Info(step) })
	if err != nil {
		return err
	}
	out := &isolateResult{IsolatePlan: p, ShardID: res.ShardID, Node: res.Node.Addr(), Moved: res.Moved}
	for _, call := range res.Calls {
		out.Calls = append(out.Calls, call.String())
	}
	printIsolated(stderrOf(c), p, res)
	if err := checkCountsAfter(c, pool, group, before, &out.Verify); err != nil {
		_ = writeJSON(c, format, out)
		return err
	}
	return writeJSON(c, format, out)
}

func isolateDryRun(c *cli.Context, pool *pgxpool.Pool, p *citus.IsolatePlan, group []citus.Table, format string) error {
	w := stderrOf(c)
	out := &isolateResult{IsolatePlan: p, DryRun: true}
	fmt.Fprintf(w, "Dry run: tenant %s of %s is in shard %d on %s", p.Tenant, p.Table.Name, p.ShardID, p.Source.Addr())
	if p.AlreadyIsolated {
		fmt.Fprint(w, " (a shard of its own already)")
	}
	fmt.Fprintln(w)
	if len(p.Calls) == 0 {
		fmt.Fprintln(w, "Nothing to do.")
	} else {
		fmt.Fprintln(w, "Would call:")
	}
	for _, call := range p.Calls {
		out.Calls = append(out.Calls, call.String())
		fmt.Fprintln(w, "  "+call.String())
	}
	preErr := citus.CheckTransfer(c.Context, pool, p.Mode, group)
	if err := writeJSON(c, format, out); err != nil {
		return err
	}
	return preErr
}

func printIsolated(w io.Writer, p *citus.IsolatePlan, res *citus.IsolateResult) {
	what := "isolated in"
	if p.AlreadyIsolated {
		what = "already alone in"
	}
	fmt.Fprintf(w, "Tenant %s of %s %s shard %d", p.Tenant, p.Table.Name, what, res.ShardID)
	switch {
	case res.Moved:
		fmt.Fprintf(w, ", moved from %s to %s.\n", p.Source.Addr(), res.Node.Addr())
	default:
		fmt.Fprintf(w, ", on %s.\n", res.Node.Addr())
	}
}
