package verify

import "sync"

// tracker counts one phase's progress and reports it through the callback;
// tables and shards compared concurrently share it.
type tracker struct {
	mu    sync.Mutex
	fn    func(Progress)
	phase string
	done  int64
	total int64
}

func newTracker(fn func(Progress), phase string, total int64) *tracker {
	return &tracker{fn: fn, phase: phase, total: total}
}

func (t *tracker) add(table string, n int64) {
	if t == nil || t.fn == nil || n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done += n
	t.fn(Progress{Phase: t.phase, Table: table, Done: min(t.done, t.total), Total: t.total})
}

// share is one table's slice of a tracker: its tenants are counted as they
// are merged, in batches so the callback stays cheap, and finish tops the
// table up to its estimated share however many tenants it really had.
type share struct {
	t       *tracker
	table   string
	size    int64 // the units this table is worth
	counted int64 // units reported so far
	pending int64
}

const progressBatch = 1024

func (t *tracker) share(table string, size int64) *share {
	return &share{t: t, table: table, size: size}
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
		s.t.add(s.table, n)
	}
}

func (s *share) finish() {
	s.pending = s.size
	s.flush()
}
