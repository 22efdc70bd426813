package backfill

import (
	"sync"
	"time"

	"github.com/tenantmover/tenantmover/internal/phase"
)

// Report is what a backfill did, table by table, in plan order. Its
// summary's Rows are the rows given their tenant value by this run.
type Report struct {
	phase.Summary
	DryRun  bool           `json:"dry_run"`
	Resumed bool           `json:"resumed"`
	Column  string         `json:"tenant_column"`
	Tables  []*TableReport `json:"tables"`
	// TriggersKept is true when the fill triggers stay installed.
	TriggersKept bool `json:"triggers_kept"`
	// DropTriggers are the statements that drop kept triggers, for when
	// the application writes the tenant column itself.
	DropTriggers []string `json:"drop_triggers,omitempty"`
	// ReplicaPauseSeconds is the total time batches waited for replicas.
	ReplicaPauseSeconds float64 `json:"replica_pause_seconds"`
	// ReplicaLagChecks counts the replica lag readings (one at least
	// before every batch, with Config.MaxReplicaLag).
	ReplicaLagChecks int `json:"replica_lag_checks,omitempty"`
}

// TableReport is one nested table's backfill.
type TableReport struct {
	Table        string `json:"table"`
	Column       string `json:"column"`
	Parent       string `json:"parent"`
	ParentColumn string `json:"parent_column"`
	// EstimatedRows is the table's size when its units were planned.
	EstimatedRows int64 `json:"estimated_rows"`
	// RowsUpdated and RowsVisited count this run's work: rows given their
	// tenant value, and keys the batches walked over (filled rows, rows
	// the trigger or application had filled already, orphans).
	RowsUpdated int64 `json:"rows_updated"`
	RowsVisited int64 `json:"rows_visited"`
	// RowsVisitedBefore were walked by earlier, interrupted runs.
	RowsVisitedBefore int64 `json:"rows_visited_before"`
	Batches           int   `json:"batches"`
	Retries           int   `json:"retries"`
	Units             int   `json:"units"`
	// UnitsDoneBefore were completed by earlier runs and skipped.
	UnitsDoneBefore int `json:"units_done_before"`
	// MaxBatchSeconds is the longest time a batch held its row locks
	// (from its UPDATE to its commit).
	MaxBatchSeconds float64 `json:"max_batch_seconds"`
	// NullsLeft is the count of rows without a tenant value at the end;
	// it equals Orphans.Count (checked).
	NullsLeft int64   `json:"nulls_left"`
	Orphans   Orphans `json:"orphans"`
	// Index is the index on the tenant column ("" when none was made).
	Index        string `json:"index,omitempty"`
	TriggerKept  bool   `json:"trigger_kept"`
	NotNullAdded bool   `json:"not_null_added"`
	// FillSeconds is the time of this run's batches on the table; Seconds
	// adds its index, completeness proof and NOT NULL.
	FillSeconds float64 `json:"fill_seconds"`
	Seconds     float64 `json:"seconds"`
	// DDL and BatchSQL are filled by a dry run.
	DDL      []string `json:"ddl,omitempty"`
	BatchSQL []string `json:"batch_sql,omitempty"`
	Note     string   `json:"note,omitempty"`

	mu sync.Mutex
}

// Orphans are rows the backfill cannot give a tenant value: their foreign
// key is NULL, their parent row does not exist (only possible where the FK
// is not enforced: a --relation edge, a NOT VALID constraint), or their
// parent itself has no tenant value.
type Orphans struct {
	Count    int64            `json:"count"`
	ByReason map[string]int64 `json:"by_reason,omitempty"`
	Samples  []OrphanSample   `json:"samples,omitempty"`
}

// OrphanSample is one orphan row's primary key (text form, key order).
type OrphanSample struct {
	Key    []string `json:"key"`
	Reason string   `json:"reason"`
}

// Orphan reasons.
const (
	ReasonNullFK        = "null foreign key"
	ReasonMissingParent = "missing parent"
	ReasonParentOrphan  = "parent has no tenant value"
	// ReasonUnknownType: a polymorphic row whose type column names no
	// declared parent (plan's --relation ... when type=Value).
	ReasonUnknownType = "type without a declared parent"
)

// batchDone folds one committed batch into the report.
func (r *TableReport) batchDone(visited, updated int64, lockHeld time.Duration) (totalUpdated int64, batches int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.RowsVisited += visited
	r.RowsUpdated += updated
	r.Batches++
	r.MaxBatchSeconds = max(r.MaxBatchSeconds, lockHeld.Seconds())
	return r.RowsUpdated, r.Batches
}

func (r *TableReport) retried() {
	r.mu.Lock()
	r.Retries++
	r.mu.Unlock()
}

// MaxBatch is the longest lock-holding batch over all tables.
func (r *Report) MaxBatch() time.Duration {
	var s float64
	for _, t := range r.Tables {
		s = max(s, t.MaxBatchSeconds)
	}
	return time.Duration(s * float64(time.Second))
}

// finish sums the tables into the summary.
func (r *Report) finish(started time.Time) {
	r.Rows = 0
	for _, t := range r.Tables {
		r.Rows += t.RowsUpdated
	}
	r.Summary.Finish(started)
}

// OrphanCount is the orphans over all tables.
func (r *Report) OrphanCount() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Orphans.Count
	}
	return n
}
