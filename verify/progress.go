package verify

import (
	"sync"

	"github.com/tenantmover/tenantmover/internal/phase"
)

// Steps of a verification, as progress events name them, and what each
// counts.
const (
	StepCompare   = "compare"   // per-tenant counts and checksums: table × tenant units
	StepInvariant = "invariant" // tenant invariant checks: one per foreign key checked
	StepShards    = "shards"    // shard placements: one per shard
)

var stepCounts = map[string]string{StepCompare: "table×tenant", StepInvariant: "checks", StepShards: "shards"}

// tracker counts one step's progress and emits it (Planned, then Advanced,
// then Finished once the total is reached); tables and shards compared
// concurrently share it. Its events name the step, never a table: an event
// with a table is about that table's rows (see phase.Event), and a display
// would count the step's units there.
type tracker struct {
	mu    sync.Mutex
	emit  *phase.Emitter
	step  string
	done  int64
	total int64
}

func newTracker(emit *phase.Emitter, step string, total int64) *tracker {
	emit.Emit(phase.Event{Kind: phase.Planned, Step: step, Total: total, Counting: stepCounts[step]})
	return &tracker{emit: emit, step: step, total: total}
}

func (t *tracker) add(n int64) {
	if t == nil || n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n = min(n, t.total-t.done)
	if n <= 0 {
		return
	}
	t.done += n
	t.emit.Emit(phase.Event{Kind: phase.Advanced, Step: t.step, Done: n, Total: t.total, Counting: stepCounts[t.step]})
	if t.done >= t.total {
		t.emit.Emit(phase.Event{Kind: phase.Finished, Step: t.step, Counting: stepCounts[t.step]})
	}
}

// share is one table's slice of a tracker: its tenants are counted as they
// are merged, in batches so the callback stays cheap, and finish tops the
// table up to its estimated share however many tenants it really had.
type share struct {
	t       *tracker
	size    int64 // the units this table is worth
	counted int64 // units reported so far
	pending int64
}

const progressBatch = 1024

func (t *tracker) share(size int64) *share {
	return &share{t: t, size: size}
}

func (s *share) tick() {
	s.pending++
	if s.pending >= progressBatch {
		s.flush()
	}
}

func (s *share) flush() {
	n := min(s.pending, s.size-s.counted)
	s.pending = 0
	if n > 0 {
		s.counted += n
		s.t.add(n)
	}
}

func (s *share) finish() {
	s.pending = s.size
	s.flush()
}
