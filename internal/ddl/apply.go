package ddl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// BlockingError refuses to apply a plan with blocking problems.
type BlockingError struct {
	Problems map[schema.Name][]plan.Problem
}

func (e *BlockingError) Error() string {
	var names []string
	for n := range e.Problems {
		names = append(names, n.String())
	}
	sort.Strings(names)
	return fmt.Sprintf("the plan has blocking problems on %s: fix them first (tenantmover plan lists each with its remedy)", strings.Join(names, ", "))
}

// TargetNotEmptyError refuses to touch planned tables that already hold
// rows on the target.
type TargetNotEmptyError struct{ Tables []schema.Name }

func (e *TargetNotEmptyError) Error() string {
	return fmt.Sprintf("target tables already hold rows: %s; tenantmover never changes tables with data (use an empty target, or drop them yourself)", joinNames(e.Tables))
}

// TargetMismatchError says a planned table exists on the target with
// another definition.
type TargetMismatchError struct {
	Table   schema.Name
	Reason  string
	HasRows bool
}

func (e *TargetMismatchError) Error() string {
	remedy := "drop it on the target (it is empty) and rerun"
	if e.HasRows {
		remedy = "fix or drop it on the target (it holds rows) and rerun"
	}
	return fmt.Sprintf("target table %s exists but differs from the plan: %s; %s", e.Table, e.Reason, remedy)
}

// Target describes the database a plan is applied to.
type Target struct {
	// Citus is the Citus extension version, "" on plain PostgreSQL.
	Citus string
	// Workers is the number of active Citus worker nodes.
	Workers int
}

// Inspect reads what kind of database the target is. On a Citus
// coordinator without active workers it returns the no_workers problem:
// Citus would refuse every table ("replication_factor (1) exceeds number
// of worker nodes (0)").
func Inspect(ctx context.Context, pool *pgxpool.Pool) (Target, []plan.Problem, error) {
	var t Target
	var err error
	if t.Citus, err = citus.Detect(ctx, pool); err != nil || t.Citus == "" {
		return t, nil, err
	}
	if t.Workers, err = citus.ActiveWorkers(ctx, pool); err != nil {
		return t, nil, fmt.Errorf("target: %w", err)
	}
	if t.Workers == 0 {
		return t, []plan.Problem{plan.NoWorkers()}, nil
	}
	return t, nil, nil
}

// ApplyOption changes what Apply does.
type ApplyOption func(*applyConfig)

type applyConfig struct {
	progress func(Step)
	skipFKs  bool
	// skipWriters leaves out what acts on rows written later: triggers,
	// row-level security and policies.
	skipWriters bool
	allowRows   bool
}

// AllowingRows lets Apply work on a target whose planned tables already
// hold rows: for a restarted copy, which empties them before it copies.
// Existing tables must still match the plan.
func AllowingRows() ApplyOption { return func(c *applyConfig) { c.allowRows = true } }

// WithProgress calls f before each statement Apply runs.
func WithProgress(f func(Step)) ApplyOption { return func(c *applyConfig) { c.progress = f } }

// WithoutForeignKeys leaves out what goes in after the data, for loading
// data first and adding it afterwards with ApplyForeignKeys: the foreign
// keys (faster, and the only way for NOT NULL foreign-key cycles), the
// materialized views' refresh (they are created empty), triggers (they
// would fire for the copied rows) and row-level security with its policies
// (forced, it would filter the copy's own writes).
func WithoutForeignKeys() ApplyOption { return func(c *applyConfig) { c.skipFKs = true } }

// WithoutTriggers leaves out triggers, row-level security and policies
// (and their comments), which act on every row written: for a target a
// follower still writes to (they would fire for, or filter, the source's
// replayed changes). The cutover adds them while writes are paused.
func WithoutTriggers() ApplyOption { return func(c *applyConfig) { c.skipWriters = true } }

// Apply creates the plan's target schema, in one transaction. On Citus it
// distributes tables; on plain PostgreSQL (a plain target for tests and
// demos) it skips the Citus calls but still creates tenant columns and
// composite keys. It refuses a plan with blocking problems, a Citus target
// without workers, and planned tables that already hold rows. Tables that
// exist, empty and matching, are left as they are, as are distributions
// and foreign keys already in place, so rerunning Apply is harmless.
func Apply(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan, opts ...ApplyOption) error {
	var cfg applyConfig
	for _, o := range opts {
		o(&cfg)
	}
	if b := p.Blocking(); len(b) > 0 {
		return &BlockingError{Problems: b}
	}
	if !p.TargetChecked() {
		if err := CheckObjects(ctx, pool, p); err != nil {
			return err
		}
		if b := p.Blocking(); len(b) > 0 {
			return &BlockingError{Problems: b}
		}
	}
	target, state, err := inspectTarget(ctx, pool, p)
	if err != nil {
		return err
	}
	if !cfg.allowRows {
		if err := state.checkEmpty(p); err != nil {
			return err
		}
	}
	if err := state.check(p); err != nil {
		return err
	}
	var steps []Step
	for _, s := range state.pending(Steps(p), target, cfg.skipFKs) {
		if !(cfg.skipWriters && s.actsOnWrites()) {
			steps = append(steps, s)
		}
	}
	return run(ctx, pool, steps, target, cfg.progress)
}

// CheckObjects reads what the plan's schema objects need of the target
// (its roles, the extensions it can install) and gives it to the plan
// (plan.SetTarget): grants and policies to roles the target lacks are then
// reported instead of created, and an extension it cannot install blocks.
// Apply calls it when the plan has not been checked against a target yet.
func CheckObjects(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan) error {
	t := plan.TargetObjects{Roles: map[string]bool{}, Extensions: map[string]bool{}}
	for _, q := range []struct {
		sql  string
		into map[string]bool
	}{
		{`SELECT rolname FROM pg_roles`, t.Roles},
		{`SELECT name FROM pg_available_extensions`, t.Extensions},
	} {
		err := db.EachRow(ctx, pool, q.sql, nil, func(row pgx.CollectableRow) error {
			var n string
			if err := row.Scan(&n); err != nil {
				return err
			}
			q.into[n] = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading the target's roles and extensions: %w", err)
		}
	}
	p.SetTarget(t)
	return nil
}

// CheckTarget reports, without writing anything, what would make Apply
// refuse the target: a Citus target without workers, or an existing table
// that differs from the plan. Rows already in the target's tables are not
// a refusal here (a resumed migration has them). migrate calls it before it
// changes the source, so a target that cannot take the plan is found
// before hours of backfill, not after.
func CheckTarget(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan) error {
	_, state, err := inspectTarget(ctx, pool, p)
	if err != nil {
		return err
	}
	return state.check(p)
}

// inspectTarget reads what Apply needs to know about the target.
func inspectTarget(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan) (Target, *targetState, error) {
	target, problems, err := Inspect(ctx, pool)
	if err != nil {
		return target, nil, err
	}
	if len(problems) > 0 {
		return target, nil, &BlockingError{Problems: map[schema.Name][]plan.Problem{p.Root.Name(): problems}}
	}
	state, err := readTarget(ctx, pool, p, target)
	return target, state, err
}

// ApplyForeignKeys adds what goes in after the data and the target lacks
// (after Apply WithoutForeignKeys and a data load): the foreign keys, the
// materialized views' refresh, triggers, row-level security and policies.
func ApplyForeignKeys(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan, opts ...ApplyOption) error {
	after, err := PrepareAfterData(ctx, pool, p, opts...)
	if err != nil {
		return err
	}
	return after.Run(ctx, pool)
}

// AfterData is what the target lacks of what goes in after the data, read
// from its catalog ahead of the moment it runs: the cutover reads it
// before it blocks the source's writes, so the pause only runs the
// statements.
type AfterData struct {
	steps    []Step
	target   Target
	progress func(Step)
}

// PrepareAfterData reads the target and lists the after-data steps it
// lacks (WithoutTriggers leaves out triggers, row-level security and
// policies).
func PrepareAfterData(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan, opts ...ApplyOption) (*AfterData, error) {
	var cfg applyConfig
	for _, o := range opts {
		o(&cfg)
	}
	target, _, err := Inspect(ctx, pool)
	if err != nil {
		return nil, err
	}
	state, err := readTarget(ctx, pool, p, target)
	if err != nil {
		return nil, err
	}
	a := &AfterData{target: target, progress: cfg.progress}
	for _, s := range state.pending(Steps(p), target, false) {
		if s.AfterData() && !(cfg.skipWriters && s.actsOnWrites()) {
			a.steps = append(a.steps, s)
		}
	}
	return a, nil
}

// Steps are the statements Run runs, in order.
func (a *AfterData) Steps() []Step { return a.steps }

// Run runs the steps in one transaction.
func (a *AfterData) Run(ctx context.Context, pool *pgxpool.Pool) error {
	return run(ctx, pool, a.steps, a.target, a.progress)
}

// ActingOnWrites counts the steps WithoutTriggers would leave out: the
// triggers, row-level security and policies (and their comments).
func (a *AfterData) ActingOnWrites() int {
	n := 0
	for _, s := range a.steps {
		if s.actsOnWrites() {
			n++
		}
	}
	return n
}

// run executes the steps in one transaction. Sequential shard modification
// lets Citus distribute tables and add foreign keys between them inside one
// transaction.
func run(ctx context.Context, pool *pgxpool.Pool, steps []Step, target Target, progress func(Step)) error {
	if len(steps) == 0 {
		return nil
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Function bodies are checked when they run, not when created:
		// the functions that use no table come before the tables, and
		// plpgsql ones may name tables all the same.
		settings := []string{"SET LOCAL check_function_bodies TO off"}
		if target.Citus != "" {
			settings = append(settings, "SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
		}
		for _, set := range settings {
			if _, err := tx.Exec(ctx, set); err != nil {
				return fmt.Errorf("preparing the target transaction: %w", err)
			}
		}
		for _, s := range steps {
			if progress != nil {
				progress(s)
			}
			if err := execStep(ctx, tx, s); err != nil {
				return &StepError{Step: s, Err: err}
			}
		}
		return nil
	})
}

// execStep runs one step: its call with parameters, its statements one by
// one, or its SQL.
func execStep(ctx context.Context, tx pgx.Tx, s Step) error {
	var err error
	switch {
	case s.Exec != "":
		_, err = tx.Exec(ctx, s.Exec, s.Args...)
	case len(s.stmts) > 0:
		for _, stmt := range s.stmts {
			if _, err = tx.Exec(ctx, stmt); err != nil {
				break
			}
		}
	default:
		_, err = tx.Exec(ctx, s.SQL)
	}
	return err
}

// StepError is a statement of the target schema that failed.
type StepError struct {
	Step Step
	Err  error
}

func (e *StepError) Error() string {
	what := e.Step.Object
	if e.Step.Table != (schema.Name{}) {
		what = e.Step.Table.String()
		if e.Step.Kind == StepForeignKey {
			what += " constraint " + db.QuoteIfNeeded(e.Step.Object)
		}
	}
	return fmt.Sprintf("applying the target schema (%s %s): %v", e.Step.Kind, what, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// targetState is what already exists on the target.
type targetState struct {
	cat     *schema.Catalog
	types   map[string]bool // type steps whose object exists, by Step.Object
	objects map[StepKind]map[string]bool
	hasRows map[schema.Name]bool
	citus   map[uint32]citusTable // by table OID
}

type citusTable struct{ kind, column string }

func readTarget(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan, target Target) (*targetState, error) {
	var schemas []string
	seen := map[string]bool{}
	for _, t := range p.Included() {
		if s := t.Name().Schema; !seen[s] {
			seen[s] = true
			schemas = append(schemas, s)
		}
	}
	for _, s := range p.Catalog.Objects.Schemas {
		if !seen[s] {
			seen[s] = true
			schemas = append(schemas, s)
		}
	}
	cat, err := schema.Load(ctx, pool, schemas)
	if err != nil {
		return nil, fmt.Errorf("reading the target: %w", err)
	}
	st := &targetState{cat: cat, types: map[string]bool{}, objects: existingObjects(cat), hasRows: map[schema.Name]bool{}, citus: map[uint32]citusTable{}}
	if err := st.readRows(ctx, pool, p); err != nil {
		return nil, err
	}
	if err := st.readTypes(ctx, pool, p); err != nil {
		return nil, err
	}
	if target.Citus != "" {
		if err := st.readCitus(ctx, pool); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// readRows checks, in one query, which planned tables on the target hold
// at least one row.
func (st *targetState) readRows(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan) error {
	var parts []string
	var names []schema.Name
	for _, t := range p.Included() {
		if st.cat.Table(t.Name()) != nil {
			parts = append(parts, fmt.Sprintf("SELECT %d, EXISTS (SELECT 1 FROM %s)", len(names), t.Name().Quoted()))
			names = append(names, t.Name())
		}
	}
	if len(parts) == 0 {
		return nil
	}
	err := db.EachRow(ctx, pool, strings.Join(parts, " UNION ALL "), nil, func(row pgx.CollectableRow) error {
		var i int
		var has bool
		if err := row.Scan(&i, &has); err != nil {
			return err
		}
		st.hasRows[names[i]] = has
		return nil
	})
	if err != nil {
		return fmt.Errorf("checking target tables for rows: %w", err)
	}
	return nil
}

// readTypes finds which of the plan's types the target has (in any
// schema: a type's schema need not hold tables).
func (st *targetState) readTypes(ctx context.Context, pool *pgxpool.Pool, p *plan.Plan) error {
	for _, s := range beforeTables(p) {
		if s.Kind != StepType {
			continue
		}
		var exists bool
		if err := pool.QueryRow(ctx, `SELECT to_regtype($1) IS NOT NULL`, s.Object).Scan(&exists); err != nil {
			return fmt.Errorf("looking for %s on the target: %w", s.Object, err)
		}
		st.types[s.Object] = exists
	}
	return nil
}

// readCitus reads how the target's Citus already distributes its tables.
func (st *targetState) readCitus(ctx context.Context, pool *pgxpool.Pool) error {
	const q = `SELECT table_name::oid, citus_table_type, distribution_column FROM citus_tables`
	err := db.EachRow(ctx, pool, q, nil, func(row pgx.CollectableRow) error {
		var oid uint32
		var ct citusTable
		if err := row.Scan(&oid, &ct.kind, &ct.column); err != nil {
			return err
		}
		st.citus[oid] = ct
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the target's Citus tables: %w", err)
	}
	return nil
}

// checkEmpty refuses planned tables that hold rows.
func (st *targetState) checkEmpty(p *plan.Plan) error {
	var full []schema.Name
	for _, t := range p.Included() {
		if st.hasRows[t.Name()] {
			full = append(full, t.Name())
		}
	}
	if len(full) > 0 {
		return &TargetNotEmptyError{Tables: full}
	}
	return nil
}

// check refuses existing tables that do not match the plan.
func (st *targetState) check(p *plan.Plan) error {
	for _, t := range p.Included() {
		existing := st.cat.Table(t.Name())
		if existing == nil {
			continue
		}
		if reason := mismatch(p, t, existing); reason != "" {
			return &TargetMismatchError{Table: t.Name(), Reason: reason, HasRows: st.hasRows[t.Name()]}
		}
		if ct, ok := st.citus[existing.OID]; ok {
			if want := citusKind(t); ct.kind != want || (want == "distributed" && ct.column != t.TenantColumn) {
				return &TargetMismatchError{Table: t.Name(), HasRows: st.hasRows[t.Name()], Reason: fmt.Sprintf("it is a Citus %s table (distribution column %s), the plan makes it %s by %s", ct.kind, ct.column, want, t.TenantColumn)}
			}
		}
	}
	return nil
}

func citusKind(t *plan.Table) string {
	if t.Kind == plan.Reference {
		return "reference"
	}
	return "distributed"
}

// mismatch compares the columns the plan creates with an existing table's.
func mismatch(p *plan.Plan, t *plan.Table, existing *schema.Table) string {
	want := map[string]string{}
	for _, c := range t.Source.Columns {
		want[c.Name] = c.Type
	}
	if t.Kind.Distributed() && !t.HasTenantColumn {
		want[t.TenantColumn] = p.KeyType
	}
	var problems []string
	for name, typ := range want {
		c := existing.Column(name)
		switch {
		case c == nil:
			problems = append(problems, "no column "+db.QuoteIfNeeded(name))
		case c.Type != typ:
			problems = append(problems, fmt.Sprintf("column %s is %s, not %s", db.QuoteIfNeeded(name), c.Type, typ))
		}
	}
	if len(existing.Columns) > len(want) {
		problems = append(problems, fmt.Sprintf("%d columns instead of %d", len(existing.Columns), len(want)))
	}
	problems = append(problems, missingKeys(p, t, existing)...)
	sort.Strings(problems)
	return strings.Join(problems, "; ")
}

// missingKeys names the plan's primary and unique keys an existing table
// lacks (matched by columns, in any order, as foreign keys match them): a
// table created before the source gained a key would otherwise make the
// target's foreign keys to it fail after the whole copy.
func missingKeys(p *plan.Plan, t *plan.Table, existing *schema.Table) []string {
	var have [][]string
	if existing.PrimaryKey != nil {
		have = append(have, existing.PrimaryKey.Columns)
	}
	for _, k := range existing.Uniques {
		if k.Predicate == "" && !k.Expression {
			have = append(have, k.Columns)
		}
	}
	var out []string
	for _, d := range p.Keys(t) {
		if d.Impossible || d.Key.Expression || d.Key.Predicate != "" {
			continue
		}
		if !slices.ContainsFunc(have, func(cols []string) bool { return sameSet(cols, d.Columns) }) {
			what := "unique key " + db.QuoteIfNeeded(d.Key.Name)
			if d.Primary {
				what = "primary key"
			}
			out = append(out, fmt.Sprintf("no %s (%s)", what, readable(d.Columns)))
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// pending drops the steps whose object already exists, and the Citus calls
// on plain PostgreSQL.
func (st *targetState) pending(steps []Step, target Target, skipFKs bool) []Step {
	var out []Step
	for _, s := range steps {
		existing := st.cat.Table(s.Table)
		switch s.Kind {
		case StepTable:
			if existing != nil {
				continue
			}
		case StepType:
			if st.types[s.Object] {
				continue
			}
		case StepExtension, StepCollation, StepFunction, StepView, StepComment, StepGrant, StepRefresh, StepTrigger, StepRowSecurity, StepPolicy:
			if (skipFKs && s.AfterData()) || st.has(s) {
				continue
			}
		case StepReference, StepDistribute:
			if target.Citus == "" {
				continue
			}
			if existing != nil {
				if _, done := st.citus[existing.OID]; done {
					continue
				}
			}
		case StepForeignKey:
			if skipFKs {
				continue
			}
			if existing != nil && hasConstraint(existing, s.Object) {
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

func hasConstraint(t *schema.Table, name string) bool {
	for _, fk := range t.ForeignKeys {
		if fk.Name == name {
			return true
		}
	}
	return false
}

func joinNames(ns []schema.Name) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.String())
	}
	return strings.Join(s, ", ")
}

// IsTargetRefusal reports whether err is Apply refusing to touch the target
// (blocking problems, rows present, a mismatching table) rather than a
// failure.
func IsTargetRefusal(err error) bool {
	var b *BlockingError
	var n *TargetNotEmptyError
	var m *TargetMismatchError
	return errors.As(err, &b) || errors.As(err, &n) || errors.As(err, &m)
}

// readable lists columns for messages, quoted only where SQL needs it.
func readable(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = db.QuoteIfNeeded(c)
	}
	return strings.Join(q, ", ")
}

// existingObjects lists, by step kind, the objects the target already has
// in the form the steps name them: a comment only when its text is the
// same, a grant when the grantee has at least those privileges, row-level
// security when enabled and forced as planned, a materialized view's
// refresh when it holds data.
func existingObjects(cat *schema.Catalog) map[StepKind]map[string]bool {
	o := cat.Objects
	out := map[StepKind]map[string]bool{}
	add := func(k StepKind, name string) {
		if out[k] == nil {
			out[k] = map[string]bool{}
		}
		out[k][name] = true
	}
	for _, x := range o.Extensions {
		add(StepExtension, x.Name)
	}
	for _, c := range o.Collations {
		add(StepCollation, c.Identity)
	}
	for _, f := range o.Functions {
		add(StepFunction, f.Identity)
	}
	for _, v := range o.Views {
		add(StepView, v.Identity)
		if v.Populated {
			add(StepRefresh, v.Identity)
		}
	}
	for _, c := range o.Comments {
		add(StepComment, commentKey(c))
	}
	for _, tr := range o.Triggers {
		add(StepTrigger, tr.Identity)
	}
	for _, po := range o.Policies {
		add(StepPolicy, po.Identity)
	}
	for _, rs := range o.RowSecurity {
		add(StepRowSecurity, rowSecurityKey(rs.Table, rs.Enabled, rs.Forced))
	}
	for _, g := range o.Grants {
		for _, k := range grantKeys(g) {
			add(StepGrant, k)
		}
	}
	return out
}

// has reports whether the target has what the step creates.
func (st *targetState) has(s Step) bool {
	keys := s.keys
	if len(keys) == 0 {
		keys = []string{s.Object}
	}
	for _, k := range keys {
		if !st.objects[s.Kind][k] {
			return false
		}
	}
	return true
}
