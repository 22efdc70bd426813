package main

import (
	"encoding/json"
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
	opts := db.ForPhase(db.PhaseVerify)
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

func writeJSON(c *cli.Context, v any) error {
	enc := json.NewEncoder(stdoutOf(c))
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func transferMode(c *cli.Context) (citus.TransferMode, error) {
	m, err := citus.ParseTransferMode(c.String("transfer-mode"))
	if err != nil {
		return "", usageError("--" + err.Error())
	}
	return m, nil
}

// ---- status ----

func rebalanceStatusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "per node: shards, bytes, largest tenants; and the skew (largest node / mean)",
		Flags: commonFlags(targetFlag, formatFlag,
			&cli.IntFlag{Name: "top", Value: 10, Usage: "largest tenants to show; 0 skips the tenant scan (a grouped count of every distributed table)"}),
		Action: func(c *cli.Context) error {
			format, err := validateFormat(c, "text", "json")
			if err != nil {
				return err
			}
			pool, err := openCoordinator(c)
			if err != nil {
				return err
			}
			defer pool.Close()
			top := c.Int("top")
			if top == 0 {
				top = -1
			}
			st, err := citus.Status(c.Context, pool, citus.StatusOptions{TopTenants: top})
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(c, st)
			}
			printClusterStatus(stderrOf(c), st)
			return nil
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
			format, err := validateFormat(c, "text", "json")
			if err != nil {
				return err
			}
			pool, err := openCoordinator(c)
			if err != nil {
				return err
			}
			defer pool.Close()
			p, err := citus.RebalancePlan(c.Context, pool, c.String("strategy"))
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(c, p)
			}
			printPlan(stderrOf(c), p)
			return nil
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

// ---- start ----

func rebalanceStartCommand() *cli.Command {
	return &cli.Command{
		Name:  "start",
		Usage: "start the Citus background rebalancer (citus_rebalance_start); --wait follows it to the end",
		Description: `Checks the logical-replication preconditions, then schedules a background
rebalance job. With --wait it follows the job with a progress meter until it
ends; a failed or cancelled job, or a move that failed (Citus retries it),
exits 1. Ctrl-C stops following only: the job keeps running (rebalance stop
cancels it). If a rebalance job is already running, --wait follows it.`,
		Flags: commonFlags(targetFlag, formatFlag, strategyFlag, modeFlag, dryRunFlag, verifyFlag,
			&cli.BoolFlag{Name: "wait", Usage: "follow the job until it ends"},
			&cli.IntFlag{Name: "retries", Usage: "with --wait, how many times Citus may retry a failed move before it counts as a failure (Citus retries up to 32 times over ~30 minutes)"},
		),
		Action: runRebalanceStart,
	}
}

// startResult is start's JSON document.
type startResult struct {
	JobID   int64             `json:"job_id,omitempty"`
	Job     *citus.Job        `json:"job,omitempty"`
	Calls   []string          `json:"calls,omitempty"` // --dry-run
	Moves   []citus.Move      `json:"moves,omitempty"`
	Nothing bool              `json:"nothing_to_move,omitempty"`
	Verify  *verifyCountsJSON `json:"verify,omitempty"`
}

type verifyCountsJSON struct {
	Tables      int               `json:"tables"`
	Tenants     int               `json:"tenants"`
	Rows        int64             `json:"rows"`
	Differences []citus.CountDiff `json:"differences"`
}

func runRebalanceStart(c *cli.Context) error {
	format, err := validateFormat(c, "text", "json")
	if err != nil {
		return err
	}
	mode, err := transferMode(c)
	if err != nil {
		return err
	}
	if c.Bool("verify") && !c.Bool("wait") && !c.Bool("dry-run") {
		return usageError("--verify needs --wait: the counts after are taken when the job has finished")
	}
	pool, err := openCoordinator(c)
	if err != nil {
		return err
	}
	defer pool.Close()
	opts := citus.RebalanceOptions{Strategy: c.String("strategy"), TransferMode: mode}
	if c.Bool("dry-run") {
		return startDryRun(c, pool, opts, format)
	}
	res := &startResult{}
	before, err := countsBefore(c, pool, nil)
	if err != nil {
		return err
	}
	if res.JobID, err = startOrAttach(c, pool, opts); err != nil {
		if errors.Is(err, citus.ErrNothingToMove) {
			res.Nothing = true
			fmt.Fprintln(stderrOf(c), "Nothing to do:", err)
			return finishJSON(c, format, res)
		}
		return err
	}
	if !c.Bool("wait") {
		fmt.Fprintf(stderrOf(c), "Rebalance job %d started in the background.\n%s\n", res.JobID, followHint(c))
		return finishJSON(c, format, res)
	}
	if res.Job, err = followJob(c, pool, res.JobID); err != nil {
		return err
	}
	fmt.Fprintf(stderrOf(c), "Rebalance job %d finished: %d tasks done.\n", res.JobID, res.Job.Done())
	if err := checkCountsAfter(c, pool, nil, before, &res.Verify); err != nil {
		_ = finishJSON(c, format, res)
		return err
	}
	return finishJSON(c, format, res)
}

func finishJSON(c *cli.Context, format string, v any) error {
	if format == "json" {
		return writeJSON(c, v)
	}
	return nil
}

func startDryRun(c *cli.Context, pool *pgxpool.Pool, opts citus.RebalanceOptions, format string) error {
	p, err := citus.RebalancePlan(c.Context, pool, opts.Strategy)
	if err != nil {
		return err
	}
	call := citus.StartCall(opts)
	res := &startResult{Calls: []string{call.String()}, Moves: p.Moves, Nothing: len(p.Moves) == 0}
	w := stderrOf(c)
	fmt.Fprintf(w, "Dry run: would call\n  %s\n", call)
	if c.Bool("wait") {
		fmt.Fprintln(w, "and follow citus_rebalance_status() / get_rebalance_progress() until the job ends.")
	}
	fmt.Fprintln(w)
	printPlan(w, p)
	preErr := citus.CheckPlanTransfer(c.Context, pool, opts.TransferMode, p)
	if err := finishJSON(c, format, res); err != nil {
		return err
	}
	return preErr
}

// startOrAttach starts a job, or with --wait follows the one running.
func startOrAttach(c *cli.Context, pool *pgxpool.Pool, opts citus.RebalanceOptions) (int64, error) {
	id, err := citus.StartRebalance(c.Context, pool, opts)
	var running *citus.AlreadyRunningError
	if errors.As(err, &running) && c.Bool("wait") {
		newLogger(c).Info("a rebalance job is already running: following it", "job", running.JobID)
		return running.JobID, nil
	}
	if err == nil {
		newLogger(c).Info("rebalance job started", "job", id, "call", citus.StartCall(opts).String())
	}
	return id, err
}

func followHint(c *cli.Context) string {
	return "Follow it: tenantmover rebalance start --wait --target ...; " +
		"see it: SELECT * FROM citus_rebalance_status(); stop it: tenantmover rebalance stop --target ..."
}

// followJob follows the job with a meter of tasks, logging each transfer
// as it starts. Ctrl-C leaves the job running and says so.
func followJob(c *cli.Context, pool *pgxpool.Pool, id int64) (*citus.Job, error) {
	log := newLogger(c)
	var m *meter
	done := 0
	seen := map[int64]bool{}
	progress := func(j *citus.Job) {
		if m == nil {
			m = newMeter(c, fmt.Sprintf("rebalance job %d", id), int64(len(j.Tasks)), "tasks")
		}
		if d := j.Done(); d > done {
			m.Add(int64(d - done))
			done = d
		}
		for _, t := range j.Moving {
			if !seen[t.ShardID] {
				seen[t.ShardID] = true
				log.Info("moving shard", "table", t.Table, "shard", t.ShardID, "from", t.Source, "to", t.Target, "size", fmtBytes(t.SourceBytes))
			}
		}
	}
	j, err := citus.FollowJob(c.Context, pool, id, citus.FollowOptions{MaxRetries: c.Int("retries")}, progress)
	if m != nil && err == nil {
		m.Finish()
	}
	switch {
	case c.Context.Err() != nil:
		fmt.Fprintf(stderrOf(c), "Stopped following: rebalance job %d keeps running in the background.\n%s\n", id, followHint(c))
		return j, c.Context.Err()
	case err != nil:
		return j, jobFailure(err)
	}
	return j, nil
}

// jobFailure adds what the user can do to a job error.
func jobFailure(err error) error {
	var je *citus.JobError
	if !errors.As(err, &je) {
		return err
	}
	if je.Retrying {
		return fmt.Errorf("%w\nCitus retries the move in the background (up to 32 times). "+
			"Wait through the retries: tenantmover rebalance start --wait --retries 32; cancel: tenantmover rebalance stop", err)
	}
	return fmt.Errorf("%w\nMoves that finished stay done; Citus cleans up the failed one. Fix the cause and run rebalance start again", err)
}

// countsBefore counts rows per tenant when --verify is given: of the
// tables given, or of every distributed table.
func countsBefore(c *cli.Context, pool *pgxpool.Pool, tables []citus.Table) (citus.TenantCounts, error) {
	if !c.Bool("verify") {
		return nil, nil
	}
	if tables == nil {
		var err error
		if tables, err = citus.Tables(c.Context, pool); err != nil {
			return nil, err
		}
	}
	counts, err := citus.CountTenants(c.Context, pool, tables)
	if err != nil {
		return nil, fmt.Errorf("counting rows per tenant before the change: %w", err)
	}
	newLogger(c).Info("counted rows per tenant before the change", "tables", len(counts), "tenants", counts.Tenants(), "rows", counts.Rows())
	return counts, nil
}

// checkCountsAfter recounts and compares; a changed count exits 2.
func checkCountsAfter(c *cli.Context, pool *pgxpool.Pool, tables []citus.Table, before citus.TenantCounts, out **verifyCountsJSON) error {
	if before == nil {
		return nil
	}
	if tables == nil {
		var err error
		if tables, err = citus.Tables(c.Context, pool); err != nil {
			return err
		}
	}
	after, err := citus.CountTenants(c.Context, pool, tables)
	if err != nil {
		return fmt.Errorf("counting rows per tenant after the change: %w", err)
	}
	diffs := citus.Diff(before, after)
	if diffs == nil {
		diffs = []citus.CountDiff{} // JSON: [] rather than null
	}
	*out = &verifyCountsJSON{Tables: len(after), Tenants: after.Tenants(), Rows: after.Rows(), Differences: diffs}
	if len(diffs) == 0 {
		fmt.Fprintf(stderrOf(c), "Verified: %d rows of %d tenant/table pairs in %d tables, identical before and after.\n", after.Rows(), after.Tenants(), len(after))
		return nil
	}
	fmt.Fprintln(stderrOf(c), "VERIFY FAILED:", (&citus.CountsChangedError{Diffs: diffs}).Error())
	return &differencesError{msg: fmt.Sprintf("per-tenant row counts changed for %d tenant/table pairs (listed above)", len(diffs))}
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

// ---- isolate ----

func rebalanceIsolateCommand() *cli.Command {
	return &cli.Command{
		Name:  "isolate",
		Usage: "give a tenant a shard of its own (isolate_tenant_to_new_shard ... 'CASCADE') and move it (citus_move_shard_placement)",
		Description: `Splits the tenant's shard in every colocated table so the tenant's hash has
a shard of its own, then moves that shard group to --to (host:port, node
name or node id) or, by default, to the least loaded worker. --stay keeps it
where it is. Checks the logical-replication preconditions first.`,
		Flags: commonFlags(targetFlag, formatFlag, modeFlag, dryRunFlag, verifyFlag,
			&cli.StringFlag{Name: "tenant-table", Usage: "a distributed table of the tenant's colocation group, as in SQL (usually the tenant table)", Required: true},
			&cli.StringFlag{Name: "tenant", Usage: "the tenant: its distribution column value", Required: true},
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
	format, err := validateFormat(c, "text", "json")
	if err != nil {
		return err
	}
	mode, err := transferMode(c)
	if err != nil {
		return err
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
		_ = finishJSON(c, format, out)
		return err
	}
	return finishJSON(c, format, out)
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
	if err := finishJSON(c, format, out); err != nil {
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

// ---- formatting ----

func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func optInt(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

func optFloat(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}
