package pgcopy

import (
	"context"
	"sync"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/phase"
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

// copyChunks runs the pending chunks of jobs with at most Workers in flight
// (phase.Schedule): a table starts when every parent table is complete;
// among ready tables reference tables go first, then the one with the most
// rows left, so big tables start early and the run does not end on one long
// table. In a part of a run (Config.Part), a table also waits until the
// other parts completed its parent tables (partReady). A table referencing itself copies one chunk at a time, in key
// order, so a row's parent row (usually a smaller key) is there first.
func (e *engine) copyChunks(ctx context.Context, jobs []*job) error {
	pos := map[*job]int{}
	inRun := map[*job]bool{}
	for i, j := range jobs {
		pos[j] = i
		inRun[j] = true
	}
	// The pollers of a part's tables waiting for other parts end with the
	// schedule.
	ctx, cancel := context.WithCancel(ctx)
	var pollers sync.WaitGroup
	defer pollers.Wait()
	defer cancel()
	groups := make([]phase.Group, len(jobs))
	pending := make([][]checkpoints.Unit, len(jobs))
	for i, j := range jobs {
		pending[i] = pendingUnits(j)
		groups[i] = phase.Group{Units: len(pending[i]), Serial: j.selfRef, First: j.reference(), Weight: j.est, Ready: e.partReady(ctx, &pollers, j, inRun)}
		for _, p := range j.parents {
			if k, ok := pos[p]; ok {
				groups[i].After = append(groups[i].After, k)
			}
		}
	}
	return phase.Schedule(ctx, e.env.Window, e.cfg.Workers, groups, func(ctx context.Context, g, u int) error {
		return e.copyChunk(ctx, jobs[g], pending[g][u])
	}, phase.Hooks{
		Started: func(g int) { e.tableStarted(jobs[g]) },
		Finished: func(g int) {
			e.mu.Lock()
			jobs[g].ownDone = true
			e.mu.Unlock()
			e.tableFinished(jobs[g])
		},
	})
}
