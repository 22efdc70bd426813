package follow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// Report is what a follower did in one run.
type Report struct {
	phase.Summary
	Stream  string                  `json:"stream"`
	Slot    string                  `json:"slot"`
	Applied checkpoints.ChangeCount `json:"applied"`
	// Position is the source position applied through when it stopped.
	Position string `json:"position"`
	// Stopped says why it ended: "stop requested", "reached STOPAT",
	// "cut over before".
	Stopped string `json:"stopped,omitempty"`
}

// New validates cfg and returns the follower as a phase: it applies the
// stream's changes until its stop is requested (cutover) or ctx ends.
func New(cfg Config) (phase.Phase, error) {
	cfg, err := NewConfig(cfg)
	if err != nil {
		return nil, err
	}
	return phase.New(Name, phase.UntilStopped, func(ctx context.Context, env *phase.Env) (phase.Result, error) {
		rep, err := Run(ctx, env, cfg)
		if rep == nil {
			return phase.Result{}, err
		}
		note := fmt.Sprintf("applied %d inserts, %d updates, %d deletes in %d transactions", rep.Applied.Inserts, rep.Applied.Updates, rep.Applied.Deletes, rep.Applied.Transactions)
		if rep.Stopped != "" {
			note += "; " + rep.Stopped
		}
		return phase.Result{Summary: rep.Summary, Note: note, Report: rep}, err
	}), nil
}

// follower is one run of the follow phase.
type follower struct {
	cfg      Config
	env      *phase.Env
	name     string
	src, dst *pgxpool.Pool
	store    *checkpoints.Store
	stream   *checkpoints.Stream
	target   *schema.Catalog
	emit     *phase.Emitter
	report   *Report

	rels map[uint32]*table
	dist map[schema.Name]string // the target's hash-distributed tables: their distribution column
	// lanes are the open target transactions, laneAt the position each
	// lane committed; applied is the lowest of them.
	lanes   []*batch
	laneAt  []pglogrepl.LSN
	applied pglogrepl.LSN
	// The open batch: serial (everything in lane 0), the current
	// source transaction's changes held until its end (txbuf), and the end
	// of its last complete transaction.
	serial     bool
	txbuf      []*change
	txbufBytes int
	batchEnd   pglogrepl.LSN
	stopAt     pglogrepl.LSN
	// strictUntil: changes up to this position are written one by one in
	// source order (a reordered batch broke a constraint).
	strictUntil  pglogrepl.LSN
	skip         bool // the current source transaction was applied before
	inTx         bool
	txTime       time.Time
	txFinal      pglogrepl.LSN // commit position of the current source transaction
	batchStarted time.Time     // when the open batch's first transaction began
	lastStop     time.Time
	lastStatus   time.Time
	lastProgress time.Time
}

// streamEnded is why a follower stops whose stream cleanup forgot.
const streamEnded = "the stream was ended (tenantmover cleanup)"

// errRestream asks the loop to reconnect and stream again from the last
// committed position (after a batch it had to roll back).
var errRestream = errors.New("restream")

// Run applies the changes of the stream recorded under cfg.Stream (or
// env.Run) to env.Target until the stream's stop is requested, cfg.StopAt
// is reached, or ctx ends (returning its error: what was committed stays).
func Run(ctx context.Context, env *phase.Env, cfg Config) (*Report, error) {
	cfg, err := NewConfig(cfg)
	if err != nil {
		return nil, err
	}
	f := &follower{cfg: cfg, env: env, name: cfg.stream(env), emit: phase.NewEmitter(Name, env.Progress), rels: map[uint32]*table{}}
	defer f.close()
	if err := f.open(ctx); err != nil {
		if f.report != nil && errors.Is(err, checkpoints.ErrNoStream) {
			// Read a moment before cleanup forgot it.
			f.report.Stopped = streamEnded
			return f.report, nil
		}
		return nil, err
	}
	unlock, err := f.store.Lock(ctx, "follow:"+f.name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	started := time.Now()
	err = f.follow(ctx)
	f.report.Position = f.applied.String()
	f.report.Finish(started)
	return f.report, err
}

func (f *follower) open(ctx context.Context) error {
	var err error
	if f.src, err = db.Open(ctx, f.env.Source, db.ForProfile(db.ProfileCatalog)); err != nil {
		return err
	}
	opts := db.ForProfile(db.ProfileStreams)
	opts.MaxConns = MaxLanes + 2 // a lane's transaction each, and the store's reads
	opts.Settings = map[string]string{"citus.max_cached_conns_per_worker": "64"}
	if f.dst, err = db.Open(ctx, f.env.Target, opts); err != nil {
		return err
	}
	if f.store, err = checkpoints.Open(ctx, f.dst); err != nil {
		return err
	}
	if f.stream, err = f.store.Stream(ctx, f.name); err != nil {
		if errors.Is(err, checkpoints.ErrNoStream) {
			return fmt.Errorf("%w %q on the target: start it with copy --follow (or migrate --follow) first", errNoStream, f.name)
		}
		return err
	}
	f.report = &Report{Summary: phase.Summary{Phase: Name, Run: f.env.Run}, Stream: f.name, Slot: f.stream.Slot}
	if f.applied, err = pglogrepl.ParseLSN(f.stream.AppliedLSN); err != nil {
		return err
	}
	if f.cfg.StopAt != "" {
		if f.stopAt, err = pglogrepl.ParseLSN(f.cfg.StopAt); err != nil {
			return err
		}
	}
	// The lanes right after the stream, before the slower schema read: a
	// cleanup ending the stream in between would otherwise fail the start
	// ("has no lanes") instead of being found by the first streamOnce.
	if err := f.openLanes(ctx); err != nil {
		return err
	}
	if f.target, err = schema.Load(ctx, f.dst, nil); err != nil {
		return fmt.Errorf("reading the target schema: %w", err)
	}
	if f.dist, err = distributed(ctx, f.dst); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	return nil
}

// openLanes makes one batch per lane of the stream and reads their
// positions.
func (f *follower) openLanes(ctx context.Context) error {
	at, err := f.store.Lanes(ctx, f.name)
	if err != nil {
		return err
	}
	f.lanes = make([]*batch, len(at))
	for i := range f.lanes {
		f.lanes[i] = newBatch(f.dst, f.name, len(at) > 1)
	}
	f.rollbackLanes()
	return f.setLanes(at)
}

// readLanes reads the lanes' committed positions: the target is the
// truth (a commit whose answer was lost may have happened).
func (f *follower) readLanes(ctx context.Context) error {
	at, err := f.store.Lanes(ctx, f.name)
	if err != nil {
		return err
	}
	return f.setLanes(at)
}

// setLanes takes the lanes' committed positions, by lane.
func (f *follower) setLanes(at []string) error {
	if len(at) != len(f.lanes) {
		return fmt.Errorf("stream %q: its lanes changed from %d to %d while following", f.name, len(f.lanes), len(at))
	}
	f.laneAt = make([]pglogrepl.LSN, len(at))
	for i, s := range at {
		var err error
		if f.laneAt[i], err = pglogrepl.ParseLSN(s); err != nil {
			return err
		}
	}
	f.applied = slices.Min(f.laneAt)
	return nil
}

func (f *follower) close() {
	f.rollbackLanes()
	if f.src != nil {
		f.src.Close()
	}
	if f.dst != nil {
		f.dst.Close()
	}
}

// follow streams until stopped, reconnecting after a rolled-back batch and
// after the source restarts.
func (f *follower) follow(ctx context.Context) error {
	if f.stream.CutoverAt != nil {
		f.report.Stopped = "cut over before"
		return nil
	}
	busy := 0
	for {
		err := f.streamOnce(ctx)
		if err != nil && ctx.Err() == nil && f.endedMeanwhile(ctx) {
			return nil // cleanup or cutover dropped the slot from under us
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errRestream):
			continue
		case slotBusy(err):
			// The walsender of the connection just closed (a restream, a
			// follower killed a moment ago) ends asynchronously.
			if werr := waitCtx(ctx, 100*time.Millisecond); werr != nil {
				return werr
			}
			if busy++; busy < 100 {
				continue
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case isConnLost(err):
			f.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf("connection lost (%s): reconnecting from %s", db.RedactError(err), f.applied)})
			if werr := waitCtx(ctx, time.Second); werr != nil {
				return werr
			}
			continue
		}
		return err
	}
}

// endedMeanwhile says whether the stream was stopped or forgotten while
// the follower worked (its slot may be gone then: not a failure).
func (f *follower) endedMeanwhile(ctx context.Context) bool {
	stop, err := f.store.StopRequested(ctx, f.name)
	if err != nil || !stop {
		return false
	}
	if f.report.Stopped == "" {
		f.report.Stopped = "stop requested"
	}
	return true
}

// streamOnce opens a replication connection and applies changes from the
// last committed position.
func (f *follower) streamOnce(ctx context.Context) error {
	f.rollbackLanes()
	f.inTx, f.skip = false, false
	// The target is the truth: a commit whose answer was lost may have
	// happened.
	st, err := f.store.Stream(ctx, f.name)
	if errors.Is(err, checkpoints.ErrNoStream) {
		f.report.Stopped = streamEnded
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.readLanes(ctx); err != nil {
		return err
	}
	if st.CutoverAt != nil {
		f.report.Stopped = "cut over"
		return nil
	}
	conn, err := replConnect(ctx, f.env.Source)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	args := []string{"proto_version '1'", fmt.Sprintf("publication_names '%s'", f.stream.Publication), "messages 'true'"}
	if err := pglogrepl.StartReplication(ctx, conn, f.stream.Slot, f.applied, pglogrepl.StartReplicationOptions{PluginArgs: args}); err != nil {
		return fmt.Errorf("source: starting replication from slot %s: %w", f.stream.Slot, err)
	}
	f.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf("following slot %s from %s", f.stream.Slot, f.applied)})
	for {
		if done, err := f.stopped(ctx); done || err != nil {
			return err
		}
		if err := f.status(ctx, conn); err != nil {
			return err
		}
		msg, err := f.receive(ctx, conn)
		if err != nil {
			return err
		}
		if msg == nil { // nothing arrived in time: commit what is open
			if err := f.commitIfIdle(ctx); err != nil {
				return err
			}
			continue
		}
		if err := f.handle(ctx, conn, msg); err != nil {
			return err
		}
	}
}

// receive waits for the next message until the batch's time is up.
func (f *follower) receive(ctx context.Context, conn *pgconn.PgConn) (*pgproto3.CopyData, error) {
	wait := f.cfg.BatchTime
	if f.idle() {
		wait = time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, wait)
	raw, err := conn.ReceiveMessage(rctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil && pgconn.Timeout(err) {
			return nil, nil
		}
		return nil, err
	}
	switch m := raw.(type) {
	case *pgproto3.CopyData:
		return m, nil
	case *pgproto3.ErrorResponse:
		return nil, fmt.Errorf("source: replication: %s", m.Message)
	}
	return nil, fmt.Errorf("source: unexpected replication message %T", raw)
}

// handle dispatches one message of the replication stream.
func (f *follower) handle(ctx context.Context, conn *pgconn.PgConn, msg *pgproto3.CopyData) error {
	switch msg.Data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(msg.Data[1:])
		if err != nil {
			return err
		}
		if ka.ReplyRequested {
			f.lastStatus = time.Time{}
		}
		return nil
	case pglogrepl.XLogDataByteID:
		xld, err := pglogrepl.ParseXLogData(msg.Data[1:])
		if err != nil {
			return err
		}
		m, err := pglogrepl.Parse(xld.WALData)
		if err != nil {
			return fmt.Errorf("source: decoding a change: %w", err)
		}
		return f.message(ctx, m, xld.WALStart)
	}
	return nil
}

// commitIfIdle commits a batch whose time is up between transactions.
func (f *follower) commitIfIdle(ctx context.Context) error {
	if f.inTx || f.batchEnd == 0 {
		return nil
	}
	return f.commitLanes(ctx, f.batchEnd)
}

// status tells the source the committed position (so it can recycle WAL)
// and reports progress, every StatusInterval or at once after a commit.
func (f *follower) status(ctx context.Context, conn *pgconn.PgConn) error {
	if !f.lastStatus.IsZero() && time.Since(f.lastStatus) < f.cfg.StatusInterval {
		return nil
	}
	err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: f.applied})
	if err != nil {
		return fmt.Errorf("source: sending the applied position: %w", err)
	}
	f.lastStatus = time.Now()
	if time.Since(f.lastProgress) >= f.cfg.StatusInterval {
		f.lastProgress = f.lastStatus
		c := f.report.Applied
		f.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf("applied through %s: %d inserts, %d updates, %d deletes in %d transactions",
			f.applied, c.Inserts, c.Updates, c.Deletes, c.Transactions)})
	}
	return nil
}

// stopped says whether the follower should end: its stop was requested
// (read at most once a second) or it reached StopAt. It commits what is
// open first, between transactions.
func (f *follower) stopped(ctx context.Context) (bool, error) {
	if f.stopAt != 0 && f.applied >= f.stopAt {
		f.report.Stopped = "reached " + f.stopAt.String()
		return true, nil
	}
	if time.Since(f.lastStop) < time.Second {
		return false, nil
	}
	f.lastStop = time.Now()
	stop, err := f.store.StopRequested(ctx, f.name)
	if err != nil || !stop {
		return false, err
	}
	if err := f.commitIfIdle(ctx); err != nil {
		return false, err
	}
	f.report.Stopped = "stop requested"
	return true, nil
}

// distributed maps the target's hash-distributed tables to their
// distribution column; nil when the target is not Citus.
func distributed(ctx context.Context, dst *pgxpool.Pool) (map[schema.Name]string, error) {
	if v, err := citus.Detect(ctx, dst); err != nil || v == "" {
		return nil, err
	}
	ts, err := citus.Tables(ctx, dst)
	if err != nil {
		return nil, err
	}
	out := map[schema.Name]string{}
	for _, t := range ts {
		if t.IsHashDistributed() {
			out[t.Name] = t.DistColumn
		}
	}
	return out, nil
}

// slotBusy says the slot is still held by another walsender.
func slotBusy(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgerrcode.ObjectInUse
}

// isConnLost says err may pass by itself: a lost connection (the source
// or the target restarting), a deadlock, a serialization failure.
func isConnLost(err error) bool { return db.IsRetryable(err) }

// waitCtx blocks for d or until ctx ends.
func waitCtx(ctx context.Context, d time.Duration) error { return phase.Sleep(ctx, d) }

// pools are a source and a target pool for catalog-sized work (setup,
// cutover).
type pools struct{ src, dst *pgxpool.Pool }

func (p *pools) open(ctx context.Context, source, target string) error {
	var err error
	if p.src, err = db.Open(ctx, source, db.ForProfile(db.ProfileCatalog)); err != nil {
		return err
	}
	p.dst, err = db.Open(ctx, target, db.ForProfile(db.ProfileCatalog))
	return err
}

func (p *pools) close() {
	if p.src != nil {
		p.src.Close()
	}
	if p.dst != nil {
		p.dst.Close()
	}
}
