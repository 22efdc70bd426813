package pgcopy

import (
	"fmt"
	"time"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// job is one table to copy and everything the chunks of it need.
type job struct {
	plan *plan.Table
	name db.QualifiedName
	key  string         // checkpoint table name: name.String()
	cols []string       // columns copied, in source order (generated ones left out)
	keys []phase.Column // primary key columns; empty = the table is one chunk
	// tenant is the tenant column and its type, for distributed tables.
	tenant *phase.Column
	// byTenant: copied one tenant per unit (Config.Tenants, distributed
	// tables); otherwise by key range.
	byTenant bool
	// parents are the tables this one has target foreign keys to, earlier in
	// the order: its chunks wait for them.
	parents []*job
	// selfRef: a foreign key to itself; chunks run one at a time in key
	// order, so a row's parent row (usually a smaller key) is there first.
	selfRef bool
	est     int64 // estimated rows (source reltuples)
	units   []checkpoints.Unit
	skip    string // why the table is not copied at all
	report  *TableReport
	started time.Time
	// ownDone: this process's units of the table are done (guarded by
	// engine.mu; a part waits for the other parts' units after that).
	ownDone bool
}

// reference reports whether the job is a reference table.
func (j *job) reference() bool { return j.plan.Kind == plan.Reference }

// selectJobs lists the tables to copy: reference tables first, then
// distributed ones, each group in plan order (parents first); excluded
// tables are left out.
func selectJobs(p *plan.Plan) []*job {
	var jobs []*job
	for _, kinds := range [][]plan.Kind{{plan.Reference}, {plan.Root, plan.Direct, plan.Nested}} {
		for _, t := range p.OfKind(kinds...) {
			jobs = append(jobs, newJob(t))
		}
	}
	return jobs
}

func newJob(t *plan.Table) *job {
	src := t.Source
	j := &job{plan: t, name: src.Name, key: src.Name.String(), cols: src.ColumnNames(), est: src.EstimatedRows}
	if src.PrimaryKey != nil {
		for _, c := range src.PrimaryKey.Columns {
			if col := src.Column(c); col != nil {
				j.keys = append(j.keys, phase.Column{Name: c, Type: col.Type})
			}
		}
		if len(j.keys) != len(src.PrimaryKey.Columns) {
			j.keys = nil // an expression key cannot bound ranges: one chunk
		}
	}
	if t.Kind.Distributed() && t.TenantColumn != "" {
		if col := src.Column(t.TenantColumn); col != nil {
			j.tenant = &phase.Column{Name: col.Name, Type: col.Type}
		}
	}
	j.report = &TableReport{Table: j.key, Kind: string(t.Kind)}
	return j
}

// check verifies, before anything is written, that every job can be copied:
// nested tables have their tenant column on the source, and every table
// exists on the target with every source column at the same type. All
// problems are reported at once.
func check(jobs []*job, target *schema.Catalog) error {
	var notFilled []string
	for _, j := range jobs {
		if j.plan.Kind == plan.Nested && j.tenant == nil {
			notFilled = append(notFilled, j.key)
		}
	}
	if len(notFilled) > 0 {
		return &ErrNotBackfilled{Tables: notFilled}
	}
	mm := &ErrSchemaMismatch{}
	for _, j := range jobs {
		t := target.Table(j.name)
		if t == nil {
			mm.MissingTables = append(mm.MissingTables, j.key)
			continue
		}
		for _, c := range j.plan.Source.Columns {
			mm.compare(j.key, c, t.Column(c.Name))
		}
	}
	if len(mm.MissingTables) > 0 || len(mm.Columns) > 0 {
		return mm
	}
	return nil
}

// checkTriggers refuses target tables with enabled user triggers: they
// would fire on every copied row (a BEFORE trigger stamping a column, an
// audit trigger adding rows) and the target would no longer match the
// source. plan --apply leaves them for after the data. Only tables with
// units left to copy count: a rerun of a finished copy, after copy
// created the triggers, has nothing to write.
func checkTriggers(jobs []*job, target *schema.Catalog) error {
	copied := map[schema.Name]bool{}
	for _, j := range jobs {
		copied[j.name] = j.skip == "" && j.unitsLeft()
	}
	e := &ErrTargetTriggers{}
	for _, tr := range target.Objects.Triggers {
		if copied[tr.Table] && tr.Fires() {
			e.Triggers = append(e.Triggers, tr.Identity)
			e.Tables = appendOnce(e.Tables, tr.Table.String())
		}
	}
	if len(e.Triggers) > 0 {
		return e
	}
	return nil
}

func (j *job) unitsLeft() bool {
	for _, u := range j.units {
		if u.State != checkpoints.Done {
			return true
		}
	}
	return false
}

func appendOnce(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

// compare records how target column tc differs from source column sc.
func (e *ErrSchemaMismatch) compare(table string, sc schema.Column, tc *schema.Column) {
	add := func(problem string) {
		e.Columns = append(e.Columns, ColumnMismatch{Table: table, Column: sc.Name, Problem: problem})
	}
	switch {
	case sc.Generated != "":
		// Generated columns are computed by the target; not copied.
	case tc == nil:
		add(fmt.Sprintf("missing on the target (source type %s)", sc.Type))
	case tc.Type != sc.Type:
		add(fmt.Sprintf("type %s on the target, %s on the source", tc.Type, sc.Type))
	case tc.Generated != "":
		add("generated on the target but not on the source: it cannot be copied into")
	}
}

// linkParents sets each job's parents from the target's foreign keys. Only
// tables earlier in the order count, so a cycle (which the plan broke at a
// nullable key) never makes two tables wait for each other.
func linkParents(jobs []*job, target *schema.Catalog) {
	pos := map[db.QualifiedName]int{}
	for i, j := range jobs {
		pos[j.name] = i
	}
	for i, j := range jobs {
		seen := map[int]bool{}
		for _, fk := range target.Table(j.name).ForeignKeys {
			k, ok := pos[fk.RefTable]
			switch {
			case !ok:
			case k == i:
				j.selfRef = true
			case k < i && !seen[k]:
				seen[k] = true
				j.parents = append(j.parents, jobs[k])
			}
		}
	}
}
