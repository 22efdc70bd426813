package backfill

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// The SQL of one target. Every identifier is quoted; every value is a bind
// parameter. Keys travel as text (the form checkpoints store) and are cast
// back to the column's type in SQL ($1::text::uuid, see phase.Values), so
// composite, uuid and text keys all work with the same code; key ranges are
// half-open, [lo, hi), as everywhere (phase.Range).

// qcols lists alias."col" for each column.
func qcols(alias string, cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = alias + "." + db.Ident(c)
	}
	return strings.Join(out, ", ")
}

// walkWhere is the condition of a walk over range r of alias's primary
// key: r's keys, no higher than the table's ceiling (the largest key when
// its units were planned: rows added since are the trigger's), with values
// as bind parameters collected in v.
func (t *target) walkWhere(alias string, r phase.Range, ceiling []string, v *phase.Values) string {
	expr := phase.KeyExpr(alias, t.key)
	conds := []string{expr + " <= " + v.Key(t.key, ceiling)}
	if w := r.Where(expr, t.key, v); w != "" {
		conds = append(conds, w)
	}
	return strings.Join(conds, " AND ")
}

// boundarySQL looks at the next batch of range r (what is left of a unit):
// of its first $n keys (n is one more than the batch's rows), the last one
// and how many there are. n keys mean the last one is where the next batch
// starts, so the batch is [r.Lo, that key); fewer mean the batch reaches the
// end of the unit.
func (t *target) boundarySQL(r phase.Range, ceiling []string, n int, v *phase.Values) string {
	where := t.walkWhere("c", r, ceiling, v)
	desc := make([]string, len(t.keyCols))
	text := make([]string, len(t.keyCols))
	for i, c := range t.keyCols {
		desc[i] = "s." + db.Ident(c) + " DESC"
		text[i] = "s." + db.Ident(c) + "::text"
	}
	v.Args = append(v.Args, n)
	return fmt.Sprintf(`SELECT %s, count(*) OVER () FROM (SELECT %s FROM %s AS c WHERE %s ORDER BY %s LIMIT $%d) AS s ORDER BY %s LIMIT 1`,
		strings.Join(text, ", "), qcols("c", t.keyCols), t.table.Quoted(), where, qcols("c", t.keyCols), len(v.Args), strings.Join(desc, ", "))
}

// joinOn is the hop's join condition between the child alias and the
// parent alias.
func joinOn(h plan.Hop, child, parent string) string {
	parts := make([]string, len(h.FromColumns))
	for i := range h.FromColumns {
		parts[i] = parent + "." + db.Ident(h.ToColumns[i]) + " = " + child + "." + db.Ident(h.FromColumns[i])
	}
	return strings.Join(parts, " AND ")
}

// updateSQL fills one batch, the keys of range r, one hop from the
// branch's parent (of a polymorphic table: only the rows of its type).
// Only NULLs are written, so a batch the trigger or the application got to
// first, or a batch redone after a lost commit acknowledgement, changes
// nothing.
func (t *target) updateSQL(b *branch, r phase.Range, ceiling []string, v *phase.Values) string {
	where := t.walkWhere("c", r, ceiling, v)
	if w := plan.WhenSQL(b.hop.When, "c", textValue(v)); w != "" {
		where += " AND " + w
	}
	col := db.Ident(t.column)
	pcol := "p." + db.Ident(b.parentColumn)
	return fmt.Sprintf(`UPDATE %s AS c SET %s = %s FROM %s AS p WHERE %s AND %s IS NOT NULL AND c.%s IS NULL AND %s`,
		t.table.Quoted(), col, pcol, b.hop.To.Quoted(), joinOn(b.hop, "c", "p"), pcol, col, where)
}

// textValue renders a type test's values as text, bound or literal as v
// does.
func textValue(v *phase.Values) func(string) string {
	return func(s string) string { return v.Of(s, phase.Column{Type: "text"}) }
}

// addColumnSQL adds the nullable tenant column: a catalog-only change.
func (t *target) addColumnSQL() string {
	return fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", t.table.Quoted(), db.Ident(t.column), t.keyType)
}

func (t *target) functionName() string { return db.Ident(helperSchema, t.names.Function) }

// chainSelect looks the tenant value up from NEW's foreign key along the
// branch's chain to the first table that has it natively.
func (b *branch) chainSelect() string {
	var from strings.Builder
	for i, h := range b.chain {
		alias := fmt.Sprintf("h%d", i+1)
		if i == 0 {
			fmt.Fprintf(&from, "%s AS %s", h.To.Quoted(), alias)
			continue
		}
		fmt.Fprintf(&from, " JOIN %s AS %s ON %s", h.To.Quoted(), alias, joinOn(h, fmt.Sprintf("h%d", i), alias))
	}
	return fmt.Sprintf("SELECT h%d.%s FROM %s WHERE %s", len(b.chain), db.Ident(b.chainColumn), from.String(), joinOn(b.chain[0], "NEW", "h1"))
}

// lookup is the trigger's expression for the new value: the chain's
// lookup, or for a polymorphic table a CASE over the types, NULL for a
// type without a declared parent (an orphan the end of the run counts).
func (t *target) lookup() string {
	if !t.polymorphic() {
		return "(" + t.branches[0].chainSelect() + ")"
	}
	var sb strings.Builder
	sb.WriteString("CASE")
	for _, b := range t.branches {
		fmt.Fprintf(&sb, " WHEN %s THEN (%s)", plan.WhenSQL(b.hop.When, "NEW", phase.QuoteLiteral), b.chainSelect())
	}
	sb.WriteString(" END")
	return sb.String()
}

// watched are the columns whose change recomputes the value: the foreign
// key, and a polymorphic table's type column.
func (t *target) watched() []string {
	cols := append([]string(nil), t.branches[0].hop.FromColumns...)
	for _, b := range t.branches {
		if b.hop.When != nil && !slices.Contains(cols, b.hop.When.Column) {
			cols = append(cols, b.hop.When.Column)
		}
	}
	return cols
}

// functionSQL is the trigger function. On INSERT it fills the column when
// the application left it NULL; on UPDATE of the foreign key (or type) it
// recomputes the value unless the application set one itself.
func (t *target) functionSQL() string {
	col := "NEW." + db.Ident(t.column)
	body := fmt.Sprintf(`
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF %[1]s IS NOT NULL AND (%[1]s IS DISTINCT FROM OLD.%[2]s OR ROW(%[3]s) IS NOT DISTINCT FROM ROW(%[4]s)) THEN
      RETURN NEW;
    END IF;
  ELSIF %[1]s IS NOT NULL THEN
    RETURN NEW;
  END IF;
  %[1]s := %[5]s;
  RETURN NEW;
END
`, col, db.Ident(t.column), qcols("NEW", t.watched()), qcols("OLD", t.watched()), t.lookup())
	tag := "$tm$"
	for i := 0; strings.Contains(body, tag); i++ {
		tag = fmt.Sprintf("$tm%d$", i)
	}
	return fmt.Sprintf("CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS %s%s%s", t.functionName(), tag, body, tag)
}

// createTriggerSQL creates the trigger (after the function).
func (t *target) createTriggerSQL() string {
	return fmt.Sprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE OF %s ON %s FOR EACH ROW EXECUTE FUNCTION %s()",
		db.Ident(t.names.Trigger), db.Idents(t.watched()), t.table.Quoted(), t.functionName())
}

func (t *target) dropTriggerSQL() []string {
	return []string{
		fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", db.Ident(t.names.Trigger), t.table.Quoted()),
		t.dropFunctionSQL(),
	}
}

func (t *target) dropFunctionSQL() string {
	return fmt.Sprintf("DROP FUNCTION IF EXISTS %s()", t.functionName())
}

func (t *target) indexSQL() string {
	return fmt.Sprintf("CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s (%s)", db.Ident(t.names.Index), t.table.Quoted(), db.Ident(t.column))
}

func (t *target) dropIndexSQL() string {
	return fmt.Sprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", db.Ident(t.table.Schema, t.names.Index))
}

// orphanSQL classifies every row still without a value, and returns per
// reason the count and the first samples keys, with its arguments. A
// polymorphic table joins each type's parent on its type test: a row of a
// type without one is its own kind of orphan.
func (t *target) orphanSQL(samples int) (string, []any) {
	v := phase.Params()
	v.Args = append(v.Args, samples)
	first := t.branches[0].hop
	nullFK := make([]string, 0, len(first.FromColumns)+1)
	for _, c := range t.watched() {
		nullFK = append(nullFK, "c."+db.Ident(c)+" IS NULL")
	}
	var joins, typed, keys, values []string
	for i, b := range t.branches {
		p := fmt.Sprintf("p%d", i)
		on := joinOn(b.hop, "c", p)
		if w := plan.WhenSQL(b.hop.When, "c", textValue(v)); w != "" {
			on += " AND " + w
			typed = append(typed, fmt.Sprintf("coalesce(%s, false)", plan.WhenSQL(b.hop.When, "c", textValue(v))))
		}
		joins = append(joins, fmt.Sprintf("LEFT JOIN %s AS %s ON %s", b.hop.To.Quoted(), p, on))
		keys = append(keys, p+"."+db.Ident(b.hop.ToColumns[0]))
		values = append(values, p+"."+db.Ident(b.parentColumn))
	}
	unknownType := ""
	if len(typed) > 0 {
		unknownType = fmt.Sprintf(" WHEN NOT (%s) THEN '%s'", strings.Join(typed, " OR "), ReasonUnknownType)
	}
	keyText := make([]string, len(t.keyCols))
	keyOrd := make([]string, len(t.keyCols))
	ordNames := make([]string, len(t.keyCols))
	for i, c := range t.keyCols {
		keyText[i] = "c." + db.Ident(c) + "::text"
		ordNames[i] = fmt.Sprintf("k%d", i)
		keyOrd[i] = "c." + db.Ident(c) + " AS " + ordNames[i]
	}
	reason := fmt.Sprintf(`CASE WHEN %s THEN '%s'%s WHEN coalesce(%s) IS NULL THEN '%s' WHEN coalesce(%s) IS NULL THEN '%s' ELSE '%s' END`,
		strings.Join(nullFK, " OR "), ReasonNullFK, unknownType, strings.Join(keys, ", "), ReasonMissingParent,
		strings.Join(values, ", "), ReasonParentOrphan, reasonMissed)
	return fmt.Sprintf(`SELECT reason, n, key FROM (
  SELECT reason, key, count(*) OVER (PARTITION BY reason) AS n, row_number() OVER (PARTITION BY reason ORDER BY %s) AS rn FROM (
    SELECT %s AS reason, ARRAY[%s] AS key, %s
    FROM %s AS c %s
    WHERE c.%s IS NULL) AS o) AS r
WHERE rn <= $1 ORDER BY reason, rn`,
		strings.Join(ordNames, ", "), reason, strings.Join(keyText, ", "), strings.Join(keyOrd, ", "),
		t.table.Quoted(), strings.Join(joins, " "), db.Ident(t.column)), v.Args
}

// reasonMissed marks a NULL whose parent has a value: the backfill missed
// it (or it was written while no trigger was installed). Never an orphan;
// its presence fails the completeness proof.
const reasonMissed = "missed"

func (t *target) nullCountSQL() string {
	return fmt.Sprintf("SELECT count(*) FROM %s WHERE %s IS NULL", t.table.Quoted(), db.Ident(t.column))
}

// notNullSQL adds NOT NULL the online way: a NOT VALID check (brief
// ACCESS EXCLUSIVE lock, no scan), validated under a lock that lets the
// application read and write, after which SET NOT NULL trusts the check and
// skips its own scan (PostgreSQL 12+), and the check is dropped.
func (t *target) notNullSQL() (add, validate string, set []string) {
	tbl, chk, col := t.table.Quoted(), db.Ident(t.names.Check), db.Ident(t.column)
	add = fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID", tbl, chk, col)
	validate = fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", tbl, chk)
	set = []string{
		fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL", tbl, col),
		fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", tbl, chk),
	}
	return add, validate, set
}

func (t *target) dropCheckSQL() string {
	return fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", t.table.Quoted(), db.Ident(t.names.Check))
}
