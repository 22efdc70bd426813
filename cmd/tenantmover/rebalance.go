package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/db"
)

func rebalanceCommand() *cli.Command {
	return &cli.Command{
		Name:  "rebalance",
		Usage: "show how tenants and bytes spread over the Citus nodes; run the rebalancer; isolate big tenants",
		Description: `Works on the Citus coordinator (--target) through Citus's own functions;
tenantmover never moves shard data itself.

   status    per node: shards, bytes, the largest tenants and their share; the skew
   plan      the moves the rebalancer would make, and the load after them
   start     start the background rebalancer (--wait to follow it to the end)
   stop      cancel the running rebalance job
   isolate   give one tenant a shard of its own and move it to another node

Before any logical-replication move it checks wal_level, output_plugin_libraries
and replica identities, and explains how to fix each (or use
--transfer-mode block_writes). --verify compares per-tenant row counts before
and after a change (exit 2 if any changed); --dry-run prints the Citus calls.`,
		Subcommands: []*cli.Command{
			rebalanceStatusCommand(),
			rebalancePlanCommand(),
			rebalanceStartCommand(),
			rebalanceStopCommand(),
			rebalanceIsolateCommand(),
		},
	}
}

var (
	strategyFlag = &cli.StringFlag{Name: "strategy", Usage: "rebalance strategy: by_disk_size, by_shard_count or another in pg_dist_rebalance_strategy (default: the cluster's default)"}
	modeFlag     = &cli.StringFlag{Name: "transfer-mode", Value: "auto", Usage: "how shards are copied: auto or force_logical (logical replication, writes continue) or block_writes (COPY, writes to the moving shard wait)"}
	dryRunFlag   = &cli.BoolFlag{Name: "dry-run", Usage: "print the Citus calls and check the preconditions, change nothing"}
	verifyFlag   = &cli.BoolFlag{Name: "verify", Usage: "count rows per tenant before and after the change; exit 2 if any tenant's rows changed (pause writes first)"}
)

// openCoordinator connects to --target and checks it is a Citus
// coordinator. Moves can run for hours, so statements have no timeout; a
// lock wait is bounded so the tool never queues the application behind it.
func openCoordinator(c *cli.Context) (*pgxpool.Pool, error) {
	url, err := requireURL(c, "target")
	if err != nil {
		return nil, err
	}
	opts := db.ForProfile(db.ProfileScans)
	opts.LockTimeout = 30 * time.Second
	pool, err := db.Open(c.Context, url, opts)
	if err != nil {
		return nil, err
	}
	if _, err := citus.RequireCoordinator(c.Context, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// showCluster runs a subcommand that only reads: it opens the coordinator,
// reads with get, and prints the result as text or as JSON.
func showCluster[T any](c *cli.Context, get func(context.Context, *pgxpool.Pool) (T, error), print func(io.Writer, T)) error {
	format, err := validateFormat(c, "text", "json")
	if err != nil {
		return err
	}
	pool, err := openCoordinator(c)
	if err != nil {
		return err
	}
	defer pool.Close()
	v, err := get(c.Context, pool)
	if err != nil {
		return err
	}
	if format == "json" {
		return writeJSON(c, format, v)
	}
	print(stderrOf(c), v)
	return nil
}

// changeFlags reads the flags of the subcommands that move shards: the
// output format and the transfer mode.
func changeFlags(c *cli.Context) (format string, mode citus.TransferMode, err error) {
	if format, err = validateFormat(c, "text", "json"); err != nil {
		return "", "", err
	}
	if mode, err = citus.ParseTransferMode(c.String("transfer-mode")); err != nil {
		return "", "", usageError("--" + err.Error())
	}
	return format, mode, nil
}

// ---- status ----

func rebalanceStatusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "per node: shards, bytes, largest tenants; and the skew (largest node / mean)",
		Flags: commonFlags(targetFlag, formatFlag,
			&cli.IntFlag{Name: "top", Value: 10, Usage: "largest tenants to show; 0 skips the tenant scan (a grouped count of every distributed table)"}),
		Action: func(c *cli.Context) error {
			top := c.Int("top")
			if top == 0 {
				top = -1
			}
			return showCluster(c, func(ctx context.Context, pool *pgxpool.Pool) (*citus.ClusterStatus, error) {
				return citus.Status(ctx, pool, citus.StatusOptions{TopTenants: top})
			}, printClusterStatus)
		},
	}
}

func printClusterStatus(w io.Writer, st *citus.ClusterStatus) {
	fmt.Fprintf(w, "Citus %s: %d nodes, %s in distributed shards, skew %.2f (largest node / mean, by %s)\n\n",
		st.Version, len(st.Nodes), fmtBytes(st.TotalBytes), st.Skew, st.SkewBasis)
	var rows [][]string
	for _, n := range st.Nodes {
		var tenants []string
		for _, t := range st.Tenants {
			if t.Node.ID == n.Node.ID {
				tenants = append(tenants, fmt.Sprintf("%s %s (%s)", t.Table.Name, t.Tenant, pct(t.ByteShare)))
			}
		}
		rows = append(rows, []string{n.Node.Addr(), fmt.Sprint(n.Shards), fmtBytes(n.Bytes), pct(n.ByteShare), dashIfEmpty(strings.Join(tenants, ", "))})
	}
	tabular(w, []string{"NODE", "SHARDS", "BYTES", "SHARE", "LARGEST TENANTS (share of their group's bytes)"}, rows)
	if len(st.Tenants) == 0 {
		return
	}
	fmt.Fprintln(w)
	header := []string{"TABLE", "TENANT", "ROWS", "ROW SHARE", "~BYTES", "BYTE SHARE", "SHARD", "NODE"}
	if st.TenantStatsTracked {
		header = append(header, "QUERIES", "CPU s")
	}
	rows = nil
	for _, t := range st.Tenants {
		shard := fmt.Sprint(t.ShardID)
		if t.Isolated {
			shard += " (own)"
		}
		r := []string{t.Table.String(), t.Tenant, fmt.Sprint(t.Rows), pct(t.RowShare), fmtBytes(t.Bytes), pct(t.ByteShare), shard, t.Node.Addr()}
		if st.TenantStatsTracked {
			r = append(r, optInt(t.Queries), optFloat(t.CPUSeconds))
		}
		rows = append(rows, r)
	}
	tabular(w, header, rows)
	for _, warn := range st.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
}

// ---- plan ----

func rebalancePlanCommand() *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "the moves the Citus rebalancer would make (get_rebalance_table_shards_plan) and the load after them",
		Flags: commonFlags(targetFlag, formatFlag, strategyFlag),
		Action: func(c *cli.Context) error {
			return showCluster(c, func(ctx context.Context, pool *pgxpool.Pool) (*citus.Plan, error) {
				return citus.RebalancePlan(ctx, pool, c.String("strategy"))
			}, printPlan)
		},
	}
}

func printPlan(w io.Writer, p *citus.Plan) {
	strategy := p.Strategy
	if strategy == "" {
		strategy = "the default"
	}
	if len(p.Moves) == 0 {
		fmt.Fprintf(w, "Balanced: with %s strategy Citus has no shard moves to make.\n", strategy)
	} else {
		fmt.Fprintf(w, "With %s strategy Citus would make %d shard moves, %s in all:\n\n", strategy, len(p.Moves), fmtBytes(p.Bytes))
		var rows [][]string
		for _, m := range p.Moves {
			rows = append(rows, []string{m.Table.String(), fmt.Sprint(m.ShardID), fmtBytes(m.Bytes), m.Source, m.Target})
		}
		tabular(w, []string{"TABLE", "SHARD", "BYTES", "FROM", "TO"}, rows)
	}
	fmt.Fprintln(w)
	after := map[string]citus.NodeLoad{}
	for _, n := range p.After {
		after[n.Node] = n
	}
	var rows [][]string
	for _, n := range p.Before {
		a := after[n.Node]
		rows = append(rows, []string{n.Node, fmt.Sprint(n.Shards), fmtBytes(n.Bytes), fmt.Sprint(a.Shards), fmtBytes(a.Bytes)})
	}
	tabular(w, []string{"NODE", "SHARDS NOW", "BYTES NOW", "SHARDS AFTER", "BYTES AFTER"}, rows)
}

// ---- stop ----

func rebalanceStopCommand() *cli.Command {
	return &cli.Command{
		Name:  "stop",
		Usage: "cancel the running rebalance job (citus_rebalance_stop); finished moves stay",
		Flags: commonFlags(targetFlag, dryRunFlag),
		Action: func(c *cli.Context) error {
			pool, err := openCoordinator(c)
			if err != nil {
				return err
			}
			defer pool.Close()
			w := stderrOf(c)
			if c.Bool("dry-run") {
				id, err := citus.RunningRebalance(c.Context, pool)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "Dry run: running rebalance job: %s; would call\n  %s\n", jobText(id), citus.StopCall())
				return nil
			}
			id, err := citus.StopRebalance(c.Context, pool)
			if errors.Is(err, citus.ErrNoRebalance) {
				fmt.Fprintln(w, "Nothing to stop:", err)
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "Rebalance job %d cancelled; moves already done stay, the move in flight is rolled back by Citus.\n", id)
			return nil
		},
	}
}

func jobText(id int64) string {
	if id == 0 {
		return "none"
	}
	return fmt.Sprint(id)
}
