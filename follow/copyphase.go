package follow

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenantmover/tenantmover/checkpoints"
	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// NewCopy validates both configs and returns the copy phase of a followed
// migration: it sets the stream up (Preflight, publication, slot) and
// copies every table as of the slot's snapshot. Its name is the copy's.
func NewCopy(copyCfg pgcopy.Config, cfg Config) (phase.Phase, error) {
	copyCfg, err := pgcopy.NewConfig(copyCfg)
	if err != nil {
		return nil, err
	}
	if len(copyCfg.Tenants) > 0 || copyCfg.DryRun {
		return nil, errors.New("--follow streams every tenant's changes: it cannot be combined with --tenants or --dry-run")
	}
	if cfg, err = NewConfig(cfg); err != nil {
		return nil, err
	}
	return phase.New(pgcopy.Name, phase.Once, func(ctx context.Context, env *phase.Env) (phase.Result, error) {
		return copyWithSlot(ctx, env, copyCfg, cfg)
	}), nil
}

// setup is the stream's start on both sides.
type setup struct {
	pools
	env   *phase.Env
	name  string
	lanes int
	store *checkpoints.Store
	emit  *phase.Emitter
}

func copyWithSlot(ctx context.Context, env *phase.Env, copyCfg pgcopy.Config, cfg Config) (phase.Result, error) {
	s := &setup{env: env, name: cfg.stream(env), lanes: cfg.Lanes, emit: phase.NewEmitter(pgcopy.Name, env.Progress)}
	if err := s.open(ctx); err != nil {
		return phase.Result{}, err
	}
	defer s.close()
	unlock, err := s.store.Lock(ctx, "follow:"+s.name)
	if err != nil {
		return phase.Result{}, err
	}
	defer unlock()
	done, restart, err := s.state(ctx)
	if err != nil || done {
		return phase.Result{Note: "copied before; the stream follows from its slot"}, err
	}
	exp, err := s.start(ctx)
	if err != nil {
		return phase.Result{}, err
	}
	defer exp.close()
	copyCfg.Snapshot = exp.snapshot
	cenv := *env
	cenv.Restart = restart
	rep, err := pgcopy.Run(ctx, &cenv, copyCfg)
	if rep == nil {
		return phase.Result{}, err
	}
	note := fmt.Sprintf("%d chunks copied as of slot %s's snapshot (%s)", rep.ChunksCopied, exp.slot, exp.lsn)
	return phase.Result{Summary: rep.Summary, Note: note, Report: rep}, err
}

func (s *setup) open(ctx context.Context) error {
	if err := s.pools.open(ctx, s.env.Source, s.env.Target); err != nil {
		return err
	}
	var err error
	s.store, err = checkpoints.Open(ctx, s.dst)
	return err
}

// state says whether the stream's copy is done, and whether a new copy
// must start over: chunks copied as of any other snapshot than the new
// slot's (a copy interrupted, or one made without --follow) cannot be
// joined with the new slot's changes.
func (s *setup) state(ctx context.Context) (done, restart bool, err error) {
	st, err := s.store.Stream(ctx, s.name)
	if err != nil && !errors.Is(err, checkpoints.ErrNoStream) {
		return false, false, err
	}
	runs, err := s.store.Status(ctx, s.env.Run)
	if err != nil {
		return false, false, err
	}
	copied := len(runs) > 0 && runs[0].Status == checkpoints.Done
	if st != nil && copied && !s.env.Restart {
		return true, false, nil
	}
	if st != nil {
		s.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf(
			"the copy of stream %q did not finish: its snapshot ended with its connection, so it starts over from a new slot (the target tables are emptied first)", s.name)})
		if err := s.drop(ctx, st); err != nil {
			return false, false, err
		}
	}
	return false, s.env.Restart || len(runs) > 0, nil
}

// drop removes an earlier stream's slot and publication.
func (s *setup) drop(ctx context.Context, st *checkpoints.Stream) error {
	if err := dropSlot(ctx, s.src, st.Slot); err != nil {
		return err
	}
	return dropPublication(ctx, s.src, st.Publication)
}

// pair identifies the source database and the target database.
func (s *setup) pair(ctx context.Context) (string, error) {
	const q = `SELECT current_database() || '/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/' || coalesce(inet_server_port(), 0)`
	var a, b string
	if err := s.src.QueryRow(ctx, q).Scan(&a); err != nil {
		return "", fmt.Errorf("source: %w", err)
	}
	if err := s.dst.QueryRow(ctx, q).Scan(&b); err != nil {
		return "", fmt.Errorf("target: %w", err)
	}
	return a + " -> " + b, nil
}

// exportedSlot is the slot just created, with its snapshot.
type exportedSlot struct {
	*exported
	slot string
}

// start checks the source, then creates the publication and the slot and
// records them on the target.
func (s *setup) start(ctx context.Context) (*exportedSlot, error) {
	p := s.env.Plan
	notes, err := Preflight(ctx, s.src, p, true)
	if err != nil {
		return nil, err
	}
	for _, n := range notes {
		s.emit.Emit(phase.Event{Kind: phase.Note, Message: n})
	}
	pair, err := s.pair(ctx)
	if err != nil {
		return nil, err
	}
	slot, pub := objectNames(s.name, pair)
	if err := dropSlot(ctx, s.src, slot); err != nil { // left by a crash before it was recorded
		return nil, err
	}
	full, err := setFullIdentity(ctx, s.src, needsFullIdentity(p))
	if err != nil {
		return nil, err
	}
	if len(full) > 0 {
		s.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf(
			"set REPLICA IDENTITY FULL on %d tables whose key lacks the tenant column, so their deletes and tenant changes name the old row's tenant (the stream's end restores them)", len(full))})
	}
	if err := createPublication(ctx, s.src, pub, p.Included()); err != nil {
		return nil, err
	}
	exp, err := createSlot(ctx, s.env.Source, slot)
	if err != nil {
		return nil, err
	}
	if err := s.store.StartStream(ctx, s.name, slot, pub, exp.lsn.String(), full, s.lanes); err != nil {
		exp.close()
		return nil, err
	}
	s.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf("created slot %s (consistent point %s) and publication %s; copying as of its snapshot", slot, exp.lsn, pub)})
	return &exportedSlot{exported: exp, slot: slot}, nil
}
