package pgcopy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// PartLeft is what a part of the run still had to copy when this part
// ended.
type PartLeft struct {
	Part   string         `json:"part"`
	Chunks int            `json:"chunks"`
	Tables map[string]int `json:"tables"` // chunks left by table
}

// Describe shows a part's work left: "part 2/3: 4 chunks (public.purchase 3, public.refund 1)".
func (p PartLeft) Describe() string {
	names := make([]string, 0, len(p.Tables))
	for t := range p.Tables {
		names = append(names, t)
	}
	sort.Strings(names)
	for i, t := range names {
		names[i] = fmt.Sprintf("%s %d", t, p.Tables[t])
	}
	return fmt.Sprintf("part %s: %d chunks (%s)", p.Part, p.Chunks, strings.Join(names, ", "))
}

// executePart copies this process's part of the run (Config.Part):
//
//  1. take the part's lock (a second process of the same part refuses);
//  2. under the run's plan lock, start or resume the run (its options must
//     be the other parts') and plan every table's units, or read the ones
//     the first part planned;
//  3. copy the pending units this part owns, a table starting only when
//     every table it references on the target is complete in every part;
//  4. under the plan lock again, see whether any part has units left: if
//     none, this part completes the run (sequences, run done, and the
//     command's after-data steps); otherwise the report lists what the
//     others have left.
func (e *engine) executePart(ctx context.Context, started time.Time) (*Report, error) {
	part := e.cfg.Part
	e.report.Part = part.String()
	store, err := checkpoints.Open(ctx, e.dst)
	if err != nil {
		return nil, err
	}
	if err := e.recoverInDoubt(ctx); err != nil {
		return nil, err
	}
	unlock, err := store.LockPart(ctx, e.env.Run, part)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := e.startPart(ctx, store); err != nil {
		return nil, err
	}
	e.ownUnits()
	if err := e.copyPending(ctx); err != nil {
		e.run.EndPart(ctx, Name, part, checkpoints.EndState(ctx, err))
		return nil, err
	}
	e.run.EndPart(ctx, Name, part, checkpoints.Done)
	if err := e.finishPart(ctx, store); err != nil {
		return nil, err
	}
	return e.finishReport(started), nil
}

// startPart starts or resumes the run and plans its units under the plan
// lock, so the first part plans and the others read the same units.
func (e *engine) startPart(ctx context.Context, store *checkpoints.Store) error {
	unlockPlan, err := store.LockPlan(ctx, e.env.Run)
	if err != nil {
		return err
	}
	defer unlockPlan()
	e.run, err = store.Begin(ctx, e.env.Run, Name, e.options(), false)
	var changed *checkpoints.ErrOptionsChanged
	if errors.As(err, &changed) {
		return fmt.Errorf("part %s: every part of a run is started with the same tenant flags (--tenant-table, --relation, --reference, --exclude, ...) and the same number of parts: %w", e.cfg.Part, err)
	}
	if err == nil {
		err = e.run.SetPhase(ctx, Name)
	}
	if err == nil {
		err = e.run.StartPart(ctx, Name, e.cfg.Part)
	}
	if err != nil {
		return err
	}
	return e.planUnits(ctx)
}

// ownUnits keeps of every table the units of this part; the table's
// estimate shrinks to the part's share.
func (e *engine) ownUnits() {
	for _, j := range e.jobs {
		e.keepOwnUnits(j)
	}
}

// keepOwnUnits keeps of j's units this part's.
func (e *engine) keepOwnUnits(j *job) {
	all := len(j.units)
	var own []checkpoints.Unit
	for _, u := range j.units {
		if e.cfg.Part.Owns(j.key, u.ID) {
			own = append(own, u)
		}
	}
	j.units = own
	if all > 0 {
		j.est = j.est * int64(len(own)) / int64(all)
	}
}

// finishPart completes the run if no part has units left (the sequences,
// the run's end); otherwise it records in the report what the others
// have left. Under the plan lock: two parts ending at once do not both
// complete the run.
func (e *engine) finishPart(ctx context.Context, store *checkpoints.Store) error {
	unlockPlan, err := store.LockPlan(ctx, e.env.Run)
	if err != nil {
		return err
	}
	defer unlockPlan()
	left, err := e.run.Left(ctx, Name, e.cfg.Part.N)
	if err != nil {
		return err
	}
	for _, l := range left {
		e.report.PartsLeft = append(e.report.PartsLeft, PartLeft{Part: l.Part.String(), Chunks: l.Units, Tables: l.Tables})
	}
	if len(left) > 0 {
		return nil
	}
	state, err := e.run.Status(ctx)
	if err != nil {
		return err
	}
	copied := 0
	for _, j := range e.jobs {
		copied += j.report.ChunksCopied
	}
	if state == checkpoints.Done && copied > 0 {
		// Another part completed the run a moment ago, when this one's
		// last chunks were already committed.
		return nil
	}
	// The run is complete: this part is the last (or a rerun of a part
	// after the others), and completes it.
	if err := e.setSequences(ctx); err != nil {
		return err
	}
	if err := e.run.Finish(ctx, checkpoints.Done); err != nil {
		return fmt.Errorf("recording the end of run %q: %w", e.env.Run, err)
	}
	e.report.CompletedRun = true
	return nil
}

// partReady returns, for a part, the channel that closes once every parent
// of j (among jobs) has all its units done, in every part; nil when j has
// no parent to wait for. It polls the checkpoints with a backoff (100ms
// doubling to 2s) and notes which table it waits for.
func (e *engine) partReady(ctx context.Context, wg *sync.WaitGroup, j *job, inRun map[*job]bool) <-chan struct{} {
	var parents []*job
	for _, p := range j.parents {
		if inRun[p] {
			parents = append(parents, p)
		}
	}
	if e.cfg.Part.Whole() || len(parents) == 0 {
		return nil
	}
	ready := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		wait := 100 * time.Millisecond
		noted := map[*job]bool{}
		for {
			waiting := ""
			for _, p := range parents {
				n, err := e.run.UnitsLeft(ctx, Name, p.key)
				if err != nil && ctx.Err() != nil {
					return
				}
				if err != nil || n > 0 {
					waiting = p.key
					if err == nil && !noted[p] && e.ownDone(p) {
						// This part's own share is done: the rest is the
						// others'.
						noted[p] = true
						e.emit.Emit(phase.Event{Kind: phase.Note, Table: j.key, Message: fmt.Sprintf(
							"part %s: %s waits for %s, which other parts are still copying (%d left; a part that died waits for its rerun: tenantmover status shows every part)", e.cfg.Part, j.key, p.key, n)})
					}
					break
				}
			}
			if waiting == "" {
				close(ready)
				return
			}
			if phase.Sleep(ctx, wait) != nil {
				return
			}
			wait = min(2*wait, 2*time.Second)
		}
	}()
	return ready
}

// ownDone reports whether this process finished its own units of j.
func (e *engine) ownDone(j *job) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return j.ownDone
}
