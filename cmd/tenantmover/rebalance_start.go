package main

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/internal/citus"
)

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

func runRebalanceStart(c *cli.Context) error {
	format, mode, err := changeFlags(c)
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
			return writeJSON(c, format, res)
		}
		return err
	}
	if !c.Bool("wait") {
		fmt.Fprintf(stderrOf(c), "Rebalance job %d started in the background.\n%s\n", res.JobID, followHint(c))
		return writeJSON(c, format, res)
	}
	if res.Job, err = followJob(c, pool, res.JobID); err != nil {
		return err
	}
	fmt.Fprintf(stderrOf(c), "Rebalance job %d finished: %d tasks done.\n", res.JobID, res.Job.Done())
	if err := checkCountsAfter(c, pool, nil, before, &res.Verify); err != nil {
		_ = writeJSON(c, format, res)
		return err
	}
	return writeJSON(c, format, res)
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
	if err := writeJSON(c, format, res); err != nil {
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
