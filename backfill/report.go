package backfill

import (
	"sync"
	"time"
)

// Report is what a backfill did, table by table, in plan order.
type Report struct {
	Run     string         `json:"run"`
	DryRun  bool           `json:"dry_run"`
	Resumed bool           `json:"resumed"`
	Column  string         `json:"tenant_column"`
	Tables  []*TableReport `json:"tables"`
	// TriggersKept is true when the fill triggers stay installed.
	TriggersKept bool `json:"triggers_kept"`
	// DropTriggers are the statements that drop kept triggers, for when
	// the application writes the tenant column itself.
	DropTriggers []string `json:"drop_triggers,omitempty"`
	// ReplicaPause is the total time batches waited for replicas.
	ReplicaPauseMS int64 `json:"replica_pause_ms"`
	DurationMS     int64 `json:"duration_ms"`
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
	// MaxBatchMS is the longest time a batch held its row locks (from its
	// UPDATE to its commit).
	MaxBatchMS int64 `json:"max_batch_ms"`
	// NullsLeft is the count of rows without a tenant value at the end;
	// it equals Orphans.Count (checked).
	NullsLeft int64   `json:"nulls_left"`
	Orphans   Orphans `json:"orphans"`
	// Index is the index on the tenant column ("" when none was made).
	Index        string `json:"index,omitempty"`
	TriggerKept  bool   `json:"trigger_kept"`
	NotNullAdded bool   `json:"not_null_added"`
	// FillMS is the time of this run's batches on the table; DurationMS
	// adds its index, completeness proof and NOT NULL.
	FillMS     int64 `json:"fill_ms"`
	DurationMS int64 `json:"duration_ms"`
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
)

// Progress is reported after every batch and at each stage of a table.
type Progress struct {
	Table string
	Stage Stage
	// Done is keys walked so far (including earlier runs), Total the
	// table's estimated rows.
	Done, Total int64
	Updated     int64
	Batches     int
	BatchRows   int
	BatchTime   time.Duration
}

// Stage is where a table is.
type Stage string

// Stages.
const (
	StagePrepare Stage = "prepare" // column and trigger installed, units planned
	StageFill    Stage = "fill"    // a batch committed
	StageFilled  Stage = "filled"  // every unit done
	StageIndex   Stage = "index"   // index on the tenant column being built
	StageDone    Stage = "done"    // proven complete (and NOT NULL when asked)
)

// batchDone folds one committed batch into the report.
func (r *TableReport) batchDone(visited, updated int64, lockHeld time.Duration) (totalVisited, totalUpdated int64, batches int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.RowsVisited += visited
	r.RowsUpdated += updated
	r.Batches++
	if ms := lockHeld.Milliseconds(); ms > r.MaxBatchMS {
		r.MaxBatchMS = ms
	}
	return r.RowsVisitedBefore + r.RowsVisited, r.RowsUpdated, r.Batches
}

func (r *TableReport) retried() {
	r.mu.Lock()
	r.Retries++
	r.mu.Unlock()
}

// MaxBatch is the longest lock-holding batch over all tables.
func (r *Report) MaxBatch() time.Duration {
	var ms int64
	for _, t := range r.Tables {
		ms = max(ms, t.MaxBatchMS)
	}
	return time.Duration(ms) * time.Millisecond
}

// OrphanCount is the orphans over all tables.
func (r *Report) OrphanCount() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Orphans.Count
	}
	return n
}
