package follow

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantmover/tenantmover/internal/phase"
)

// Defaults, chosen with scripts/bench-follow.sh:
//
//   - BatchRows 20,000: one target transaction (and one position record,
//     two-phase committed on Citus) per that many changes at most, so its
//     fixed cost is spread thin under load.
//   - BatchTime 200ms: the longest a change waits in an open batch before
//     it commits, so a quiet stream still lags by a fraction of a second.
//   - FlushRows 25,000 and FlushBytes 16 MiB: changes held in memory
//     before they are written into the open transaction, whatever the size
//     of the source transaction (a million-row transaction streams through
//     in flat memory). Above BatchRows, so that a batch of ordinary
//     transactions is written once, at its commit: each written group
//     costs the Citus target a statement per table and kind with a task
//     per shard (and intermediate result files), whatever its size, so
//     flushing 5,000 changes at a time cost the workers twice the CPU.
const (
	DefaultBatchRows      = 20_000
	DefaultBatchTime      = 200 * time.Millisecond
	DefaultFlushRows      = 25_000
	DefaultFlushBytes     = 16 << 20
	DefaultStatusInterval = 5 * time.Second
	// DefaultLanes: the target transactions a follower applies different
	// tenants' changes in at once (a stream's number is fixed when it
	// starts: it decides which lane each tenant's changes take).
	DefaultLanes = 4
	// MaxLanes bounds Lanes: each lane holds a target connection (and on
	// Citus one per worker).
	MaxLanes = 32
)

// Truncate policies.
const (
	TruncateStop  = "stop"
	TruncateApply = "apply"
)

// Name is the follow phase's name.
const Name = "follow"

// Config is what the user asks of a follower. The zero value plus
// NewConfig follows with the defaults.
type Config struct {
	// Stream names the stream: its slot, publication and checkpoint row.
	// Default: the phase's run name (env.Run), the copy's and the
	// follower's alike when the caller sets it for both.
	Stream string
	// BatchRows, BatchTime, FlushRows and FlushBytes bound a target
	// transaction and the changes held in memory (see the defaults).
	// FlushBytes counts the held values' bytes, roughly.
	BatchRows  int
	BatchTime  time.Duration
	FlushRows  int
	FlushBytes int
	// OnTruncate says what a TRUNCATE on the source does: TruncateStop
	// (the default) stops the follower naming the table; TruncateApply
	// truncates the target table too.
	OnTruncate string
	// StatusInterval is how often progress (applied changes, lag) is
	// reported and the source told the position. Default 5s.
	StatusInterval time.Duration
	// Lanes is the number of target transactions different tenants'
	// changes are applied in at once, for a stream this copy starts
	// (a running stream keeps the number it started with). Default 4.
	Lanes int
	// StopAt, when set, ends the follower once it applied past this source
	// position (cutover applies the last changes itself with it).
	StopAt string
}

// CheckLanes says whether n lanes can be asked for (Config.Lanes takes 0
// for the default; the command line does not).
func CheckLanes(n int) error {
	if n < 1 || n > MaxLanes {
		return fmt.Errorf("--lanes must be between 1 and %d, got %d", MaxLanes, n)
	}
	return nil
}

// NewConfig fills the defaults and validates c.
func NewConfig(c Config) (Config, error) {
	if c.BatchRows == 0 {
		c.BatchRows = DefaultBatchRows
	}
	if c.BatchTime == 0 {
		c.BatchTime = DefaultBatchTime
	}
	if c.FlushRows == 0 {
		c.FlushRows = DefaultFlushRows
	}
	if c.FlushBytes == 0 {
		c.FlushBytes = DefaultFlushBytes
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.OnTruncate == "" {
		c.OnTruncate = TruncateStop
	}
	if c.Lanes == 0 {
		c.Lanes = DefaultLanes
	}
	var errs []error
	if c.BatchRows < 1 || c.FlushRows < 1 || c.FlushBytes < 1 || c.BatchTime < 0 {
		errs = append(errs, errors.New("batch rows, flush rows, flush bytes and batch time must be positive"))
	}
	if err := CheckLanes(c.Lanes); err != nil {
		errs = append(errs, err)
	}
	if c.OnTruncate != TruncateStop && c.OnTruncate != TruncateApply {
		errs = append(errs, fmt.Errorf("--on-truncate must be %s or %s, got %q", TruncateStop, TruncateApply, c.OnTruncate))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid follow configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// stream is the stream's name for env.
func (c Config) stream(env *phase.Env) string {
	if c.Stream != "" {
		return c.Stream
	}
	return env.Run
}

func isUndefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgerrcode.UndefinedTable
}

// isConstraint says err is a constraint the order of a batch's statements
// can violate where the source's order did not (unique, foreign key).
func isConstraint(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == pgerrcode.UniqueViolation || pe.Code == pgerrcode.ForeignKeyViolation)
}
