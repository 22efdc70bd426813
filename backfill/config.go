package backfill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenantmover/tenantmover/internal/phase"
)

// Config tunes a backfill. The zero value of every field takes the default
// documented on it; NewConfig (called by Run) fills and checks them.
type Config struct {
	// Workers is how many batches run at once, across the units of a table
	// and across tables whose parents are done. Default 2. The pool needs
	// Workers+2 connections (one holds the run lock, one checks lag).
	Workers int
	// BatchTime is the target duration of one batch; the batch size adapts
	// toward it. Default 200ms.
	BatchTime time.Duration
	// MinBatchRows and MaxBatchRows bound the adaptive batch size.
	// Defaults 100 and 50000.
	MinBatchRows, MaxBatchRows int
	// LockTimeout bounds how long a batch waits for a row lock held by the
	// application before it gives up, halves and retries. Default
	// 2 x BatchTime.
	LockTimeout time.Duration
	// BatchTimeout cancels a batch's transaction that runs longer (a load
	// spike, a lock wait, a slow disk), which is then retried with half the
	// rows, so no batch holds its row locks much longer than this. Default
	// 3 x BatchTime.
	BatchTimeout time.Duration
	// DDLLockTimeout bounds the wait for the short ACCESS EXCLUSIVE locks of
	// ADD COLUMN, CREATE TRIGGER and SET NOT NULL: while such a lock waits,
	// every query on the table queues behind it, so it must give up fast
	// and retry. Default 300ms.
	DDLLockTimeout time.Duration
	// MaxRetries is how many times one batch or DDL statement is retried
	// (lock timeout, deadlock, serialization failure, lost connection)
	// before the run gives up. Default 10.
	MaxRetries int
	// Backoff spaces retries. Default 100ms doubling to 10s.
	Backoff phase.Backoff
	// MaxReplicaLag pauses batches while any replica in pg_stat_replication
	// replays further behind than this. Zero turns the check off.
	MaxReplicaLag time.Duration
	// LagCheckInterval is how often a paused backfill looks at the lag
	// again. Default 1s.
	LagCheckInterval time.Duration
	// KeepTriggers leaves the fill triggers installed at the end, for
	// applications that do not write the tenant column yet.
	KeepTriggers bool
	// SetNotNull adds NOT NULL to each filled column, the online way. It
	// needs KeepTriggers: without the trigger, inserts from an application
	// that does not write the column would fail.
	SetNotNull bool
	// FailOnOrphans makes orphans (rows left without a tenant, listed in
	// the report) an error: a migration cannot distribute them.
	FailOnOrphans bool
	// DryRun computes the DDL, the batch SQL and row estimates and changes
	// nothing.
	DryRun bool
	// UnitRows is about how many rows one unit (a key range fixed at the
	// first start and checkpointed batch by batch) covers; a table gets at
	// most 64 units. Default 100000.
	UnitRows int
	// OrphanSamples is how many orphan keys per table and reason the report
	// lists. Default 10.
	OrphanSamples int
	// StopAfterBatches, when positive, stops the run with ErrStopped after
	// that many committed batches: a crash point for tests.
	StopAfterBatches int
}

// Defaults.
const (
	DefaultWorkers        = 2
	DefaultBatchTime      = 200 * time.Millisecond
	DefaultMinBatchRows   = 100
	DefaultMaxBatchRows   = 50000
	DefaultDDLLockTimeout = 300 * time.Millisecond
	DefaultMaxRetries     = 10
	DefaultOrphanSamples  = 10
	DefaultUnitRows       = 100_000
)

// ErrStopped is returned when Config.StopAfterBatches stopped the run. It
// is a cancellation: the run is recorded as interrupted, as after Ctrl-C.
var ErrStopped = fmt.Errorf("backfill stopped after the requested number of batches: %w", context.Canceled)

// NewConfig fills c's defaults and checks it.
func NewConfig(c Config) (Config, error) {
	setDefault(&c.Workers, DefaultWorkers)
	setDefault(&c.BatchTime, DefaultBatchTime)
	setDefault(&c.MinBatchRows, DefaultMinBatchRows)
	setDefault(&c.MaxBatchRows, DefaultMaxBatchRows)
	setDefault(&c.LockTimeout, 2*c.BatchTime)
	setDefault(&c.BatchTimeout, 3*c.BatchTime)
	setDefault(&c.DDLLockTimeout, DefaultDDLLockTimeout)
	setDefault(&c.MaxRetries, DefaultMaxRetries)
	setDefault(&c.LagCheckInterval, time.Second)
	setDefault(&c.OrphanSamples, DefaultOrphanSamples)
	setDefault(&c.UnitRows, DefaultUnitRows)
	switch {
	case c.Workers < 1:
		return c, fmt.Errorf("workers must be at least 1, not %d", c.Workers)
	case c.BatchTime < time.Millisecond:
		return c, fmt.Errorf("batch time %s is too short: use at least 1ms", c.BatchTime)
	case c.MinBatchRows < 1 || c.MaxBatchRows < c.MinBatchRows:
		return c, fmt.Errorf("batch rows must satisfy 1 <= min (%d) <= max (%d)", c.MinBatchRows, c.MaxBatchRows)
	case c.LockTimeout < time.Millisecond || c.DDLLockTimeout < time.Millisecond || c.BatchTimeout < time.Millisecond:
		return c, errors.New("lock timeouts must be at least 1ms (0 would wait forever and queue the application behind the backfill)")
	case c.BatchTimeout < c.BatchTime:
		return c, fmt.Errorf("batch timeout %s is shorter than the batch time %s", c.BatchTimeout, c.BatchTime)
	case c.MaxRetries < 1:
		return c, fmt.Errorf("max retries must be at least 1, not %d", c.MaxRetries)
	case c.UnitRows < 1:
		return c, fmt.Errorf("unit rows must be at least 1, not %d", c.UnitRows)
	case c.MaxReplicaLag < 0:
		return c, fmt.Errorf("max replica lag %s is negative", c.MaxReplicaLag)
	case c.SetNotNull && !c.KeepTriggers: // refused in a dry run too: it checks what the run would do
		return c, errors.New("--set-not-null needs --keep-triggers: without the trigger, inserts from an application that does not write the tenant column yet would fail the NOT NULL constraint")
	}
	return c, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
