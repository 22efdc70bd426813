package plan

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// relation is a parsed --relation: child.col=parent.col, or composite
// child.(a,b)=parent.(x,y). Table parts are kept as quoted SQL so the
// catalog resolves them like any other name the user typed.
type relation struct {
	child, parent         string
	childCols, parentCols []string
	// whenColumn and whenValue are the type test of a polymorphic branch
	// ("... when commentable_type=Post"); "" for a plain relation.
	whenColumn, whenValue string
}

// parseRelation reads one --relation value.
func parseRelation(s string) (relation, error) {
	edge, cond, hasWhen := cutWhen(s)
	r, err := parseEdge(s, edge)
	if err != nil || !hasWhen {
		return r, err
	}
	if len(r.childCols) != 1 {
		return relation{}, fmt.Errorf("--relation %q: a polymorphic branch joins one id column", s)
	}
	col, val, ok := cutOutsideQuotes(cond, '=')
	parts, perr := db.ParseIdentifierPath(strings.TrimSpace(col))
	if !ok || perr != nil || len(parts) != 1 {
		return relation{}, fmt.Errorf("--relation %q: expected ... when type_column=Value (for example when commentable_type=Post)", s)
	}
	r.whenColumn = parts[0]
	if r.whenValue, err = parseValue(val); err != nil {
		return relation{}, fmt.Errorf("--relation %q: %w", s, err)
	}
	return r, nil
}

// cutWhen splits "edge when condition" at the word when (any case,
// outside quotes).
func cutWhen(s string) (string, string, bool) {
	in := byte(0)
	for i := 0; i < len(s); i++ {
		switch {
		case in != 0:
			if s[i] == in {
				in = 0
			}
		case s[i] == '"' || s[i] == '\'':
			in = s[i]
		case i+6 <= len(s) && strings.EqualFold(s[i:i+6], " when "):
			return s[:i], s[i+6:], true
		}
	}
	return s, "", false
}

// parseValue reads the value of a type test: bare (Post, Admin::Post,
// blog.post) or as an SQL string literal ('Post').
func parseValue(v string) (string, error) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "'") {
		if len(v) < 2 || !strings.HasSuffix(v, "'") {
			return "", fmt.Errorf("unterminated value %s", v)
		}
		v = strings.ReplaceAll(v[1:len(v)-1], "''", "'")
	}
	if v == "" {
		return "", fmt.Errorf("empty type value")
	}
	return v, nil
}

// parseEdge reads child.col=parent.col of the --relation value s.
func parseEdge(s, edge string) (relation, error) {
	left, right, ok := cutOutsideQuotes(edge, '=')
	if !ok {
		return relation{}, fmt.Errorf("--relation %q: expected child_table.column=parent_table.column", s)
	}
	var r relation
	var err error
	if r.child, r.childCols, err = parseSide(left); err != nil {
		return relation{}, fmt.Errorf("--relation %q: %w", s, err)
	}
	if r.parent, r.parentCols, err = parseSide(right); err != nil {
		return relation{}, fmt.Errorf("--relation %q: %w", s, err)
	}
	if len(r.childCols) != len(r.parentCols) {
		return relation{}, fmt.Errorf("--relation %q: %d column(s) on the left, %d on the right", s, len(r.childCols), len(r.parentCols))
	}
	return r, nil
}

// parseSide splits "schema.table.col" or "table.(a,b)" into a quoted table
// name and its columns.
func parseSide(s string) (string, []string, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, ")") {
		i := lastOutsideQuotes(s, '(')
		if i < 1 || s[i-1] != '.' {
			return "", nil, fmt.Errorf("%q: expected table.(col1, col2)", s)
		}
		table, err := db.ParseIdentifierPath(s[:i-1])
		if err != nil {
			return "", nil, err
		}
		var cols []string
		for _, c := range splitOutsideQuotes(s[i+1:len(s)-1], ',') {
			p, err := db.ParseIdentifierPath(c)
			if err != nil || len(p) != 1 {
				return "", nil, fmt.Errorf("%q: bad column name %q", s, c)
			}
			cols = append(cols, p[0])
		}
		return db.Ident(table...), cols, checkTableParts(s, table)
	}
	parts, err := db.ParseIdentifierPath(s)
	if err != nil {
		return "", nil, err
	}
	if len(parts) < 2 {
		return "", nil, fmt.Errorf("%q: expected table.column", s)
	}
	table := parts[:len(parts)-1]
	return db.Ident(table...), parts[len(parts)-1:], checkTableParts(s, table)
}

func checkTableParts(s string, table []string) error {
	if len(table) < 1 || len(table) > 2 {
		return fmt.Errorf("%q: expected [schema.]table.column", s)
	}
	return nil
}

// declare turns a relation into a foreign key of the catalog, checking
// that the tables and columns exist.
func declare(cat *schema.Catalog, raw string) (schema.ForeignKey, error) {
	r, err := parseRelation(raw)
	if err != nil {
		return schema.ForeignKey{}, err
	}
	child, err := cat.Resolve(r.child)
	if err != nil {
		return schema.ForeignKey{}, fmt.Errorf("--relation %q: %w", raw, err)
	}
	parent, err := cat.Resolve(r.parent)
	if err != nil {
		return schema.ForeignKey{}, fmt.Errorf("--relation %q: %w", raw, err)
	}
	for _, side := range []struct {
		t    *schema.Table
		cols []string
	}{{child, r.childCols}, {parent, r.parentCols}} {
		for _, c := range side.cols {
			if side.t.Column(c) == nil {
				return schema.ForeignKey{}, fmt.Errorf("--relation %q: table %s has no column %s", raw, side.t.Name, db.QuoteIfNeeded(c))
			}
		}
	}
	for i, c := range r.childCols {
		ct, pt := child.Column(c).Type, parent.Column(r.parentCols[i]).Type
		if !comparableTypes(ct, pt) {
			return schema.ForeignKey{}, fmt.Errorf("--relation %q: %s.%s is %s but %s.%s is %s: the two cannot be joined; name columns of the same type (or fix the column's type)",
				raw, child.Name, db.QuoteIfNeeded(c), ct, parent.Name, db.QuoteIfNeeded(r.parentCols[i]), pt)
		}
	}
	fk := schema.ForeignKey{
		Table: child.Name, Columns: r.childCols,
		RefTable: parent.Name, RefColumns: r.parentCols,
		OnDelete: "NO ACTION", OnUpdate: "NO ACTION", Declared: true,
	}
	if r.whenColumn != "" {
		if fk.When, err = condition(cat, child, r); err != nil {
			return schema.ForeignKey{}, fmt.Errorf("--relation %q: %w", raw, err)
		}
	}
	return fk, nil
}

// condition is the type test of a polymorphic branch. When the type
// column references a content-type table (Django), the value must be
// app_label.model, and one of the table's rows when they were read.
func condition(cat *schema.Catalog, child *schema.Table, r relation) (*schema.Condition, error) {
	col := child.Column(r.whenColumn)
	if col == nil {
		return nil, fmt.Errorf("table %s has no column %s", child.Name, db.QuoteIfNeeded(r.whenColumn))
	}
	c := &schema.Condition{Column: col.Name, Value: r.whenValue}
	ct := contentTypeKey(cat, child, col.Name)
	if ct == nil {
		return c, nil
	}
	app, model, ok := strings.Cut(r.whenValue, ".")
	if !ok || app == "" || model == "" {
		return nil, fmt.Errorf("%s references the content types in %s: name the type as app_label.model (for example blog.post)", col.Name, ct.Table)
	}
	ct.AppLabel, ct.Model = app, model
	if rows, read := cat.ContentTypes[ct.Table]; read && !slices.Contains(slices.Collect(maps.Values(rows)), r.whenValue) {
		return nil, fmt.Errorf("%s has no content type %s (app_label %q, model %q)", ct.Table, r.whenValue, app, model)
	}
	c.ContentType = ct
	return c, nil
}

// contentTypeKey is the content-type table column col of t references
// (without a row yet), or nil.
func contentTypeKey(cat *schema.Catalog, t *schema.Table, col string) *schema.ContentType {
	for _, fk := range t.ForeignKeys {
		if fk.Declared || len(fk.Columns) != 1 || fk.Columns[0] != col {
			continue
		}
		if p := cat.Table(fk.RefTable); p != nil && schema.IsContentTypeTable(p) {
			return &schema.ContentType{Table: p.Name, Key: fk.RefColumns[0]}
		}
	}
	return nil
}

// cutOutsideQuotes splits s at the first sep not inside double quotes.
func cutOutsideQuotes(s string, sep byte) (string, string, bool) {
	in := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			in = !in
		case s[i] == sep && !in:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func lastOutsideQuotes(s string, c byte) int {
	in, last := false, -1
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			in = !in
		case s[i] == c && !in:
			last = i
		}
	}
	return last
}

func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	for {
		a, b, ok := cutOutsideQuotes(s, sep)
		out = append(out, a)
		if !ok {
			return out
		}
		s = b
	}
}

// comparableTypes reports whether values of two column types can be joined
// with =, as a foreign key between them would need: the same type, or two
// of the integer/numeric family, or two of the character family.
func comparableTypes(a, b string) bool {
	family := func(t string) string {
		switch {
		case t == "smallint" || t == "integer" || t == "bigint" || strings.HasPrefix(t, "numeric"):
			return "number"
		case t == "text" || strings.HasPrefix(t, "character"):
			return "text"
		}
		return t
	}
	return a == b || family(a) == family(b)
}
