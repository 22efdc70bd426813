package backfill

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tenantmover/tenantmover/checkpoints"
)

// fill runs every job's pending units with at most cfg.Workers batches in
// flight overall. A table starts only when its nested parent is filled
// (its one-hop UPDATE reads the parent's value), so independent tables and
// the units of one table share the workers. Every table has a goroutine
// that waits for its parent and then queues its units for a worker slot;
// the first error cancels everything, and batches in flight roll back.
func (f *filler) fill(ctx context.Context, jobs []*job) error {
	slots := make(chan struct{}, f.cfg.Workers)
	g, ctx := errgroup.WithContext(ctx)
	for _, j := range jobs {
		g.Go(func() error { return f.fillTable(ctx, j, slots, parentJob(jobs, j)) })
	}
	return g.Wait()
}

func parentJob(jobs []*job, j *job) *job {
	for _, p := range jobs {
		if j.parent != nil && p.target == j.parent {
			return p
		}
	}
	return nil
}

func (f *filler) fillTable(ctx context.Context, j *job, slots chan struct{}, parent *job) error {
	if parent != nil {
		select {
		case <-parent.filled:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	j.started = time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for _, u := range j.units {
		if u.State == checkpoints.Done {
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-gctx.Done():
			if err := g.Wait(); err != nil {
				return err
			}
			return ctx.Err()
		}
		g.Go(func() error {
			defer func() { <-slots }()
			return f.runUnit(gctx, j, u)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	j.rep.FillMS = time.Since(j.started).Milliseconds()
	close(j.filled)
	f.progress.send(Progress{Table: j.name, Stage: StageFilled, Done: j.rep.RowsVisitedBefore + j.rep.RowsVisited, Total: j.total,
		Updated: j.rep.RowsUpdated, Batches: j.rep.Batches})
	return nil
}
