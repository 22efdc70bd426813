package phase

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
)

// Group is one table's units in a Schedule: units 0..Units-1, run in that
// order of start.
type Group struct {
	// Units is how many units the group has left to run.
	Units int
	// After lists the groups (by index) that must be complete before this
	// group's first unit starts: a child table waits for its parents.
	After []int
	// Serial runs one unit at a time (a table referencing itself).
	Serial bool
	// First groups go before the others that are ready (reference tables).
	First bool
	// Weight estimates the group's work (rows): among ready groups, the one
	// with the most work left starts first, so a run does not end on one
	// long table.
	Weight int64
	// Ready, when not nil, holds the group back until it is closed: a
	// condition outside the schedule (another process finishing the
	// group's parent tables). Waiting for it takes no slot of the limit,
	// so the units of other groups run meanwhile.
	Ready <-chan struct{}
}

// Hooks hear about groups as they start and complete; they run on the
// scheduling goroutine, one at a time.
type Hooks struct {
	// Started: the group's first unit is starting.
	Started func(group int)
	// Finished: every unit of the group is done (also for a group with no
	// units, once its turn comes).
	Finished func(group int)
}

// Schedule runs every unit of every group with at most limit running at
// once, starting a group only when the groups it comes after are complete.
// It waits only on unit completions (no polling); the first failure cancels
// the units in flight and is returned. Groups whose After makes them wait on
// each other never start: Schedule then fails naming them.
//
// Each unit passes w's Gate before it starts: once w's deadline passed no
// unit starts, the ones in flight finish, and Schedule returns w's Stop
// error (a *WindowEndedError) if units were left.
func Schedule(ctx context.Context, w *Window, limit int, groups []Group, run func(ctx context.Context, group, unit int) error, hooks Hooks) error {
	s := newScheduler(groups)
	g, gctx := errgroup.WithContext(ctx)
	finished := make(chan int, limit)
	running := 0
	var stopped error // why no more units start
	// External readiness: one goroutine per group with a Ready channel
	// says when it closes.
	readied := make(chan int, len(groups))
	for i, gr := range groups {
		if gr.Ready != nil {
			s.held[i] = true
			go func() {
				select {
				case <-gr.Ready:
					readied <- i
				case <-gctx.Done():
				}
			}()
		}
	}
	s.finishEmpty(hooks)
	for {
		for running < limit && stopped == nil && s.anyReady() {
			if err := w.Gate(gctx); err != nil {
				stopped = err
				break
			}
			gi, u, ok := s.next()
			if !ok {
				break
			}
			running++
			if u == 0 && hooks.Started != nil {
				hooks.Started(gi)
			}
			g.Go(func() error {
				if err := run(gctx, gi, u); err != nil {
					return err
				}
				finished <- gi
				return nil
			})
		}
		if running == 0 && (stopped != nil || !s.anyHeld()) {
			break
		}
		select {
		case gi := <-readied:
			s.held[gi] = false
			s.finishEmpty(hooks)
		case gi := <-finished:
			running--
			s.inflight[gi]--
			if s.complete(gi) {
				s.finish(gi, hooks)
			}
			s.finishEmpty(hooks)
		case <-gctx.Done():
			if err := g.Wait(); err != nil {
				return err
			}
			return ctx.Err() // cancelled while groups waited for their Ready
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if stopped != nil {
		return stopped
	}
	for i := range groups {
		if !s.done[i] {
			return fmt.Errorf("internal error: group %d waits on groups that never complete", i)
		}
	}
	return nil
}

// Each runs fn for 0..n-1 with at most limit at once: a Schedule of n
// independent one-unit groups.
func Each(ctx context.Context, w *Window, limit, n int, fn func(ctx context.Context, i int) error) error {
	groups := make([]Group, n)
	for i := range groups {
		groups[i].Units = 1
	}
	return Schedule(ctx, w, limit, groups, func(ctx context.Context, g, _ int) error { return fn(ctx, g) }, Hooks{})
}

type scheduler struct {
	groups   []Group
	started  []int // units started per group
	inflight []int
	done     []bool // Finished was called
	held     []bool // waiting for the group's Ready channel
}

func newScheduler(groups []Group) *scheduler {
	n := len(groups)
	return &scheduler{groups: groups, started: make([]int, n), inflight: make([]int, n), done: make([]bool, n), held: make([]bool, n)}
}

// complete: nothing of group i is left or running.
func (s *scheduler) complete(i int) bool {
	return s.started[i] == s.groups[i].Units && s.inflight[i] == 0
}

func (s *scheduler) afterDone(i int) bool {
	for _, a := range s.groups[i].After {
		if !s.done[a] {
			return false
		}
	}
	return true
}

// anyHeld says a group not done yet still waits for its Ready channel.
func (s *scheduler) anyHeld() bool {
	for i := range s.groups {
		if s.held[i] && !s.done[i] {
			return true
		}
	}
	return false
}

func (s *scheduler) ready(i int) bool {
	g := s.groups[i]
	return !s.held[i] && s.started[i] < g.Units && (!g.Serial || s.inflight[i] == 0) && s.afterDone(i)
}

func (s *scheduler) finish(i int, hooks Hooks) {
	s.done[i] = true
	if hooks.Finished != nil {
		hooks.Finished(i)
	}
}

// finishEmpty completes the groups with no units whose turn has come,
// repeatedly, since each may let another one's turn come.
func (s *scheduler) finishEmpty(hooks Hooks) {
	for again := true; again; {
		again = false
		for i, g := range s.groups {
			if !s.done[i] && !s.held[i] && g.Units == 0 && s.afterDone(i) {
				s.finish(i, hooks)
				again = true
			}
		}
	}
}

// left estimates the work of group i not started yet.
func (s *scheduler) left(i int) int64 {
	g := s.groups[i]
	if g.Units == 0 {
		return 0
	}
	return g.Weight * int64(g.Units-s.started[i]) / int64(g.Units)
}

// anyReady says a unit could start now.
func (s *scheduler) anyReady() bool {
	for i := range s.groups {
		if s.ready(i) {
			return true
		}
	}
	return false
}

// next takes the next unit to start, if any is ready.
func (s *scheduler) next() (group, unit int, ok bool) {
	best := -1
	for i := range s.groups {
		if !s.ready(i) {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		a, b := s.groups[i], s.groups[best]
		if (a.First && !b.First) || (a.First == b.First && s.left(i) > s.left(best)) {
			best = i
		}
	}
	if best < 0 {
		return 0, 0, false
	}
	u := s.started[best]
	s.started[best]++
	s.inflight[best]++
	return best, u, true
}
