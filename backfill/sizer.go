package backfill

import (
	"sync"
	"time"
)

// sizer adapts one table's batch size so that a batch takes about the
// target time: after each batch it moves toward rows*target/took, by at
// most a factor of two either way so one odd batch (a cold cache, a brief
// lock wait) cannot swing it far, and always within [min, max]. It is
// shared by the workers of a table.
type sizer struct {
	mu       sync.Mutex
	size     int
	min, max int
	target   time.Duration
}

// initialBatchRows is where the size starts before anything was measured:
// small enough that the first batch of a slow table stays short.
const initialBatchRows = 1000

func newSizer(cfg Config) *sizer {
	return &sizer{
		size:   min(max(initialBatchRows, cfg.MinBatchRows), cfg.MaxBatchRows),
		min:    cfg.MinBatchRows,
		max:    cfg.MaxBatchRows,
		target: cfg.BatchTime,
	}
}

func (s *sizer) next() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// observe records that a batch of rows took took.
func (s *sizer) observe(rows int, took time.Duration) {
	if rows <= 0 || took <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ideal := float64(rows) * float64(s.target) / float64(took)
	ideal = min(max(ideal, float64(s.size)/2), float64(s.size)*2)
	s.size = min(max(int(ideal), s.min), s.max)
}

// halve shrinks the size after a batch gave up waiting for a lock: a
// smaller batch touches fewer rows the application may be holding.
func (s *sizer) halve() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size = max(s.size/2, s.min)
}
