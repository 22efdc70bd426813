package phase

import "sync"

// EventKind says what an Event reports.
type EventKind string

// Event kinds. An event is about a table when Table is set, else about the
// phase's Step.
const (
	// Planned: the work of Table (or Step) is known: Total units (-1:
	// unknown), of which Done (and Bytes) were done by earlier runs.
	Planned EventKind = "planned"
	// Started: work on Table started in this process.
	Started EventKind = "started"
	// Advanced: Done more units (and Bytes more bytes) are committed.
	Advanced EventKind = "advanced"
	// Retrying: Unit failed with Err, which a retry may fix; Attempt counts
	// the attempts so far.
	Retrying EventKind = "retrying"
	// Finished: Table (or Step) is complete; Fields say how it ended.
	Finished EventKind = "finished"
	// Note: Message for the user.
	Note EventKind = "note"
)

// Event is one progress report of a phase: the one type every phase emits
// and every display reads.
type Event struct {
	Phase string
	Kind  EventKind
	Table string
	// Step is a part of the phase ("compare", "shards"; backfill's
	// "index"), for events that are not about one table's rows.
	Step string
	// Counting names what Total and Done count: "rows" unless set.
	Counting string
	Unit     int
	Total    int64
	Done     int64
	Bytes    int64
	Attempt  int
	Err      error
	Message  string
	// Fields are key-value pairs for log lines (rows_updated, 42, ...).
	Fields []any
}

// Emitter sends a phase's events to a callback one at a time (phases emit
// from many goroutines), with the phase's name filled in.
type Emitter struct {
	phase string
	fn    func(Event)
	mu    sync.Mutex
}

// NewEmitter emits phase's events to fn (nil: discard them).
func NewEmitter(phase string, fn func(Event)) *Emitter {
	return &Emitter{phase: phase, fn: fn}
}

// Emit sends ev.
func (e *Emitter) Emit(ev Event) {
	if e == nil || e.fn == nil {
		return
	}
	ev.Phase = e.phase
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fn(ev)
}
