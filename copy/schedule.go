package pgcopy

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/tenantmover/tenantmover/checkpoints"
)

// copyAll copies every pending unit: key-range chunks of every table, then
// (in a tenant copy) the tenants.
func (e *engine) copyAll(ctx context.Context) error {
	var ranged, byTenant []*job
	for _, j := range e.jobs {
		switch {
		case j.skip != "":
		case j.byTenant:
			byTenant = append(byTenant, j)
		default:
			ranged = append(ranged, j)
		}
	}
	if err := e.copyChunks(ctx, ranged); err != nil {
		return err
	}
	return e.copyTenants(ctx, byTenant)
}

// scheduler hands out chunks to at most Workers goroutines. A table is
// ready when every parent table is complete; among ready tables reference
// tables come first, then the one with the most rows left, so big tables
// start early and the run does not end on one long table.
type scheduler struct {
	queue    map[*job][]checkpoints.Unit // pending chunks in key order
	inflight map[*job]int
	order    []*job
}

func newScheduler(jobs []*job) *scheduler {
	s := &scheduler{queue: map[*job][]checkpoints.Unit{}, inflight: map[*job]int{}, order: jobs}
	for _, j := range jobs {
		s.queue[j] = pendingUnits(j)
	}
	return s
}

// complete: nothing of j is queued or running.
func (s *scheduler) complete(j *job) bool { return len(s.queue[j]) == 0 && s.inflight[j] == 0 }

func (s *scheduler) ready(j *job) bool {
	if len(s.queue[j]) == 0 || (j.selfRef && s.inflight[j] > 0) {
		return false
	}
	for _, p := range j.parents {
		if !s.complete(p) {
			return false
		}
	}
	return true
}

// left estimates the rows of j still to copy.
func (s *scheduler) left(j *job) int64 {
	if len(j.units) == 0 {
		return 0
	}
	return j.est * int64(len(s.queue[j])) / int64(len(j.units))
}

// next takes the next chunk to start, if any is ready.
func (s *scheduler) next() (*job, checkpoints.Unit, bool) {
	var best *job
	for _, j := range s.order {
		if !s.ready(j) {
			continue
		}
		if best == nil || (j.reference() && !best.reference()) ||
			(j.reference() == best.reference() && s.left(j) > s.left(best)) {
			best = j
		}
	}
	if best == nil {
		return nil, checkpoints.Unit{}, false
	}
	u := s.queue[best][0]
	s.queue[best] = s.queue[best][1:]
	s.inflight[best]++
	return best, u, true
}

// copyChunks runs the chunks of jobs with at most Workers in flight. It
// waits only on chunk completions (no polling); the first failure cancels
// the others and is returned.
func (e *engine) copyChunks(ctx context.Context, jobs []*job) error {
	s := newScheduler(jobs)
	g, gctx := errgroup.WithContext(ctx)
	finished := make(chan *job, e.cfg.Workers)
	running := 0
	for {
		for running < e.cfg.Workers {
			j, u, ok := s.next()
			if !ok {
				break
			}
			running++
			e.tableStarted(j)
			g.Go(func() error {
				if err := e.copyChunk(gctx, j, u); err != nil {
					return err
				}
				finished <- j
				return nil
			})
		}
		if running == 0 {
			break
		}
		select {
		case j := <-finished:
			running--
			s.inflight[j]--
			if s.complete(j) {
				e.tableFinished(j)
			}
		case <-gctx.Done():
			return g.Wait()
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, j := range jobs {
		if !s.complete(j) {
			return fmt.Errorf("internal error: %s left with chunks no worker could start", j.key)
		}
	}
	return nil
}
