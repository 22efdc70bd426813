package db

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"
)

// Ident quotes a possibly schema-qualified identifier for SQL:
// Ident("Sales Ops", "Tenant") is "Sales Ops"."Tenant".
func Ident(parts ...string) string {
	return pgx.Identifier(parts).Sanitize()
}

// Idents quotes each name and joins them with ", ".
func Idents(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = Ident(n)
	}
	return strings.Join(q, ", ")
}

// QualifiedName is a schema-qualified relation name.
type QualifiedName struct {
	Schema string
	Name   string
}

// Quoted is the name quoted for use in SQL.
func (q QualifiedName) Quoted() string { return Ident(q.Schema, q.Name) }

// String shows the name as a user would type it in SQL: parts that need no
// quotes are bare, the others quoted; so public.store, "Sales Ops"."Tenant".
func (q QualifiedName) String() string {
	return QuoteIfNeeded(q.Schema) + "." + QuoteIfNeeded(q.Name)
}

// Literal is the name as a quoted SQL string literal of the quoted name,
// usable as a regclass argument: '"Sales Ops"."Tenant"'.
func (q QualifiedName) Literal() string {
	return "'" + strings.ReplaceAll(q.Quoted(), "'", "''") + "'"
}

// QuoteIfNeeded quotes an identifier only when PostgreSQL would otherwise
// fold or reject it.
func QuoteIfNeeded(name string) string {
	if name == "" || reservedWords[strings.ToLower(name)] {
		return Ident(name)
	}
	for i, r := range name {
		lowerLetter := r >= 'a' && r <= 'z' || r == '_'
		if !(lowerLetter || (i > 0 && (r >= '0' && r <= '9' || r == '$'))) {
			return Ident(name)
		}
	}
	return name
}

// ParseQualifiedName parses a relation name as typed in SQL: unquoted parts
// fold to lower case, quoted parts keep case and may contain dots, spaces and
// doubled quotes. A name without a schema gets defaultSchema.
func ParseQualifiedName(s, defaultSchema string) (QualifiedName, error) {
	parts, err := ParseIdentifierPath(s)
	if err != nil {
		return QualifiedName{}, err
	}
	switch len(parts) {
	case 1:
		return QualifiedName{Schema: defaultSchema, Name: parts[0]}, nil
	case 2:
		return QualifiedName{Schema: parts[0], Name: parts[1]}, nil
	}
	return QualifiedName{}, fmt.Errorf("%q: expected table or schema.table", s)
}

// ParseIdentifierPath splits a dotted SQL identifier path (a.b."C d") into
// its parts, applying SQL quoting and case folding.
func ParseIdentifierPath(s string) ([]string, error) {
	var parts []string
	rs := []rune(strings.TrimSpace(s))
	i := 0
	for {
		if i >= len(rs) {
			return nil, fmt.Errorf("%q: empty name", s)
		}
		var part strings.Builder
		if rs[i] == '"' {
			i++
			closed := false
			for i < len(rs) {
				if rs[i] == '"' {
					if i+1 < len(rs) && rs[i+1] == '"' {
						part.WriteRune('"')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				part.WriteRune(rs[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("%q: unterminated quoted name", s)
			}
			if part.Len() == 0 {
				return nil, fmt.Errorf("%q: zero-length quoted name", s)
			}
		} else {
			for i < len(rs) && rs[i] != '.' {
				if rs[i] == '"' || unicode.IsSpace(rs[i]) {
					return nil, fmt.Errorf("%q: names with spaces or quotes must be double-quoted, as in SQL", s)
				}
				part.WriteRune(unicode.ToLower(rs[i]))
				i++
			}
			if part.Len() == 0 {
				return nil, fmt.Errorf("%q: empty name", s)
			}
		}
		parts = append(parts, part.String())
		if i >= len(rs) {
			return parts, nil
		}
		if rs[i] != '.' {
			return nil, fmt.Errorf("%q: unexpected %q after quoted name", s, rs[i])
		}
		i++
	}
}

// reservedWords are keywords that cannot be bare column or table names.
var reservedWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`all analyse analyze and any array as asc asymmetric authorization binary both
		case cast check collate collation column concurrently constraint create cross current_catalog
		current_date current_role current_schema current_time current_timestamp current_user default
		deferrable desc distinct do else end except false fetch for foreign freeze from full grant group
		having ilike in initially inner intersect into is isnull join lateral leading left like limit
		localtime localtimestamp natural not notnull null offset on only or order outer overlaps placing
		primary references returning right select session_user similar some symmetric system_user table
		tablesample then to trailing true union unique user using variadic verbose when where window with`) {
		m[w] = true
	}
	return m
}()
