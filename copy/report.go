package pgcopy

import (
	"time"

	"github.com/tenantmover/tenantmover/internal/phase"
)

// Report is what a run did. Its summary counts what this process copied.
type Report struct {
	phase.Summary
	DryRun  bool     `json:"dry_run"`
	Tenants []string `json:"tenants,omitempty"`
	// Truncated lists the target tables Restart emptied (or, with tenants,
	// deleted the tenants' rows from).
	Truncated []string      `json:"truncated,omitempty"`
	Tables    []TableReport `json:"tables"`
	Sequences []Sequence    `json:"sequences,omitempty"`
	// Chunks lists every chunk with its SQL (dry run only).
	Chunks []PlannedChunk `json:"chunks,omitempty"`

	ChunksCopied  int `json:"chunks_copied"`
	ChunksSkipped int `json:"chunks_skipped"`

	// Part is this process's part of the run ("2/3", Config.Part); its
	// tables and counts are the part's chunks only.
	Part string `json:"part,omitempty"`
	// PartsLeft: the parts with chunks left when this part ended (its own
	// done): the run is complete when the last one ends.
	PartsLeft []PartLeft `json:"parts_left,omitempty"`
	// CompletedRun: this part found every part done and completed the run
	// (sequences set, run done).
	CompletedRun bool `json:"completed_run,omitempty"`
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
	// Tenant is the unit's tenant in a tenant copy (Lo and Hi are nil).
	Tenant string `json:"tenant,omitempty"`
	// Range shows the unit: "[1001, 2001)", or "tenant 42" in a tenant copy.
	Range string `json:"range"`
	State string `json:"state"`
	// SQL is the COPY pair: the source COPY TO and the target COPY FROM.
	SQL []string `json:"sql"`
}

func (r *Report) finish(started time.Time) {
	for i := range r.Tables {
		t := &r.Tables[i]
		r.Rows += t.Rows
		r.Bytes += t.Bytes
		r.ChunksCopied += t.ChunksCopied
		r.ChunksSkipped += t.ChunksSkipped
	}
	r.Summary.Finish(started)
}
