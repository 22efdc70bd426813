// Package phase is the contract every step of a migration implements, and
// what the phases share so that each is written once: key ranges with one
// convention, the scheduler that runs units under a concurrency limit and
// table dependencies, the retry policy, the progress event, and the summary
// every phase's report opens with.
//
// A phase is a package (backfill, copy, verify, ...) with a type satisfying
// Phase. The orchestrator (package migrate) runs phases in order, records
// each one's end in the run's checkpoints and skips, on a rerun, the Once
// phases already done; a command of its own (tenantmover backfill) runs the
// same package function the phase calls, with the same defaults.
package phase

import (
	"context"
	"time"

	"github.com/tenantmover/tenantmover/internal/plan"
)

// Mode says how a phase behaves across the reruns of a migration.
type Mode int

const (
	// Once phases change a database. They keep checkpoints of their own and
	// resume inside themselves; once recorded done, a rerun skips them.
	Once Mode = iota
	// EveryRun phases only read (verify): a rerun runs them again, also
	// after the migration finished.
	EveryRun
	// UntilStopped phases never finish on their own (follow): they work
	// until their stop is requested (Run returns nil) or ctx ends.
	UntilStopped
)

func (m Mode) String() string {
	switch m {
	case EveryRun:
		return "every run"
	case UntilStopped:
		return "until stopped"
	}
	return "once"
}

// Phase is one step of a migration.
type Phase interface {
	// Name is the phase's name in reports, progress and checkpoints.
	Name() string
	// Mode says whether a rerun skips, repeats or continues the phase.
	Mode() Mode
	// Run does the phase's work and reports it. It returns ctx's error
	// when interrupted; what it committed stays committed.
	Run(ctx context.Context, env *Env) (Result, error)
}

// Env is what a phase works with. Each phase opens its own connections from
// the URLs, with the runtime settings its work needs.
type Env struct {
	// Source and Target are libpq connection strings; "" when the command
	// running the phase has none (backfill has no target).
	Source, Target string
	// Plan is the tenant plan as of the source's current schema.
	Plan *plan.Plan
	// Run names the phase's checkpoints, in the database the phase writes;
	// the phase run again under the same name resumes.
	Run string
	// Restart forgets Run's checkpoints and starts the phase over.
	Restart bool
	// Progress receives the phase's events, one at a time; nil discards
	// them.
	Progress func(Event)
	// Window bounds the phase in time and rate; nil: none. The caller
	// runs the phase in Window.Context and passes its error through
	// Window.Explain.
	Window *Window
}

// Summary opens every phase's report: what it did and how fast. Phases
// embed it in their reports, so every report has the same header.
type Summary struct {
	Phase          string  `json:"phase"`
	Run            string  `json:"run,omitempty"`
	Seconds        float64 `json:"seconds"`
	Rows           int64   `json:"rows"`
	Bytes          int64   `json:"bytes,omitempty"`
	RowsPerSecond  float64 `json:"rows_per_second,omitempty"`
	BytesPerSecond float64 `json:"bytes_per_second,omitempty"`
}

// Finish sets Seconds from started and the rates from Rows and Bytes.
func (s *Summary) Finish(started time.Time) {
	s.Seconds = time.Since(started).Seconds()
	if s.Seconds > 0 {
		s.RowsPerSecond = float64(s.Rows) / s.Seconds
		s.BytesPerSecond = float64(s.Bytes) / s.Seconds
	}
}

// Result is what a phase returns to the orchestrator.
type Result struct {
	Summary
	// Note is one line for the migration's report.
	Note string
	// Replan says the phase changed the source's schema (backfill added
	// tenant columns): later phases need a plan made afresh.
	Replan bool
	// Report is the phase's own report, JSON-marshalable.
	Report any
}

// New makes a Phase from its name, mode and work: most phases are a
// package's Run function with a validated config.
func New(name string, mode Mode, run func(ctx context.Context, env *Env) (Result, error)) Phase {
	return &funcPhase{name: name, mode: mode, run: run}
}

// Of makes a Phase of a package's Run function: check validates cfg once,
// when the phase is made (a package's NewConfig), and result turns what
// each run reports into the phase's Result and error. A run that returns no
// report, because it could not start, returns its error with an empty
// Result and result is not called.
func Of[C, R any](name string, mode Mode, cfg C, check func(C) (C, error),
	run func(context.Context, *Env, C) (*R, error), result func(*R, error) (Result, error)) (Phase, error) {
	cfg, err := check(cfg)
	if err != nil {
		return nil, err
	}
	return New(name, mode, func(ctx context.Context, env *Env) (Result, error) {
		rep, err := run(ctx, env, cfg)
		if rep == nil {
			return Result{}, err
		}
		return result(rep, err)
	}), nil
}

type funcPhase struct {
	name string
	mode Mode
	run  func(ctx context.Context, env *Env) (Result, error)
}

func (p *funcPhase) Name() string { return p.name }
func (p *funcPhase) Mode() Mode   { return p.mode }
func (p *funcPhase) Run(ctx context.Context, env *Env) (Result, error) {
	return p.run(ctx, env)
}
