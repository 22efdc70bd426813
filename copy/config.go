package pgcopy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// Defaults, chosen with scripts/bench-copy.sh (sample monolith, 5.95M rows,
// source, Citus coordinator and two workers on one 2-core machine):
//
//   - Workers 4: one chunk stream is latency bound (source scan, coordinator
//     routing and worker inserts take turns), so more streams help even on two
//     cores. Into Citus, 4 workers took 0.62-0.71x the psql pipe's time where 2
//     took 0.77-1.44x; into plain PostgreSQL 4 were 0.30x, 2 were 0.51x. Each
//     worker holds one connection on each side.
//   - ChunkRows 100,000: 20,000-row chunks were no faster (each chunk costs two
//     transactions, a checkpoint row and on Citus a two-phase commit over every
//     shard), 500,000 no faster either, and a crash loses at most one chunk per
//     worker: seconds of work.
const (
	DefaultWorkers     = 4
	DefaultChunkRows   = 100_000
	DefaultMaxAttempts = phase.DefaultAttempts
)

// Config is what the user asks of a copy. The zero value plus NewConfig is a
// full copy of every table with the defaults. Where the run's checkpoints
// live and whether it starts over (phase.Env's Run and Restart: Restart
// empties what the copy writes into, every target table or, with Tenants,
// those tenants' rows) come with the phase's environment.
type Config struct {
	// Workers is the number of chunks copied at the same time, across
	// tables. Default 4.
	Workers int
	// ChunkRows is the approximate number of rows per chunk. Default
	// 100,000. Only used when a table's chunks are first planned: a resumed
	// run keeps its boundaries.
	ChunkRows int64
	// Tenants, when set, limits the copy to these tenants (the text form of
	// the tenant key, e.g. "42"). Distributed tables get only their rows;
	// reference tables are copied only if the target's are empty.
	Tenants []string
	// Replace deletes the listed tenants' existing target rows in the same
	// transaction as their copy. Requires Tenants.
	Replace bool
	// DryRun checks everything and returns the chunks and their SQL without
	// writing anything.
	DryRun bool
	// MaxAttempts bounds the attempts of one chunk on retryable errors (lost
	// connection, deadlock, serialization failure, lock timeout). Default 8.
	MaxAttempts int
	// Backoff is the wait between attempts. Zero: 100ms doubling to 10s.
	Backoff phase.Backoff
	// Snapshot, when set, is a source snapshot exported by someone else
	// (the replication slot of copy --follow, whose changes start exactly
	// where the snapshot ends): every chunk reads it instead of one the
	// copy exports. Its exporter must hold it until Run returns.
	Snapshot string
	// Part, when set (K of N), makes this process copy one share of the
	// run's chunks, so N processes (on N machines) copy one run together,
	// each with a lock of its own. The chunks are planned once, by the
	// first part to arrive, and every part takes the ones
	// checkpoints.Part.Owns gives it. A table starts only when every table
	// it references on the target is complete, whichever part copied it;
	// the part that completes the run sets the sequences. Each part reads a
	// snapshot of its own, so the parts copy as of different moments: Part
	// refuses Snapshot (--follow) and Tenants, and is for a quiet source,
	// or a target whose foreign keys are added after the copy.
	Part checkpoints.Part

	hooks hooks
}

// hooks let tests act at precise moments of a chunk; nil in production.
type hooks struct {
	// midChunk runs once per chunk attempt, before the target reads the
	// first rows from the pipe: the target (backend targetPID) has been sent
	// the COPY and has received no row yet.
	midChunk func(table string, chunk int, targetPID uint32)
}

// NewConfig fills the defaults and validates c.
func NewConfig(c Config) (Config, error) {
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.ChunkRows == 0 {
		c.ChunkRows = DefaultChunkRows
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Backoff.Initial == 0 {
		c.Backoff.Initial = 100 * time.Millisecond
	}
	var errs []error
	if c.Workers < 1 || c.Workers > 256 {
		errs = append(errs, fmt.Errorf("workers must be between 1 and 256, got %d", c.Workers))
	}
	if c.ChunkRows < 1 {
		errs = append(errs, fmt.Errorf("chunk rows must be positive, got %d", c.ChunkRows))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max attempts must be positive, got %d", c.MaxAttempts))
	}
	if c.Replace && len(c.Tenants) == 0 {
		errs = append(errs, errors.New("--replace needs --tenants: it replaces the listed tenants' rows (to start a whole copy over, use --restart)"))
	}
	if !c.Part.Whole() {
		if err := c.Part.Validate(); err != nil {
			errs = append(errs, err)
		}
		if len(c.Tenants) > 0 {
			errs = append(errs, errors.New("--part cannot be used with --tenants: parts share the chunks of a whole copy (copy a few tenants in one process)"))
		}
		if c.Snapshot != "" {
			errs = append(errs, errors.New("--part cannot be used with --follow: a followed copy reads the one snapshot of its replication slot, and each part reads a snapshot of its own"))
		}
	}
	seen := map[string]bool{}
	for _, t := range c.Tenants {
		if strings.TrimSpace(t) == "" {
			errs = append(errs, errors.New("empty tenant value in the tenant list"))
			break
		}
		if seen[t] {
			errs = append(errs, fmt.Errorf("tenant %q listed twice", t))
		}
		seen[t] = true
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid copy configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// runOptions are what a resumed run must agree on; workers and chunk size
// may change between a run and its resume (boundaries are fixed once).
type runOptions struct {
	TenantTable  string   `json:"tenant_table"`
	TenantColumn string   `json:"tenant_column"`
	Relations    []string `json:"relations,omitempty"`
	References   []string `json:"references,omitempty"`
	Excludes     []string `json:"excludes,omitempty"`
	Tenants      []string `json:"tenants,omitempty"`
	Replace      bool     `json:"replace,omitempty"`
	// Parts is N of a run copied in parts (--part K/N): every part must
	// agree on it, and a run started whole is not resumed in parts.
	Parts  int `json:"parts,omitempty"`
	Layout int `json:"layout"`
}

// unitLayout is the meaning of the units' bounds: half-open ranges, or a
// tenant of its own (checkpoints.Unit). A run started by a version whose
// units meant something else is not resumed (its options differ).
const unitLayout = 2
