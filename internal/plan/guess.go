package plan

import (
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// Rails never declares foreign keys unless asked to, and many Django and
// Rails schemas lost theirs over the years: a table whose only link to the
// tenant is a column named after the table it points at (store_id,
// shop_tenant_id, post_id) has no path in the catalog and would be planned
// as a reference table, copied whole to every node and never split by
// tenant. Nothing fails, so the user would not notice. checkUndeclaredRelations
// notes such columns, naming the --relation that would make the table
// distributed.

// guess is a column that looks like a key of another table of the plan.
type guess struct {
	column string
	parent *Table
}

// checkUndeclaredRelations notes, on every reference table, the columns
// that look like references to a distributed table, or to another reference
// table with such a column (a chain: rails_comments.rails_note_id ->
// rails_notes.shop_tenant_id -> shop_tenant).
func (b *builder) checkUndeclaredRelations() {
	guesses := map[*Table][]guess{}
	for _, t := range b.plan.OfKind(Reference) {
		if gs := b.guessRelations(t); len(gs) > 0 {
			guesses[t] = gs
		}
	}
	// Keep the guesses that lead to a distributed table, directly or
	// through other guesses.
	leads := map[*Table]bool{}
	for changed := true; changed; {
		changed = false
		for t, gs := range guesses {
			for _, g := range gs {
				if !leads[t] && (g.parent.Kind.Distributed() || leads[g.parent]) {
					leads[t], changed = true, true
				}
			}
		}
	}
	for _, t := range b.plan.OfKind(Reference) {
		for _, g := range guesses[t] {
			if g.parent.Kind.Distributed() || leads[g.parent] {
				t.problem(undeclaredRelation(t, g))
			}
		}
	}
}

// guessRelations finds t's columns named <table>_id, not in a foreign key,
// whose named table is in the plan with a one-column primary key of a
// comparable type.
func (b *builder) guessRelations(t *Table) []guess {
	inFK := map[string]bool{}
	for _, fk := range t.Source.ForeignKeys {
		for _, c := range fk.Columns {
			inFK[c] = true
		}
	}
	var out []guess
	for _, c := range t.Source.Columns {
		base, ok := strings.CutSuffix(strings.ToLower(c.Name), "_id")
		if inFK[c.Name] || !ok || base == "" {
			continue
		}
		parent := b.tableNamed(t, base)
		if parent == nil || parent == t || parent.Source.PrimaryKey == nil || len(parent.Source.PrimaryKey.Columns) != 1 {
			continue
		}
		key := parent.Source.Column(parent.Source.PrimaryKey.Columns[0])
		if key != nil && comparableTypes(c.Type, key.Type) {
			out = append(out, guess{column: c.Name, parent: parent})
		}
	}
	return out
}

// tableNamed finds the table a <base>_id column names: base itself or its
// plural (Rails), or app_base where t is app_something (Django), in t's
// schema first, then in any schema when only one has it.
func (b *builder) tableNamed(t *Table, base string) *Table {
	names := []string{base, base + "s", base + "es"}
	if stem, ok := strings.CutSuffix(base, "y"); ok {
		names = append(names, stem+"ies")
	}
	if app, _, ok := strings.Cut(t.Name().Name, "_"); ok {
		names = append(names, app+"_"+base)
	}
	for _, n := range names {
		if p := b.plan.Table(schema.Name{Schema: t.Name().Schema, Name: n}); p != nil && p.Kind != Excluded {
			return p
		}
	}
	var found *Table
	for _, p := range b.plan.Tables {
		for _, n := range names {
			if p.Name().Name == n && p.Kind != Excluded {
				if found != nil && found != p {
					return nil // ambiguous across schemas
				}
				found = p
			}
		}
	}
	return found
}

func undeclaredRelation(t *Table, g guess) Problem {
	key := g.parent.Source.PrimaryKey.Columns[0]
	rel := fmt.Sprintf("%s.%s=%s.%s", t.Name(), db.QuoteIfNeeded(g.column), g.parent.Name(), db.QuoteIfNeeded(key))
	return Problem{
		Code: CodeUndeclaredRelation,
		Message: fmt.Sprintf("%s.%s looks like a reference to %s.%s, but the catalog has no foreign key on it: as planned, %s is a reference table, copied whole to every node and not split by tenant",
			t.Name(), db.QuoteIfNeeded(g.column), g.parent.Name(), db.QuoteIfNeeded(key), t.Name()),
		Remedy: fmt.Sprintf("if it is one (Rails and older Django schemas often declare none), plan with --relation %s (or add the foreign key on the source); if not, nothing to do", shellQuote(rel)),
	}
}

// shellQuote quotes s for a POSIX shell, so the remedy can be pasted
// whatever the names hold.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
