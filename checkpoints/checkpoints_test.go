package checkpoints_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
)

var env pgtest.Env

func TestMain(m *testing.M) { env.Main(m, pgtest.WithCitus()) }

// open makes a database and opens the checkpoint store in it.
func open(t *testing.T) (*pgxpool.Pool, *checkpoints.Store) {
	t.Helper()
	pool := pgtest.Pool(t, env.NewDB(t))
	store, err := checkpoints.Open(context.Background(), pool)
	require.NoError(t, err)
	return pool, store
}

type opts struct {
	Workers int    `json:"workers"`
	Tenant  string `json:"tenant"`
}

func TestResumeRefusesOtherOptionsUnlessRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, store := open(t)
	run, err := store.Begin(ctx, "night", "copy", opts{2, "store"}, false)
	require.NoError(t, err)
	require.False(t, run.Resumed)
	_, err = run.PlanUnits(ctx, "copy", "public.t", checkpoints.TablePlan{TotalRows: 10}, []checkpoints.Unit{{ID: 0}})
	require.NoError(t, err)

	again, err := store.Begin(ctx, "night", "copy", opts{2, "store"}, false)
	require.NoError(t, err)
	require.True(t, again.Resumed)

	_, err = store.Begin(ctx, "night", "copy", opts{4, "store"}, false)
	var changed *checkpoints.ErrOptionsChanged
	require.ErrorAs(t, err, &changed)
	require.Contains(t, err.Error(), "--restart")

	restarted, err := store.Begin(ctx, "night", "copy", opts{4, "store"}, true)
	require.NoError(t, err)
	require.False(t, restarted.Resumed)
	units, err := restarted.Units(ctx, "copy", "public.t")
	require.NoError(t, err)
	require.Empty(t, units, "restart must forget the old run's units")
}

// A unit's checkpoint commits or rolls back with the work of its transaction.
func TestCompleteIsAtomicWithWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, store := open(t)
	pgtest.Exec(t, pool, "CREATE TABLE work (id int)")
	run, err := store.Begin(ctx, "r", "copy", opts{}, false)
	require.NoError(t, err)
	units, err := run.PlanUnits(ctx, "copy", "work", checkpoints.TablePlan{TotalRows: 2},
		[]checkpoints.Unit{{ID: 0, Range: phase.Range{Hi: []string{"10"}}}, {ID: 1, Range: phase.Range{Lo: []string{"10"}}}})
	require.NoError(t, err)
	require.Len(t, units, 2)
	require.Equal(t, []string{"10"}, units[0].Hi)
	require.Nil(t, units[0].Lo)

	// Planning again keeps the first plan.
	units, err = run.PlanUnits(ctx, "copy", "work", checkpoints.TablePlan{TotalRows: 99}, []checkpoints.Unit{{ID: 0}})
	require.NoError(t, err)
	require.Len(t, units, 2)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	pgtest.Exec(t, tx, "INSERT INTO work VALUES (1)")
	require.NoError(t, run.Complete(ctx, tx, "copy", "work", 0, 1, 8))
	require.NoError(t, tx.Rollback(ctx))

	units, err = run.Units(ctx, "copy", "work")
	require.NoError(t, err)
	require.Equal(t, checkpoints.Pending, units[0].State)

	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO work VALUES (1)"); err != nil {
			return err
		}
		return run.Complete(ctx, tx, "copy", "work", 0, 1, 8)
	}))
	units, err = run.Units(ctx, "copy", "work")
	require.NoError(t, err)
	require.Equal(t, checkpoints.Done, units[0].State)
	require.EqualValues(t, 1, units[0].Rows)

	// Completing a done unit again is refused: it would be a duplicate.
	require.Error(t, run.Complete(ctx, pool, "copy", "work", 0, 1, 8))

	require.NoError(t, run.Advance(ctx, pool, "copy", "work", 1, []string{"15"}, 5))
	status, err := store.Status(ctx, "r")
	require.NoError(t, err)
	require.Len(t, status, 1)
	require.Len(t, status[0].Tables, 1)
	require.EqualValues(t, 6, status[0].Tables[0].Rows)
	require.Equal(t, 1, status[0].Tables[0].UnitsDone)
	require.Equal(t, 2, status[0].Tables[0].Units)
	require.Equal(t, checkpoints.Pending, status[0].Tables[0].State)

	require.NoError(t, run.Complete(ctx, pool, "copy", "work", 1, 0, 0))
	status, err = store.Status(ctx, "r")
	require.NoError(t, err)
	require.Equal(t, checkpoints.Done, status[0].Tables[0].State, "a table whose units are all done is done")
}

func TestLockIsExclusive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, store := open(t)
	unlock, err := store.Lock(ctx, "r")
	require.NoError(t, err)
	_, err = store.Lock(ctx, "r")
	var locked *checkpoints.ErrRunLocked
	require.ErrorAs(t, err, &locked)
	require.NotZero(t, locked.PID, "the error names the holding backend")
	require.Contains(t, err.Error(), "pg_terminate_backend")
	other, err := store.Lock(ctx, "other")
	require.NoError(t, err)
	other()
	unlock()
	unlock2, err := store.Lock(ctx, "r")
	require.NoError(t, err)
	unlock2()
}

// Advisory locks are per database, but pg_locks shows the whole server:
// the error must name the holder in this database, not a run of the same
// name in another one (a source and a target on one server).
func TestLockNamesTheHolderInThisDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, elsewhere := open(t)
	unlockElsewhere, err := elsewhere.Lock(ctx, "r")
	require.NoError(t, err)
	defer unlockElsewhere()
	pool, store := open(t)
	unlock, err := store.Lock(ctx, "r")
	require.NoError(t, err)
	defer unlock()
	holder := pgtest.Scalar[int32](t, pool, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)

	_, err = store.Lock(ctx, "r")
	var locked *checkpoints.ErrRunLocked
	require.ErrorAs(t, err, &locked)
	require.EqualValues(t, holder, locked.PID)
}

func TestStatusWithoutSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	runs, err := checkpoints.Attach(pgtest.Pool(t, env.NewDB(t))).Status(ctx, "")
	require.NoError(t, err)
	require.Empty(t, runs)
}

func TestRecordEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, store := open(t)
	run, err := store.Begin(ctx, "r", "copy", opts{}, false)
	require.NoError(t, err)
	status := func() string {
		return pgtest.Scalar[string](t, pool, `SELECT status FROM tenantmover.runs WHERE name = 'r'`)
	}
	run.RecordEnd(ctx, errors.New("boom"))
	require.Equal(t, "failed", status())
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	run.RecordEnd(cancelled, errors.New("boom"))
	require.Equal(t, "interrupted", status(), "a cancelled run is recorded although its context is done")
	run.RecordEnd(ctx, fmt.Errorf("stopped: %w", context.Canceled))
	require.Equal(t, "interrupted", status())
	run.RecordEnd(ctx, nil)
	require.Equal(t, "done", status())
}

// A unit is a key range or a tenant, never a tenant stored as a bound; a
// table's ceiling is kept with its plan; table info merges.
func TestUnitsOfTenantsAndCeilings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, store := open(t)
	run, err := store.Begin(ctx, "r", "copy", opts{}, false)
	require.NoError(t, err)
	units, err := run.PlanUnits(ctx, "copy", "public.product", checkpoints.TablePlan{},
		[]checkpoints.Unit{{ID: 0, Tenant: "42"}, {ID: 1, Tenant: "it's"}})
	require.NoError(t, err)
	require.Equal(t, "42", units[0].Tenant)
	require.True(t, units[0].Range.All(), "a tenant unit has no range")
	require.Equal(t, "tenant it's", units[1].Describe())

	units, err = run.PlanUnits(ctx, "backfill", "public.purchase", checkpoints.TablePlan{TotalRows: 7, Ceiling: []string{"7", "b"}},
		[]checkpoints.Unit{{ID: 0, Range: phase.Range{Hi: []string{"3", "a"}}}, {ID: 1, Range: phase.Range{Lo: []string{"3", "a"}}, Cursor: []string{"3", "a"}}})
	require.NoError(t, err)
	require.Equal(t, "[(3, a), +inf)", units[1].Describe())
	require.Equal(t, []string{"3", "a"}, units[1].Cursor)
	require.Empty(t, units[0].Tenant)

	require.NoError(t, run.SetTableState(ctx, nil, "backfill", "public.purchase", "filling", map[string]int{"orphans": 2}))
	require.NoError(t, run.SetTableState(ctx, nil, "backfill", "public.purchase", "done", map[string]string{"index": "i"}))
	states, err := run.Tables(ctx, "backfill")
	require.NoError(t, err)
	require.Len(t, states, 1)
	require.Equal(t, []string{"7", "b"}, states[0].Ceiling)
	require.EqualValues(t, 7, states[0].TotalRows)
	require.JSONEq(t, `{"orphans": 2, "index": "i"}`, string(states[0].Info), "info merges")
}

// A run's phases: a requested restart survives until the phase is done;
// the run's phase is the one running; status lists them.
func TestPhaseRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, store := open(t)
	run, err := store.Begin(ctx, "m", "migrate", opts{}, false)
	require.NoError(t, err)
	require.NoError(t, run.RequestRestart(ctx, []string{"backfill", "copy"}))
	require.NoError(t, run.StartPhase(ctx, "backfill"))
	require.Equal(t, "backfill", pgtest.Scalar[string](t, pool, `SELECT phase FROM tenantmover.runs WHERE name = 'm'`))
	require.NoError(t, run.EndPhase(ctx, "backfill", checkpoints.Interrupted, phase.Summary{Rows: 5}, ""))
	recs, err := run.Phases(ctx)
	require.NoError(t, err)
	require.True(t, recs["backfill"].Restart, "an interrupted phase still has its restart to do")
	require.Equal(t, checkpoints.Interrupted, recs["backfill"].State)

	require.NoError(t, run.StartPhase(ctx, "backfill"))
	require.NoError(t, run.EndPhase(ctx, "backfill", checkpoints.Done, phase.Summary{Rows: 9, Seconds: 1.5}, "kept triggers"))
	recs, err = run.Phases(ctx)
	require.NoError(t, err)
	require.False(t, recs["backfill"].Restart)
	require.True(t, recs["copy"].Restart)
	require.Equal(t, checkpoints.Pending, recs["copy"].State)
	require.EqualValues(t, 9, recs["backfill"].Rows)
	require.Equal(t, "kept triggers", recs["backfill"].Note)

	status, err := store.Status(ctx, "m")
	require.NoError(t, err)
	require.Len(t, status[0].Phases, 2)
	require.Equal(t, "backfill", status[0].Phases[0].Phase, "phases in the order they ran")
	require.Empty(t, status[0].Tables, "phases are not tables")
}

func TestEndState(t *testing.T) {
	ctx := context.Background()
	require.Equal(t, checkpoints.Done, checkpoints.EndState(ctx, nil))
	require.Equal(t, checkpoints.Failed, checkpoints.EndState(ctx, errors.New("x")))
	require.Equal(t, checkpoints.Interrupted, checkpoints.EndState(ctx, fmt.Errorf("w: %w", context.Canceled)))
}

// A store of the first layout (no tenant units, ceilings or phases) is
// brought up to date by Open, keeping its runs.
func TestOpenUpgradesAnOlderLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, env.NewDB(t))
	pgtest.Exec(t, pool, `CREATE SCHEMA tenantmover;
		CREATE TABLE tenantmover.runs (name text PRIMARY KEY, command text NOT NULL, options jsonb NOT NULL, phase text NOT NULL DEFAULT '',
			status text NOT NULL DEFAULT 'running', started_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz);
		CREATE TABLE tenantmover.units (run text NOT NULL REFERENCES tenantmover.runs (name) ON DELETE CASCADE, phase text NOT NULL, table_name text NOT NULL,
			unit int NOT NULL, lo text[], hi text[], cursor text[], state text NOT NULL DEFAULT 'pending', rows bigint NOT NULL DEFAULT 0,
			bytes bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, phase, table_name, unit));
		CREATE TABLE tenantmover.tables (run text NOT NULL REFERENCES tenantmover.runs (name) ON DELETE CASCADE, phase text NOT NULL, table_name text NOT NULL,
			state text NOT NULL DEFAULT 'pending', total_rows bigint NOT NULL DEFAULT 0, info jsonb NOT NULL DEFAULT '{}', updated_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (run, phase, table_name));
		INSERT INTO tenantmover.runs (name, command, options) VALUES ('old', 'copy', '{}')`)
	store, err := checkpoints.Open(ctx, pool)
	require.NoError(t, err)
	run, err := store.Begin(ctx, "old", "copy", struct{}{}, false)
	require.NoError(t, err)
	require.True(t, run.Resumed)
	_, err = run.PlanUnits(ctx, "copy", "t", checkpoints.TablePlan{Ceiling: []string{"1"}}, []checkpoints.Unit{{ID: 0, Tenant: "1"}})
	require.NoError(t, err)
	require.NoError(t, run.StartPhase(ctx, "copy"))
	require.Equal(t, "tenantmover checkpoints, layout 7", pgtest.Scalar[string](t, pool, `SELECT obj_description('tenantmover'::regnamespace, 'pg_namespace')`))
}
