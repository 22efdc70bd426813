// Package migrate runs a whole migration as one resumable run: it plans,
// then runs each phase in order, records each phase's end in the run's
// checkpoints on the target, and on a rerun skips the phases already done.
//
// # How it fits together
//
// A phase is a package satisfying phase.Phase (internal/phase): a name, a
// mode (Once, EveryRun, UntilStopped) and Run(ctx, env). The phases of a
// migration, in order (see phases):
//
//	backfill      backfill.New          source: add and fill the tenant column of nested tables
//	tenant-check  verify.NewSourceCheck source: every row has a tenant, foreign keys stay within it
//	schema        ddl.SchemaPhase       target: the Citus schema, without foreign keys
//	copy          pgcopy.New            source -> target: every table, chunk by chunk
//	foreign-keys  ddl.ForeignKeysPhase  target: the composite foreign keys
//	verify        verify.New            both: every tenant of every table (every run)
//
// A new phase is a package whose constructor returns a phase.Phase
// (phase.New wraps a Run function), plus one line in phases. Each phase
// gets a phase.Env: both connection strings, the plan as of the source's
// current schema (made again after a phase that changes it, Result.Replan),
// its checkpoint run ("<run>.<phase>"), whether it must start over, and the
// progress callback. It opens its own connections with the settings its
// work needs.
//
// The run itself is recorded on the target (checkpoints: one runs row, one
// phases row per phase). Its options are remembered: resuming with other
// ones is refused unless Config.Restart, which marks every phase to start
// over (a mark that survives a crash until the phase is done).
package migrate
