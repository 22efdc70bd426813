package citus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/db"
)

// Job is the state of a Citus background job (a rebalance) and its tasks.
type Job struct {
	ID          int64      `json:"job_id"`
	State       string     `json:"state"` // scheduled, running, finished, cancelling, cancelled, failing, failed
	Description string     `json:"description"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	Tasks       []Task     `json:"tasks"`
	// Moving are the shard transfers in flight (get_rebalance_progress).
	Moving []Transfer `json:"moving,omitempty"`
	// ProgressError says why Moving could not be read (a node down).
	ProgressError string `json:"progress_error,omitempty"`
}

// Task is one step of a job: a shard move, or the copy of reference
// tables to new nodes.
type Task struct {
	ID      int64  `json:"task_id"`
	State   string `json:"state"` // blocked, runnable, running, done, error, cancelling, cancelled, unscheduled
	Retries int    `json:"retries"`
	Message string `json:"message,omitempty"` // the last error
	Command string `json:"command"`
}

// Transfer is a shard move in flight.
type Transfer struct {
	Table       string `json:"table"` // schema.name, as SQL writes it
	ShardID     int64  `json:"shard_id"`
	Source      string `json:"source"`
	Target      string `json:"target"`
	SourceBytes int64  `json:"source_bytes"`
	TargetBytes int64  `json:"target_bytes"` // copied so far
	Phase       string `json:"phase"`
}

// Done counts the finished tasks.
func (j *Job) Done() int { return j.count("done") }

func (j *Job) count(state string) int {
	n := 0
	for _, t := range j.Tasks {
		if t.State == state {
			n++
		}
	}
	return n
}

// Finished reports whether the job completed every task.
func (j *Job) Finished() bool { return j.State == "finished" }

// Terminal reports whether the job has ended, one way or another.
func (j *Job) Terminal() bool {
	return j.State == "finished" || j.State == "failed" || j.State == "cancelled"
}

// Failing reports whether the job failed or was cancelled, or is on its
// way there.
func (j *Job) Failing() bool {
	switch j.State {
	case "failed", "failing", "cancelled", "cancelling":
		return true
	}
	return false
}

// Errored returns the tasks that failed at least once, with their last
// error.
func (j *Job) Errored() []Task {
	var out []Task
	for _, t := range j.Tasks {
		if t.Retries > 0 || t.State == "error" {
			out = append(out, t)
		}
	}
	return out
}

// JobStatus reads a job, its tasks and the transfers in flight.
func JobStatus(ctx context.Context, q Querier, id int64) (*Job, error) {
	j := &Job{ID: id}
	err := q.QueryRow(ctx, `
		SELECT state::text, coalesce(description, ''), started_at, finished_at
		FROM pg_catalog.pg_dist_background_job WHERE job_id = $1`, id).Scan(&j.State, &j.Description, &j.StartedAt, &j.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("background job %d does not exist", id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading background job %d: %w", id, err)
	}
	rows, err := q.Query(ctx, `
		SELECT task_id, status::text, coalesce(retry_count, 0), coalesce(message, ''), command
		FROM pg_catalog.pg_dist_background_task WHERE job_id = $1 ORDER BY task_id`, id)
	if err != nil {
		return nil, fmt.Errorf("reading the tasks of background job %d: %w", id, err)
	}
	if j.Tasks, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Task, error) {
		var t Task
		err := r.Scan(&t.ID, &t.State, &t.Retries, &t.Message, &t.Command)
		return t, err
	}); err != nil {
		return nil, fmt.Errorf("reading the tasks of background job %d: %w", id, err)
	}
	if !j.Terminal() {
		// get_rebalance_progress asks the nodes for shard sizes: with a
		// node down it fails, while the job's own state still tells how
		// the job goes.
		if j.Moving, err = transfers(ctx, q); err != nil {
			j.ProgressError = db.RedactError(err)
		}
	}
	return j, nil
}

func transfers(ctx context.Context, q Querier) ([]Transfer, error) {
	// The table as schema and name, shown as everywhere else (public.store):
	// regclass text leaves out the schema of tables on the search_path.
	rows, err := q.Query(ctx, `
		SELECT n.nspname, c.relname, p.shardid, p.sourcename, p.sourceport, p.targetname, p.targetport,
		       coalesce(p.source_shard_size, 0), coalesce(p.target_shard_size, 0), coalesce(p.status, '')
		FROM pg_catalog.get_rebalance_progress() p
		JOIN pg_catalog.pg_class c ON c.oid = p.table_name
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE p.progress = 1`)
	if err != nil {
		return nil, fmt.Errorf("reading get_rebalance_progress: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Transfer, error) {
		var t Transfer
		var table db.QualifiedName
		var sn, tn string
		var sp, tp int
		err := r.Scan(&table.Schema, &table.Name, &t.ShardID, &sn, &sp, &tn, &tp, &t.SourceBytes, &t.TargetBytes, &t.Phase)
		t.Table = table.String()
		t.Source, t.Target = Node{Name: sn, Port: sp}.Addr(), Node{Name: tn, Port: tp}.Addr()
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading get_rebalance_progress: %w", err)
	}
	return out, nil
}

// JobError says a background job did not finish: it failed, was
// cancelled, or (Retrying) a task failed and Citus is retrying it while
// the job keeps running in the background.
type JobError struct {
	Job      *Job
	Retrying bool
}

func (e *JobError) Error() string {
	j := e.Job
	var b strings.Builder
	switch {
	case e.Retrying:
		fmt.Fprintf(&b, "rebalance job %d: a shard move failed and Citus is retrying it; the job is still running in the background", j.ID)
	case j.State == "cancelled" || j.State == "cancelling":
		fmt.Fprintf(&b, "rebalance job %d was cancelled after %d of %d tasks", j.ID, j.Done(), len(j.Tasks))
	default:
		fmt.Fprintf(&b, "rebalance job %d failed (state %s) after %d of %d tasks", j.ID, j.State, j.Done(), len(j.Tasks))
	}
	for _, t := range j.Errored() {
		fmt.Fprintf(&b, "\n  task %d %s (failed %d time(s), now %s): %s", t.ID, strings.TrimSpace(t.Command), max(t.Retries, 1), t.State, oneLine(t.Message))
	}
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// FollowOptions tune FollowJob.
type FollowOptions struct {
	// Interval between polls of the job. Default 1s. Citus has no
	// notification for background jobs, so following one is polling.
	Interval time.Duration
	// MaxRetries is how many times Citus may retry a failed task (it
	// retries up to 32 times over about half an hour) before FollowJob
	// reports the job as failing. Default 0: the first failure is
	// reported, and the job keeps running in the background.
	MaxRetries int
	// PollErrors is how many consecutive polls may fail to reach the
	// coordinator before FollowJob gives up. Default 30.
	PollErrors int
}

// FollowJob polls job id until it ends, calling progress (may be nil) with
// each state. It returns the final job, and a *JobError unless the job
// finished every task: a failed or cancelled job, or a task that failed
// more than MaxRetries times, is a failure even though
// citus_rebalance_wait would return normally. When ctx ends it returns
// ctx.Err() and the job keeps running in the background.
func FollowJob(ctx context.Context, q Querier, id int64, o FollowOptions, progress func(*Job)) (*Job, error) {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.PollErrors <= 0 {
		o.PollErrors = 30
	}
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	failures := 0
	var last *Job
	for {
		j, err := JobStatus(ctx, q, id)
		switch {
		case err != nil && ctx.Err() == nil && db.IsRetryable(err) && failures < o.PollErrors:
			failures++ // the coordinator restarting: keep following
		case err != nil:
			return last, err
		default:
			failures, last = 0, j
			if progress != nil {
				progress(j)
			}
			if done, err := judge(j, o.MaxRetries); done {
				return j, err
			}
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-tick.C:
		}
	}
}

// judge decides whether following can stop, and how the job went.
func judge(j *Job, maxRetries int) (bool, error) {
	switch {
	case j.Finished():
		return true, nil
	case j.Failing():
		return true, &JobError{Job: j}
	}
	for _, t := range j.Tasks {
		if t.State != "done" && t.Retries > maxRetries {
			return true, &JobError{Job: j, Retrying: true}
		}
	}
	return false, nil
}
