package phase

import (
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
)

// Column is a key column with its exact type, for casting bounds back from
// their text form.
type Column struct {
	Name string
	Type string
}

// Range is a half-open range [Lo, Hi) of a table's key, each bound in the
// text form of every key column (the form checkpoints store): Lo is the
// first key in the range, Hi the first key past it. A nil Lo starts below
// every key and a nil Hi ends above every key, so the zero Range is every
// key. Every unit of every phase that splits a table is a Range, and the
// units of a table partition its keys (see Partition): a key belongs to
// exactly one of them. Rows compare as PostgreSQL row values, column by
// column in key order, so composite, uuid and text keys all work.
type Range struct {
	Lo, Hi []string
}

// Partition cuts the key space at ascending cut points into len(cuts)+1
// ranges: [-inf, cuts[0]), [cuts[0], cuts[1]), ..., [cuts[n-1], +inf).
func Partition(cuts [][]string) []Range {
	out := make([]Range, 0, len(cuts)+1)
	var lo []string
	for _, c := range cuts {
		out = append(out, Range{Lo: lo, Hi: c})
		lo = c
	}
	return append(out, Range{Lo: lo})
}

// All reports whether the range holds every key.
func (r Range) All() bool { return r.Lo == nil && r.Hi == nil }

// Where is the SQL condition selecting the range's keys of the row
// expression key (see KeyExpr), with values rendered by v; "" for every
// key.
func (r Range) Where(expr string, key []Column, v *Values) string {
	var conds []string
	if r.Lo != nil {
		conds = append(conds, expr+" >= "+v.Key(key, r.Lo))
	}
	if r.Hi != nil {
		conds = append(conds, expr+" < "+v.Key(key, r.Hi))
	}
	return strings.Join(conds, " AND ")
}

// String shows the range for messages: [1, 500), [(1, a), +inf).
func (r Range) String() string {
	return "[" + boundText(r.Lo, "-inf") + ", " + boundText(r.Hi, "+inf") + ")"
}

func boundText(v []string, inf string) string {
	switch len(v) {
	case 0:
		if v == nil {
			return inf
		}
		return "()"
	case 1:
		return v[0]
	}
	return "(" + strings.Join(v, ", ") + ")"
}

// KeyExpr is the row expression of key's columns, qualified by alias when
// it is not "": "id", or (c."a", c."b") for a composite key.
func KeyExpr(alias string, key []Column) string {
	names := make([]string, len(key))
	for i, k := range key {
		names[i] = db.Ident(k.Name)
		if alias != "" {
			names[i] = alias + "." + names[i]
		}
	}
	if len(names) == 1 {
		return names[0]
	}
	return "(" + strings.Join(names, ", ") + ")"
}

// Values renders values into SQL, from their text form cast to the
// column's type: as bind parameters ($1::text::bigint) collected in Args,
// or, for COPY, which takes no parameters, as quoted literals
// ('42'::bigint).
type Values struct {
	literal bool
	Args    []any
}

// Params renders values as bind parameters.
func Params() *Values { return &Values{} }

// Literals renders values as quoted literals (COPY statements).
func Literals() *Values { return &Values{literal: true} }

// Of is value s of column c.
func (v *Values) Of(s string, c Column) string {
	if v.literal {
		return QuoteLiteral(s) + "::" + c.Type
	}
	v.Args = append(v.Args, s)
	return fmt.Sprintf("$%d::text::%s", len(v.Args), c.Type)
}

// Key is a key value matching KeyExpr: a value, or a row of values.
func (v *Values) Key(key []Column, vals []string) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = v.Of(vals[i], k)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// QuoteLiteral quotes s as an SQL string literal. Sessions run with
// standard_conforming_strings=on, where doubling quotes is the whole
// escaping.
func QuoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
