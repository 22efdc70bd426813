package follow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/checkpoints"
	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/verify"
)

// Verification scopes of a cutover.
const (
	VerifyChanged = "changed"
	VerifyAll     = "all"
	VerifyNone    = "none"
)

// DefaultCutoverTimeout bounds the write pause: taking the locks and
// waiting for the follower to reach the fence.
const DefaultCutoverTimeout = 30 * time.Second

// CutoverConfig is one cutover.
type CutoverConfig struct {
	Source, Target string
	Plan           *plan.Plan
	// Stream names the followed stream (the run of copy --follow, or of
	// migrate --follow).
	Stream string
	// Timeout bounds the catching up before writes are blocked, and the
	// write pause's locks and wait for the fence. Default 30s.
	Timeout time.Duration
	// Verify is VerifyChanged (default: with checksums, the tenants the
	// follower changed since the snapshot), VerifyAll or VerifyNone.
	Verify   string
	Progress func(phase.Event)
	// Finish, when set, is called before the source's writes are blocked
	// and returns what runs once everything is applied and verified, while
	// they still are and before the source refuses them: the CLI reads the
	// target's catalog there and creates in the pause what would have
	// acted on the follower's writes (the target's triggers and row-level
	// security), so the pause only runs those statements. target is the
	// cutover's own pool on the target, open until it returns.
	Finish func(ctx context.Context, target *pgxpool.Pool) (func(context.Context) error, error)
}

// CutoverReport is what a cutover did.
type CutoverReport struct {
	Stream string `json:"stream"`
	// Fence is the source position every applied change is before.
	Fence string `json:"fence"`
	// PauseSeconds is the write pause: from the first lock taken to the
	// source refusing writes (and the target taking them).
	PauseSeconds float64 `json:"pause_seconds"`
	// The pause's parts: waiting for the last changes (fence), setting the
	// sequences and verifying.
	DrainSeconds    float64 `json:"drain_seconds"`
	SequenceSeconds float64 `json:"sequence_seconds"`
	VerifySeconds   float64 `json:"verify_seconds"`
	// FinishSeconds is the pause's creation of the target's triggers and
	// row-level security (CutoverConfig.Finish).
	FinishSeconds float64 `json:"finish_seconds"`
	// VerifyScope is the cutover's --verify.
	VerifyScope string `json:"verify_scope"`
	// VerifiedTenants is how many tenants the pause verified (0: every
	// tenant, or none but the tables without tenants after an early
	// comparison).
	VerifiedTenants int `json:"verified_tenants"`
	// EarlyVerify is the comparison before writes were blocked, which the
	// pause only completed (preverify.go); not part of the pause.
	EarlyVerify        *verify.Result          `json:"early_verify,omitempty"`
	EarlyVerifySeconds float64                 `json:"early_verify_seconds,omitempty"`
	Applied            checkpoints.ChangeCount `json:"applied"`
	Tenants            []string                `json:"changed_tenants"`
	Sequences          []pgcopy.Sequence       `json:"sequences,omitempty"`
	Verify             *verify.Result          `json:"verify,omitempty"`
	Guarded            []string                `json:"guarded_tables"`
}

// NotReachedError: the follower did not apply up to the fence in time;
// nothing changed.
type NotReachedError struct {
	Stream, Fence, Applied string
	Timeout                time.Duration
	Running                bool
}

func (e *NotReachedError) Error() string {
	why := "no follower is running and the remaining changes did not apply in time"
	if e.Running {
		why = "the follower is behind"
	}
	return fmt.Sprintf("cutover of stream %q: the changes up to the fence %s were not applied within %s (applied through %s; %s): the locks were released and nothing changed; rerun later or with a longer --timeout",
		e.Stream, e.Fence, e.Timeout, e.Applied, why)
}

// VerifyError: the target differs from the blocked source; nothing
// changed (the source takes writes again).
type VerifyError struct{ Result *verify.Result }

func (e *VerifyError) Error() string {
	return fmt.Sprintf("cutover stopped: verify found %d differences between the blocked source and the target; the source takes writes again and the stream goes on", len(e.Result.Differences))
}

// cutover is one Cutover.
type cutover struct {
	pools
	cfg      CutoverConfig
	store    *checkpoints.Store
	stream   *checkpoints.Stream
	emit     *phase.Emitter
	report   *CutoverReport
	lockTx   pgx.Tx
	locked   time.Time
	deadline time.Time
	caughtUp pglogrepl.LSN // the catch-up's last fence, applied before writes were blocked
	early    *early
}

// Cutover switches the application from the source to the target: it
// lets the follower catch up, blocks writes on the source's planned tables, writes a fence into the
// WAL, waits until the follower applied past it (applying the rest itself
// when no follower runs), sets the target's sequences past the source's,
// verifies, makes the source refuse writes from then on, and ends the
// stream. Until the source refuses writes, any failure releases the locks
// and changes nothing.
func Cutover(ctx context.Context, cfg CutoverConfig) (*CutoverReport, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultCutoverTimeout
	}
	if cfg.Verify == "" {
		cfg.Verify = VerifyChanged
	}
	if cfg.Verify != VerifyChanged && cfg.Verify != VerifyAll && cfg.Verify != VerifyNone {
		return nil, fmt.Errorf("--verify must be %s, %s or %s, got %q", VerifyChanged, VerifyAll, VerifyNone, cfg.Verify)
	}
	c := &cutover{cfg: cfg, emit: phase.NewEmitter("cutover", cfg.Progress), report: &CutoverReport{Stream: cfg.Stream, VerifyScope: cfg.Verify}}
	if err := c.open(ctx); err != nil {
		return nil, err
	}
	defer c.close()
	if err := c.catchUp(ctx); err != nil {
		return nil, err
	}
	if err := c.verifyEarly(ctx); err != nil {
		return nil, err
	}
	finish, err := c.prepareFinish(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.blockWrites(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	if err := timed(&c.report.DrainSeconds, func() error { return c.drain(ctx) }); err != nil {
		return nil, err
	}
	if err := c.settle(ctx); err != nil {
		return nil, err
	}
	if err := timed(&c.report.FinishSeconds, func() error { return finish(ctx) }); err != nil {
		return nil, fmt.Errorf("finishing the target: %w", err)
	}
	if err := c.refuseWrites(ctx); err != nil {
		return nil, err
	}
	return c.report, c.end(ctx)
}

// prepareFinish calls CutoverConfig.Finish before the pause; what it
// returns runs in the pause.
func (c *cutover) prepareFinish(ctx context.Context) (func(context.Context) error, error) {
	if c.cfg.Finish == nil {
		return func(context.Context) error { return nil }, nil
	}
	finish, err := c.cfg.Finish(ctx, c.dst)
	if err != nil {
		return nil, fmt.Errorf("reading what the target gets in the pause: %w", err)
	}
	return finish, nil
}

func (c *cutover) open(ctx context.Context) error {
	var err error
	if err = c.pools.open(ctx, c.cfg.Source, c.cfg.Target); err != nil {
		return err
	}
	c.store = checkpoints.Attach(c.dst)
	if c.stream, err = c.store.Stream(ctx, c.cfg.Stream); err != nil {
		if errors.Is(err, checkpoints.ErrNoStream) {
			return fmt.Errorf("no stream %q on the target: start one with copy --follow or migrate --follow (status lists the streams)", c.cfg.Stream)
		}
		return err
	}
	if c.stream.CutoverAt != nil {
		return fmt.Errorf("stream %q was cut over at %s already", c.cfg.Stream, c.stream.CutoverAt.Format(time.RFC3339))
	}
	return nil
}

// blockWrites takes, in one source transaction held until the end, locks
// that let reads through and block every write on the planned tables.
// lock_timeout keeps the application's queue behind a waiting lock short;
// the attempt is retried until the timeout.
func (c *cutover) blockWrites(ctx context.Context) error {
	tables := c.cfg.Plan.Included()
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Name().Quoted()
	}
	c.report.Guarded = names
	c.deadline = time.Now().Add(c.cfg.Timeout)
	stmt := "LOCK TABLE " + strings.Join(names, ", ") + " IN EXCLUSIVE MODE"
	for attempt := 1; ; attempt++ {
		tx, err := c.src.Begin(ctx)
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		c.locked = time.Now()
		_, err = tx.Exec(ctx, "SET LOCAL lock_timeout = '1s'; "+stmt)
		if err == nil {
			c.lockTx = tx
			c.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf("writes blocked on %d source tables", len(names))})
			return nil
		}
		_ = tx.Rollback(ctx)
		if cl := db.Classify(err); (cl != db.LockTimeout && cl != db.Conflict) || time.Now().After(c.deadline) {
			return fmt.Errorf("source: blocking writes (%d attempts): %w; nothing changed", attempt, err)
		}
	}
}

// release ends the lock transaction (rolled back: the guard triggers commit
// in it only when everything before succeeded).
func (c *cutover) release() {
	if c.lockTx != nil {
		_ = c.lockTx.Rollback(context.Background())
		c.lockTx = nil
	}
}

// Catching up before writes are blocked: rounds until one takes at most
// catchUpGoal.
const (
	catchUpGoal   = 500 * time.Millisecond
	catchUpRounds = 10
)

// catchUp brings the follower near the source before writes are blocked,
// so the pause only covers the last changes: it writes a fence and waits
// for it, without locks, for at most the timeout. While the application
// writes, a round's wait is the backlog the next round starts from, so it
// goes round again until a round is short. A round that does not shrink
// the backlog (a follower no faster than the application) ends the
// rounds: the writes are blocked then, and the follower drains the rest.
func (c *cutover) catchUp(ctx context.Context) error {
	started := time.Now()
	deadline := started.Add(c.cfg.Timeout)
	var fence pglogrepl.LSN
	var took time.Duration
	round := 1
	for ; ; round++ {
		roundStarted := time.Now()
		budget := deadline
		if round > 1 && roundStarted.Add(took).Before(deadline) {
			budget = roundStarted.Add(took) // no longer than the round before
		}
		f, err := c.drainTo(ctx, budget)
		var behind *NotReachedError
		if round > 1 && errors.As(err, &behind) {
			break
		}
		if err != nil {
			return err
		}
		fence, took = f, time.Since(roundStarted)
		c.caughtUp = fence
		if took <= catchUpGoal || round == catchUpRounds {
			break
		}
	}
	c.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf("caught up to %s in %.1fs (%d rounds) before blocking writes",
		fence, time.Since(started).Seconds(), round)})
	return nil
}

// drain writes the fence and waits until the target has every change
// before it, with writes blocked.
func (c *cutover) drain(ctx context.Context) error {
	fence, err := c.drainTo(ctx, c.deadline)
	if err != nil {
		return err
	}
	c.report.Fence = fence.String()
	st, err := c.store.Stream(ctx, c.cfg.Stream)
	if err != nil {
		return err
	}
	c.stream = st
	c.report.Applied = st.Counts
	return nil
}

// drainTo writes a fence into the source's WAL and waits until the target
// applied past it, by deadline: the running follower's work, or, when none
// is connected to the slot, applied here.
func (c *cutover) drainTo(ctx context.Context, deadline time.Time) (pglogrepl.LSN, error) {
	var fence pglogrepl.LSN
	err := c.src.QueryRow(ctx, `SELECT pg_logical_emit_message(false, $1, $2)`, fencePrefix, c.cfg.Stream).Scan(&fence)
	if err != nil {
		return 0, fmt.Errorf("source: writing the fence: %w", err)
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	running, err := c.followerConnected(ctx)
	if err == nil && !running {
		env := &phase.Env{Source: c.cfg.Source, Target: c.cfg.Target, Plan: c.cfg.Plan, Run: c.cfg.Stream}
		_, err = Run(dctx, env, Config{Stream: c.cfg.Stream, StopAt: fence.String(), BatchTime: 50 * time.Millisecond})
		var locked *checkpoints.ErrRunLocked
		running = errors.As(err, &locked) // a follower started meanwhile
	}
	if running {
		err = c.waitApplied(dctx, fence)
	}
	if err != nil && dctx.Err() != nil && ctx.Err() == nil {
		return 0, c.notReached(ctx, fence, running)
	}
	return fence, err
}

// followerConnected says whether a follower streams from the slot.
func (c *cutover) followerConnected(ctx context.Context) (bool, error) {
	var active bool
	err := c.src.QueryRow(ctx, `SELECT coalesce((SELECT active FROM pg_replication_slots WHERE slot_name = $1), false)`, c.stream.Slot).Scan(&active)
	return active, err
}

// waitApplied waits until the running follower applied past fence and
// its commit is complete: it polls the slot's confirmed position on the
// source, which the follower reports only once its COMMIT returned. The
// target's own record is not enough on Citus: the coordinator's commit
// makes it visible before the workers' COMMIT PREPARED makes the rows so.
func (c *cutover) waitApplied(ctx context.Context, fence pglogrepl.LSN) error {
	return AwaitConfirmed(ctx, c.src, c.stream.Slot, fence)
}

// AwaitConfirmed waits until slot's confirmed position on the source is
// at or past lsn: every change before lsn is committed on the target.
func AwaitConfirmed(ctx context.Context, src *pgxpool.Pool, slot string, lsn pglogrepl.LSN) error {
	for {
		var confirmed *pglogrepl.LSN
		err := src.QueryRow(ctx, `SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&confirmed)
		if err != nil {
			return fmt.Errorf("source: reading slot %s: %w", slot, err)
		}
		if confirmed != nil && *confirmed >= lsn {
			return nil
		}
		if err := waitCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

func (c *cutover) notReached(ctx context.Context, fence pglogrepl.LSN, running bool) error {
	applied := "?"
	if st, err := c.store.Stream(ctx, c.cfg.Stream); err == nil {
		applied = st.AppliedLSN
	}
	return &NotReachedError{Stream: c.cfg.Stream, Fence: fence.String(), Applied: applied, Timeout: c.cfg.Timeout, Running: running}
}

// settle moves the target's sequences past the source's and verifies
// what the early comparison left (preverify.go).
func (c *cutover) settle(ctx context.Context) error {
	started := time.Now()
	seqs, err := pgcopy.SetSequences(ctx, c.cfg.Plan, c.src, c.dst)
	if err != nil {
		return fmt.Errorf("setting the target's sequences: %w", err)
	}
	c.report.Sequences = seqs
	c.report.SequenceSeconds = time.Since(started).Seconds()
	if c.report.Tenants, err = c.store.ChangedTenants(ctx, c.cfg.Stream); err != nil {
		return err
	}
	if c.cfg.Verify == VerifyNone || (c.cfg.Verify == VerifyChanged && len(c.report.Tenants) == 0) {
		return nil
	}
	vcfg, skip, err := c.lateScope(ctx)
	if err != nil || skip {
		return err
	}
	what := scope(vcfg.Tenants)
	if c.early != nil {
		c.report.EarlyVerifySeconds, c.report.EarlyVerify = c.early.seconds, c.early.result
		switch {
		case len(vcfg.Tenants) > 0:
			what = fmt.Sprintf("the %d tenants changed, or found different, since the comparison before blocking writes", len(vcfg.Tenants))
		case len(vcfg.Tables) > 0:
			what = "the tables without tenants (no tenant changed since the comparison before blocking writes)"
		}
	}
	c.emit.Emit(phase.Event{Kind: phase.Note, Message: "verifying " + what + " with checksums"})
	started = time.Now()
	res, err := verify.Run(ctx, c.verifyEnv(), vcfg)
	c.report.VerifySeconds = time.Since(started).Seconds()
	c.report.VerifiedTenants = len(vcfg.Tenants)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	c.report.Verify = res
	if !res.Match {
		return &VerifyError{Result: res}
	}
	return nil
}

func timed(into *float64, fn func() error) error {
	started := time.Now()
	err := fn()
	*into = time.Since(started).Seconds()
	return err
}

func scope(tenants []string) string {
	if len(tenants) == 0 {
		return "every tenant"
	}
	return fmt.Sprintf("the %d tenants changed since the snapshot", len(tenants))
}

// refuseWrites installs, in the lock transaction, a statement trigger on
// every planned table that refuses writes naming the cutover, and commits:
// from then on the application can only write to the target.
func (c *cutover) refuseWrites(ctx context.Context) error {
	when := time.Now().UTC().Format(time.RFC3339)
	fn := `CREATE SCHEMA IF NOT EXISTS tenantmover;
CREATE OR REPLACE FUNCTION tenantmover.cutover_guard() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  RAISE EXCEPTION 'tenantmover: % was cut over to Citus (stream %, at %): write to the new database',
    TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1]
    USING HINT = 'to take writes here again: DROP TRIGGER tenantmover_cutover ON ' || quote_ident(TG_TABLE_SCHEMA) || '.' || quote_ident(TG_TABLE_NAME);
END
$f$`
	if _, err := c.lockTx.Exec(ctx, fn); err != nil {
		return fmt.Errorf("source: creating the write guard: %w", err)
	}
	args := phase.QuoteLiteral(c.cfg.Stream) + ", " + phase.QuoteLiteral(when)
	for _, t := range c.report.Guarded {
		stmt := fmt.Sprintf(`DROP TRIGGER IF EXISTS tenantmover_cutover ON %[1]s;
CREATE TRIGGER tenantmover_cutover BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %[1]s
  FOR EACH STATEMENT EXECUTE FUNCTION tenantmover.cutover_guard(%[2]s)`, t, args)
		if _, err := c.lockTx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("source: guarding %s: %w", t, err)
		}
	}
	if err := c.lockTx.Commit(ctx); err != nil {
		return fmt.Errorf("source: committing the write guard: %w", err)
	}
	c.lockTx = nil
	c.report.PauseSeconds = time.Since(c.locked).Seconds()
	c.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf("the source refuses writes now (pause %.2fs)", c.report.PauseSeconds)})
	return nil
}

// end stops the follower and drops the stream's slot and publication.
func (c *cutover) end(ctx context.Context) error {
	if err := c.store.MarkCutover(ctx, c.cfg.Stream); err != nil {
		return fmt.Errorf("target: recording the cutover: %w", err)
	}
	awaitRelease(ctx, c.src, c.stream.Slot)
	return endStream(ctx, c.src, c.stream)
}

// awaitRelease gives a running follower a few seconds to see its stop and
// release the slot before the slot is dropped from under it.
func awaitRelease(ctx context.Context, src *pgxpool.Pool, slot string) {
	for i := 0; i < 100; i++ {
		var active bool
		err := src.QueryRow(ctx, `SELECT coalesce((SELECT active FROM pg_replication_slots WHERE slot_name = $1), false)`, slot).Scan(&active)
		if err != nil || !active || waitCtx(ctx, 50*time.Millisecond) != nil {
			return
		}
	}
}
