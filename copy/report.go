package pgcopy

import "time"

// EventKind says what a Progress event reports.
type EventKind string

// Progress event kinds, in the order a run emits them.
const (
	// EventPlanned: one per table before copying starts, with its estimated
	// TotalRows, its Chunks and ChunksDone, and DoneRows/DoneBytes already
	// copied by earlier attempts of the run.
	EventPlanned EventKind = "planned"
	// EventTruncating: Restart is about to empty Tables (or delete the
	// listed tenants' rows from them).
	EventTruncating EventKind = "truncating"
	// EventTableStarted: the first chunk of Table in this process started.
	EventTableStarted EventKind = "table_started"
	// EventChunkDone: a chunk (or, with tenants, a tenant's rows of Table)
	// committed, adding Rows and Bytes.
	EventChunkDone EventKind = "chunk_done"
	// EventRetry: a chunk failed with a retryable error (Err) and is retried
	// (Attempt counts from 1).
	EventRetry EventKind = "retry"
	// EventTableFinished: every chunk of Table is done; Rows and Bytes are
	// what this process copied of it.
	EventTableFinished EventKind = "table_finished"
	// EventSequences: target sequences were set past the copied values.
	EventSequences EventKind = "sequences"
)

// Progress is one event of a run. Callbacks are serialized: the callback
// never runs twice at the same time.
type Progress struct {
	Kind       EventKind
	Table      string
	Chunk      int
	Rows       int64
	Bytes      int64
	TotalRows  int64 // estimated rows of the table (EventPlanned)
	DoneRows   int64 // rows committed before this process (EventPlanned)
	DoneBytes  int64
	Chunks     int
	ChunksDone int
	Attempt    int
	Err        error
	Tables     []string // EventTruncating
}

// Report is what a run did.
type Report struct {
	Run     string   `json:"run"`
	DryRun  bool     `json:"dry_run"`
	Tenants []string `json:"tenants,omitempty"`
	// Truncated lists the target tables Restart emptied (or, with tenants,
	// deleted the tenants' rows from).
	Truncated []string      `json:"truncated,omitempty"`
	Tables    []TableReport `json:"tables"`
	Sequences []Sequence    `json:"sequences,omitempty"`
	// Chunks lists every chunk with its SQL (dry run only).
	Chunks []PlannedChunk `json:"chunks,omitempty"`

	Rows           int64   `json:"rows"`
	Bytes          int64   `json:"bytes"`
	ChunksCopied   int     `json:"chunks_copied"`
	ChunksSkipped  int     `json:"chunks_skipped"`
	Seconds        float64 `json:"seconds"`
	RowsPerSecond  float64 `json:"rows_per_second"`
	BytesPerSecond float64 `json:"bytes_per_second"`
}

// TableReport is one table's part of a run.
type TableReport struct {
	Table string `json:"table"`
	Kind  string `json:"kind"`
	// Rows and Bytes were copied by this process; ChunksSkipped were done
	// by an earlier process of the run.
	Rows          int64   `json:"rows"`
	Bytes         int64   `json:"bytes"`
	Chunks        int     `json:"chunks"`
	ChunksCopied  int     `json:"chunks_copied"`
	ChunksSkipped int     `json:"chunks_skipped"`
	Seconds       float64 `json:"seconds"`
	// Skipped says why the table was not copied at all (reference tables
	// in a tenant copy whose target already holds rows).
	Skipped string `json:"skipped,omitempty"`
}

// Sequence is a target sequence set past the copied values.
type Sequence struct {
	Table    string `json:"table"`
	Column   string `json:"column"`
	Sequence string `json:"sequence"`
	Value    int64  `json:"value"`
}

// PlannedChunk is a chunk a dry run would copy.
type PlannedChunk struct {
	Table string   `json:"table"`
	Chunk int      `json:"chunk"`
	Lo    []string `json:"lo"` // inclusive; nil = from the start
	Hi    []string `json:"hi"` // exclusive; nil = to the end
	// Range shows the unit: "[1001, 2001)", or "tenant 42" in a tenant copy.
	Range string `json:"range"`
	State string `json:"state"`
	// SQL is the COPY pair: the source COPY TO and the target COPY FROM.
	SQL []string `json:"sql"`
}

func (r *Report) finish(started time.Time) {
	r.Seconds = time.Since(started).Seconds()
	for i := range r.Tables {
		t := &r.Tables[i]
		r.Rows += t.Rows
		r.Bytes += t.Bytes
		r.ChunksCopied += t.ChunksCopied
		r.ChunksSkipped += t.ChunksSkipped
	}
	if r.Seconds > 0 {
		r.RowsPerSecond = float64(r.Rows) / r.Seconds
		r.BytesPerSecond = float64(r.Bytes) / r.Seconds
	}
}
