package schema

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
)

// NotFoundError says a table the user named is not in the catalog.
type NotFoundError struct {
	Input string
	// Candidates are tables of that name in other schemas, or whose name
	// differs only in case (the usual quoting mistake).
	Candidates []Name
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("table %s not found", e.Input)
	if len(e.Candidates) > 0 {
		var c []string
		for _, n := range e.Candidates {
			c = append(c, n.String())
		}
		msg += "; did you mean " + strings.Join(c, " or ") + "? (names with capitals or spaces need double quotes, as in SQL)"
	}
	return msg
}

// Resolve finds the table a user typed, as in SQL: unquoted parts fold to
// lower case; an unqualified name is looked up in the search path first,
// then in any schema when exactly one schema has it.
func (c *Catalog) Resolve(input string) (*Table, error) {
	n, err := db.ParseQualifiedName(input, "")
	if err != nil {
		return nil, err
	}
	if n.Schema != "" {
		if t := c.byName[n]; t != nil {
			return t, nil
		}
		return nil, &NotFoundError{Input: input, Candidates: c.similar(n)}
	}
	for _, s := range c.SearchPath {
		if t := c.byName[Name{Schema: s, Name: n.Name}]; t != nil {
			return t, nil
		}
	}
	var found []*Table
	for _, t := range c.Tables {
		if t.Name.Name == n.Name {
			found = append(found, t)
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	if len(found) > 1 {
		var names []string
		for _, t := range found {
			names = append(names, t.Name.String())
		}
		return nil, fmt.Errorf("table %s is ambiguous: qualify it with its schema (%s)", input, strings.Join(names, ", "))
	}
	return nil, &NotFoundError{Input: input, Candidates: c.similar(n)}
}

// similar lists tables whose name matches ignoring case and schema.
func (c *Catalog) similar(n Name) []Name {
	var out []Name
	for _, t := range c.Tables {
		if strings.EqualFold(t.Name.Name, n.Name) && (n.Schema == "" || strings.EqualFold(t.Name.Schema, n.Schema) || t.Name.Name == n.Name) {
			out = append(out, t.Name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return Less(out[i], out[j]) })
	return out
}

// Clone copies the catalog deeply enough that tables can be changed (for
// example given declared foreign keys) without touching the original.
func (c *Catalog) Clone() *Catalog {
	tables := make([]*Table, len(c.Tables))
	for i, t := range c.Tables {
		cp := *t
		cp.Columns = append([]Column(nil), t.Columns...)
		cp.Uniques = append([]Key(nil), t.Uniques...)
		cp.Indexes = append([]Index(nil), t.Indexes...)
		cp.ForeignKeys = append([]ForeignKey(nil), t.ForeignKeys...)
		cp.Checks = append([]Check(nil), t.Checks...)
		cp.Exclusions = append([]Check(nil), t.Exclusions...)
		cp.Partitions = append([]Partition(nil), t.Partitions...)
		if t.PrimaryKey != nil {
			pk := *t.PrimaryKey
			cp.PrimaryKey = &pk
		}
		tables[i] = &cp
	}
	out := NewCatalog(tables)
	out.SearchPath = append([]string(nil), c.SearchPath...)
	out.Sequences = c.Sequences // read-only
	out.Types = c.Types
	out.Objects = c.Objects // read-only
	out.ContentTypes = c.ContentTypes
	return out
}
