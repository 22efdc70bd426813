package follow

import (
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pglogrepl"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// table is how the changes of one source relation are written to the
// target: its columns as the source sends them, their target types, the
// target key (which on Citus starts with the tenant column) and the SQL of
// each kind of write, made once per relation message.
type table struct {
	name   schema.Name
	order  int // position in plan order: parents before children
	cols   []string
	types  []string
	key    []int // indexes in cols of the target key; nil: no key
	tenant int   // index in cols of the tenant column; -1: none
	// upsert, remove: statements over unnest'ed text arrays, one per
	// column (upsert) or key column (remove).
	upsert, remove string
	insert         string // plain insert, for tables without a key
	overriding     string
	// routed: the table is hash-distributed on Citus by its tenant
	// column, which is in its key. Its deletes and partial updates are
	// written one statement per shard, each also matching the tenants of
	// its rows (removeRouted, update's routed form), so that Citus sends it
	// to that shard alone: one statement over all of a batch's keys runs on
	// every shard, and each shard looks for every key (with many keys, by
	// scanning the whole shard).
	routed       bool
	tenantKey    int // position of the tenant column in key (routed)
	removeRouted string
	// desc is the relation message the table was made from, as text.
	desc string
}

// description is the content of a relation message as text: two equal
// descriptions make the same table.
func description(rel *pglogrepl.RelationMessage) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%q.%q %c", rel.Namespace, rel.RelationName, rel.ReplicaIdentity)
	for _, c := range rel.Columns {
		fmt.Fprintf(&sb, " %q:%d:%d:%d", c.Name, c.DataType, c.TypeModifier, c.Flags)
	}
	return sb.String()
}

// DDLError: the source's table no longer matches the target's (a column
// added, dropped or retyped while following).
type DDLError struct {
	Table, Column, Problem string
}

func (e *DDLError) Error() string {
	return fmt.Sprintf("%s.%s %s (a schema change on the source while following): make the target's %s match (ALTER TABLE on the coordinator), then rerun to continue from the last applied change",
		e.Table, db.QuoteIfNeeded(e.Column), e.Problem, e.Table)
}

// TriggerError: a target table the follower writes has enabled triggers,
// which would fire on every replayed change (an audit trigger would log
// each twice, a counter trigger would count each again) and make the
// target differ from the source.
type TriggerError struct {
	Table    string
	Triggers []string
}

func (e *TriggerError) Error() string {
	return fmt.Sprintf("target table %s has triggers that would fire on every replayed change: %s; nothing of this batch was applied. "+
		"Disable them while following (ALTER TABLE %s DISABLE TRIGGER USER) and rerun to continue; cutover creates the source's triggers in its write pause, "+
		"as plan --apply without --with-triggers leaves them for it",
		e.Table, strings.Join(e.Triggers, ", "), e.Table)
}

// enabledTriggers refuses a target table with enabled user triggers
// (internal ones, such as foreign keys' and Citus's, are not listed).
func enabledTriggers(target *schema.Catalog, name schema.Name) error {
	var names []string
	for _, tr := range target.Objects.Triggers {
		if tr.Table == name && tr.Fires() {
			names = append(names, tr.Identity)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return &TriggerError{Table: name.String(), Triggers: names}
}

// resolve maps a relation message to the target table it feeds. dist
// names the target's hash-distributed tables with their distribution
// column (nil when the target is not Citus).
func resolve(rel *pglogrepl.RelationMessage, p *plan.Plan, target *schema.Catalog, dist map[schema.Name]string) (*table, error) {
	name := schema.Name{Schema: rel.Namespace, Name: rel.RelationName}
	order := -1
	var pt *plan.Table
	for i, t := range p.Included() {
		if t.Name() == name {
			order, pt = i, t
		}
	}
	tt := target.Table(name)
	if pt == nil || tt == nil {
		return nil, fmt.Errorf("the source sent changes of %s, which the plan or the target lacks: was it added to the publication by hand?", name)
	}
	if err := enabledTriggers(target, name); err != nil {
		return nil, err
	}
	t := &table{name: name, order: order, tenant: -1, desc: description(rel)}
	sent := map[string]bool{}
	for _, c := range rel.Columns {
		tc := tt.Column(c.Name)
		if tc == nil {
			return nil, &DDLError{Table: name.String(), Column: c.Name, Problem: "exists on the source but not on the target"}
		}
		if tc.TypeOID != c.DataType && !sameTypeName(tc.Type) {
			return nil, &DDLError{Table: name.String(), Column: c.Name, Problem: fmt.Sprintf("has another type on the source (oid %d) than on the target (%s)", c.DataType, tc.Type)}
		}
		sent[c.Name] = true
		t.cols = append(t.cols, c.Name)
		t.types = append(t.types, tc.Type)
		if tc.Identity == "a" {
			t.overriding = " OVERRIDING SYSTEM VALUE"
		}
		if c.Name == pt.TenantColumn && pt.Kind.Distributed() {
			t.tenant = len(t.cols) - 1
		}
	}
	for _, c := range tt.Columns {
		if !sent[c.Name] && c.Generated == "" {
			return nil, &DDLError{Table: name.String(), Column: c.Name, Problem: "exists on the target but the source no longer sends it"}
		}
	}
	if tt.PrimaryKey != nil {
		for _, k := range tt.PrimaryKey.Columns {
			i := indexOf(t.cols, k)
			if i < 0 {
				return nil, &DDLError{Table: name.String(), Column: k, Problem: "is in the target's key but the source does not send it"}
			}
			t.key = append(t.key, i)
		}
	}
	if col, ok := dist[name]; ok && t.tenant >= 0 && t.cols[t.tenant] == col {
		for j, i := range t.key {
			if i == t.tenant {
				t.routed, t.tenantKey = true, j
			}
		}
	}
	t.build()
	return t, nil
}

// sameTypeName accepts user types, whose OIDs differ between databases.
func sameTypeName(targetType string) bool {
	return strings.Contains(targetType, ".")
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// build makes the table's statements. Values travel as text arrays, one
// per column, cast to the target's types: one statement writes a whole
// group of rows whatever their number.
func (t *table) build() {
	all := make([]int, len(t.cols))
	for i := range all {
		all[i] = i
	}
	cols := t.quoted(all)
	from := t.unnest(all)
	t.insert = fmt.Sprintf("INSERT INTO %s (%s)%s SELECT %s FROM %s", t.name.Quoted(), cols, t.overriding, t.casts(all), from)
	if t.key == nil {
		return
	}
	var set []string
	for i, c := range t.cols {
		if !t.isKey(i) {
			set = append(set, fmt.Sprintf("%s = EXCLUDED.%s", db.Ident(c), db.Ident(c)))
		}
	}
	action := "DO NOTHING"
	if len(set) > 0 {
		action = "DO UPDATE SET " + strings.Join(set, ", ")
	}
	t.upsert = fmt.Sprintf("%s ON CONFLICT (%s) %s", t.insert, t.quoted(t.key), action)
	t.remove = fmt.Sprintf("DELETE FROM %s WHERE (%s) IN (SELECT %s FROM %s)", t.name.Quoted(), t.quoted(t.key), t.casts(t.key), t.unnest(t.key))
	if t.routed {
		t.removeRouted = t.remove + " AND " + t.tenantIn("", len(t.key)+1)
	}
}

// tenantIn is the condition that the tenant column (of alias, when not
// "") is one of the values of parameter n, a text array: it lets Citus
// send the statement to the shards of those tenants only.
func (t *table) tenantIn(alias string, n int) string {
	col := db.Ident(t.cols[t.tenant])
	if alias != "" {
		col = alias + "." + col
	}
	return fmt.Sprintf("%s = ANY($%d::text[]::%s[])", col, n, t.types[t.tenant])
}

// update is the statement for rows whose unchanged TOASTed columns the
// source did not send: it sets only the columns in set (indexes in cols).
// The routed form takes the tenants of its rows as one more parameter.
func (t *table) update(set []int, routed bool) string {
	idx := append(append([]int{}, t.key...), set...)
	var assign, match []string
	for j, i := range idx {
		v := fmt.Sprintf("v.a%d::%s", j+1, t.types[i])
		if j < len(t.key) {
			match = append(match, fmt.Sprintf("t.%s = %s", db.Ident(t.cols[i]), v))
		} else {
			assign = append(assign, fmt.Sprintf("%s = %s", db.Ident(t.cols[i]), v))
		}
	}
	if routed {
		match = append(match, t.tenantIn("t", len(idx)+1))
	}
	return fmt.Sprintf("UPDATE %s AS t SET %s FROM %s WHERE %s", t.name.Quoted(), strings.Join(assign, ", "), t.unnest(idx), strings.Join(match, " AND "))
}

// sameRows is the condition matching rows equal to an old row given as
// parameters, one per column (a table without a key: identical rows are
// interchangeable).
func (t *table) sameRows() string {
	var match []string
	for i, c := range t.cols {
		match = append(match, fmt.Sprintf("%s IS NOT DISTINCT FROM $%d::text::%s", db.Ident(c), i+1, t.types[i]))
	}
	return strings.Join(match, " AND ")
}

func (t *table) quoted(idx []int) string {
	out := make([]string, len(idx))
	for j, i := range idx {
		out[j] = db.Ident(t.cols[i])
	}
	return strings.Join(out, ", ")
}

func (t *table) casts(idx []int) string {
	out := make([]string, len(idx))
	for j, i := range idx {
		out[j] = fmt.Sprintf("v.a%d::%s", j+1, t.types[i])
	}
	return strings.Join(out, ", ")
}

func (t *table) unnest(idx []int) string {
	params, aliases := make([]string, len(idx)), make([]string, len(idx))
	for j := range idx {
		params[j] = fmt.Sprintf("$%d::text[]", j+1)
		aliases[j] = fmt.Sprintf("a%d", j+1)
	}
	return fmt.Sprintf("unnest(%s) AS v(%s)", strings.Join(params, ", "), strings.Join(aliases, ", "))
}

func (t *table) isKey(i int) bool {
	for _, k := range t.key {
		if k == i {
			return true
		}
	}
	return false
}

// byOrder sorts tables parents first.
func byOrder(ts []*table) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].order < ts[j].order })
}
