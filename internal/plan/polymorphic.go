package plan

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// A polymorphic association points at one of several tables, named per
// row by a type column: Rails' commentable_type ('Post') next to
// commentable_id, Django's GenericForeignKey content_type_id (a key to
// django_content_type) next to object_id. No foreign key can say that, so
// the catalog shows only an id column without a key, and a table reached
// that way is planned through some other column or as a reference table,
// leaving the rows of the other types without a tenant. checkPolymorphic
// notes each such pair with the exact --relation flags, one per type the
// source holds (see schema.Column.Values).

// polyPair is a type column and the id column it goes with.
type polyPair struct {
	typeCol, idCol string
	contentType    *schema.ContentType // Django: the content-type table
	framework      string
}

// checkPolymorphic notes the polymorphic pairs of every included table
// that are not declared, when they may lead to a distributed table.
func (b *builder) checkPolymorphic() {
	for _, t := range b.plan.Included() {
		for _, pp := range b.polyPairs(t) {
			if pr, ok := b.polymorphicNote(t, pp); ok {
				t.problem(pr)
			}
		}
	}
}

// polyPairs finds t's undeclared pairs: a text column <x>_type with a
// column <x>_id in no foreign key (Rails), or a key to a content-type
// table with a column object_id or <x>_object_id in no foreign key
// (Django).
func (b *builder) polyPairs(t *Table) []polyPair {
	inFK := map[string]bool{} // catalog or declared, polymorphic or not
	for _, fk := range t.Source.ForeignKeys {
		for _, c := range fk.Columns {
			inFK[c] = true
		}
	}
	var out []polyPair
	for _, c := range t.Source.Columns {
		if ct := contentTypeKey(b.cat, t.Source, c.Name); ct != nil {
			for _, id := range t.Source.Columns {
				if (id.Name == "object_id" || strings.HasSuffix(id.Name, "_object_id")) && !inFK[id.Name] {
					out = append(out, polyPair{typeCol: c.Name, idCol: id.Name, contentType: ct, framework: "Django generic foreign key"})
				}
			}
			continue
		}
		base, ok := strings.CutSuffix(c.Name, "_type")
		if !ok || base == "" || !b.cat.IsTypeColumn(t.Source, &c) {
			continue
		}
		if id := t.Source.Column(base + "_id"); id != nil && !inFK[id.Name] {
			out = append(out, polyPair{typeCol: c.Name, idCol: id.Name, framework: "Rails polymorphic association"})
		}
	}
	return out
}

// polyBranch is one type of a pair and the table it names (nil: none
// found).
type polyBranch struct {
	value  string
	parent *Table
}

// polymorphicNote is the note of one pair, unless every type is known and
// none leads to a distributed table (an association among reference
// tables needs nothing).
func (b *builder) polymorphicNote(t *Table, pp polyPair) (Problem, bool) {
	col := t.Source.Column(pp.typeCol)
	var branches []polyBranch
	reaches := false
	for _, v := range col.Values {
		br := b.polyBranch(t, pp, v)
		if br.parent != nil && br.parent.Kind.Distributed() {
			reaches = true
		}
		branches = append(branches, br)
	}
	if !reaches && col.ValuesComplete {
		return Problem{}, false
	}
	return polymorphicProblem(t, pp, branches, col.ValuesComplete), true
}

// polyBranch maps one value of the type column to its table: a Rails
// class name to its table name (LineItem -> line_items, Admin::User ->
// admin_users), a Django content type id to app_label_model.
func (b *builder) polyBranch(t *Table, pp polyPair, v string) polyBranch {
	br := polyBranch{value: v}
	if pp.contentType != nil {
		name, ok := b.cat.ContentTypes[pp.contentType.Table][v]
		if !ok {
			return br
		}
		br.value = name
		p := b.plan.Table(schema.Name{Schema: t.Name().Schema, Name: strings.ReplaceAll(name, ".", "_")})
		if p != nil && p.Kind != Excluded {
			br.parent = p
		}
		return br
	}
	br.parent = b.tableNamed(t, railsTableBase(v))
	return br
}

// railsTableBase is the singular table name of a Rails class name.
func railsTableBase(class string) string {
	var sb strings.Builder
	prev := rune(0)
	for _, r := range strings.ReplaceAll(class, "::", "_") {
		if unicode.IsUpper(r) && prev != 0 && prev != '_' && !unicode.IsUpper(prev) {
			sb.WriteByte('_')
		}
		sb.WriteRune(unicode.ToLower(r))
		prev = r
	}
	return sb.String()
}

func polymorphicProblem(t *Table, pp polyPair, branches []polyBranch, complete bool) Problem {
	var flags, types, others []string
	for _, br := range branches {
		types = append(types, br.value)
		switch {
		case br.parent == nil:
			others = append(others, br.value+" (no table found)")
		case !br.parent.Kind.Distributed():
			others = append(others, fmt.Sprintf("%s (%s, a %s table)", br.value, br.parent.Name(), br.parent.Kind))
		default:
			key := "id"
			if pk := br.parent.Source.PrimaryKey; pk != nil && len(pk.Columns) == 1 {
				key = pk.Columns[0]
			}
			rel := fmt.Sprintf("%s.%s=%s.%s when %s=%s", t.Name(), db.QuoteIfNeeded(pp.idCol), br.parent.Name(), db.QuoteIfNeeded(key), db.QuoteIfNeeded(pp.typeCol), br.value)
			flags = append(flags, "--relation "+shellQuote(rel))
		}
	}
	slices.Sort(types)
	msg := fmt.Sprintf("%s.%s and %s.%s look like a %s: %s names the parent's table per row and %s has no foreign key, so plan cannot follow it",
		t.Name(), db.QuoteIfNeeded(pp.typeCol), t.Name(), db.QuoteIfNeeded(pp.idCol), pp.framework, db.QuoteIfNeeded(pp.typeCol), db.QuoteIfNeeded(pp.idCol))
	if len(types) > 0 {
		msg += fmt.Sprintf("; the source holds the types %s", strings.Join(types, ", "))
		if !complete {
			msg += " and possibly others"
		}
	}
	msg += fmt.Sprintf("; as planned, %s is a %s table", t.Name(), t.Kind)
	if len(t.Path) > 0 {
		msg += " through " + PathString(t.Path)
	}
	return Problem{Code: CodePolymorphic, Message: msg, Remedy: polymorphicRemedy(t, pp, flags, others, complete)}
}

func polymorphicRemedy(t *Table, pp polyPair, flags, others []string, complete bool) string {
	var parts []string
	if len(flags) > 0 {
		parts = append(parts, "fill it from each type's parent: plan, backfill, copy and verify with "+strings.Join(flags, " "))
	}
	if !complete {
		example := fmt.Sprintf("%s.%s=<table>.id when %s=<Type>", t.Name(), db.QuoteIfNeeded(pp.idCol), db.QuoteIfNeeded(pp.typeCol))
		if pp.contentType != nil {
			example = fmt.Sprintf("%s.%s=<app_label>_<model>.id when %s=<app_label>.<model>", t.Name(), db.QuoteIfNeeded(pp.idCol), db.QuoteIfNeeded(pp.typeCol))
		}
		parts = append(parts, fmt.Sprintf("list the types with SELECT DISTINCT %s FROM %s and add one --relation %s per type",
			db.Ident(pp.typeCol), t.Name().Quoted(), shellQuote(example)))
	}
	if len(others) > 0 {
		parts = append(parts, "rows of "+strings.Join(others, ", ")+" get no tenant that way (backfill lists them as orphans)")
	}
	return strings.Join(parts, "; ")
}
