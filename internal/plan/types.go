// Package plan decides, for every table of the source catalog, how it belongs
// to a tenant and what it becomes on Citus: the tenant root, a table that
// already references it (direct), one that reaches it only through a chain of
// foreign keys (nested, which gets a tenant column that backfill fills), a
// reference table, or an excluded one. It checks the Citus rules that would
// otherwise fail at migration time or at runtime, and renders the target
// schema as SQL.
//
// Build (or FromCatalog) classifies, and Keys and ForeignKeys give the
// target form of each key: plan only decides. Package ddl turns a plan into
// the target's statements and applies them; package planview shows a plan
// as text or JSON.
//
// Choices worth knowing:
//
//   - Paths are shortest first, NOT NULL keys before nullable ones, then
//     the key with the fewest NULLs on the source, ties broken by parent
//     name, then constraint name (ambiguous_path); every other route is
//     kept with why it lost (Alternatives), the NOT NULL ones as AltPaths
//     for verify. A table with a key to the root's key is direct even when
//     a longer path exists. --relation and --via pin a path (pins.go); a
//     polymorphic association declared per type gives one path per type
//     (Branches).
//   - Problems the target SQL fixes by itself (keys and foreign keys made
//     composite, unique partial and expression indexes given the tenant
//     column in front of their expressions and WHERE clause, unsupported
//     ON DELETE/UPDATE actions replaced by NO ACTION, foreign keys dropped
//     because they cross tenants or point at excluded tables, indexes on the
//     tenant column alone left out because a key starting with it covers
//     them) are non-blocking: they inform. A nullable tenant path is
//     non-blocking too: backfill reports the rows without a tenant.
//   - A table without a primary key is blocking, of any kind: copy resumes
//     by primary-key ranges and verify matches rows by key. --exclude it or
//     give it a key.
//   - Blocking too: tenant column types that differ from the root key's,
//     EXCLUDE constraints without the tenant column, reference tables (forced by --reference) with keys to
//     distributed tables, partitioned tables without a path, foreign-key
//     cycles of NOT NULL, non-deferrable keys, and on the target a Citus
//     coordinator without workers.
package plan

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// Kind is what a table becomes.
type Kind string

// Table kinds.
const (
	Root      Kind = "root"      // the tenant table, distributed by its key
	Direct    Kind = "direct"    // has a column referencing the root
	Nested    Kind = "nested"    // reaches the root through an FK chain; gets a tenant column
	Reference Kind = "reference" // no path to the root: a Citus reference table
	Excluded  Kind = "excluded"  // left out by the user
)

// Distributed reports whether tables of this kind are distributed by tenant.
func (k Kind) Distributed() bool { return k == Root || k == Direct || k == Nested }

// Config is what the user says about the tenant. Names are as typed in SQL
// (unquoted parts fold to lower case; quoted parts keep case).
type Config struct {
	// TenantTable is the tenant root, e.g. "mtdjango_store". Required.
	TenantTable string `json:"tenant_table"`
	// TenantColumn names the tenant column added to nested tables. Default:
	// the most common existing FK column name to the root, else
	// "<root table>_id".
	TenantColumn string `json:"tenant_column,omitempty"`
	// Relations are edges the catalog lacks: "child.col=parent.col" (names
	// may be schema-qualified and quoted; composite as "c.(a,b)=p.(x,y)").
	// A branch of a polymorphic association adds its type test:
	// "comments.commentable_id=posts.id when commentable_type=Post", one
	// per type (Django: "... when content_type_id=blog.post"). A table
	// with declared relations is filled through them when they reach the
	// tenant, whatever the catalog's keys.
	Relations []string `json:"relations,omitempty"`
	// Via pins the column a table is filled through: "child.column" (or
	// "child.(a,b)"), naming the columns of a foreign key of the catalog
	// or of a --relation. The table's path then starts with that key,
	// even when another is shorter or has fewer NULLs.
	Via []string `json:"via,omitempty"`
	// References forces tables to be reference tables.
	References []string `json:"references,omitempty"`
	// Excludes leaves tables out of the migration.
	Excludes []string `json:"excludes,omitempty"`
	// Schemas limits introspection; default every non-system schema.
	Schemas []string `json:"schemas,omitempty"`
}

// Plan is the decision for every table.
type Plan struct {
	Config Config
	// Root is the tenant table; RootKey its single-column key and KeyType
	// that column's exact type (tenant columns must match it for colocation).
	Root    *Table
	RootKey string
	KeyType string
	// TenantColumn is the name given to new tenant columns.
	TenantColumn string
	// Tables in dependency order: every table after the tables it
	// references (cycles broken where a nullable FK allows), so copying
	// and backfilling in this order satisfies foreign keys.
	Tables  []*Table
	Catalog *schema.Catalog
	// Cycles are the foreign-key rings among the tables and the keys set
	// aside to order them (copy and backfill load a ring's rows with those
	// keys deferred or unchecked).
	Cycles []schema.Cycle
	// Objects is the inventory: every schema object of the source (tables
	// too) and what becomes of it, in creation order by kind, then name.
	Objects     []*Object
	objectIndex map[string]*Object
	target      *TargetObjects
}

// Table is the decision for one table.
type Table struct {
	Source *schema.Table
	Kind   Kind
	// TenantColumn holds the tenant value: the root's key for the root, the
	// existing referencing column for direct tables, the (new) column for
	// nested ones; "" for reference and excluded tables.
	TenantColumn string
	// HasTenantColumn is true when TenantColumn already exists on the
	// source (always for root and direct; for nested only after backfill
	// added it).
	HasTenantColumn bool
	// Path is the chosen route to the root, hop by hop starting at this
	// table (empty for root, reference and excluded). For direct tables it
	// is the single hop to the root.
	Path []Hop
	// AltPaths are other non-nullable routes; verify checks they agree.
	AltPaths [][]Hop
	// Branches are the paths of a table filled through a polymorphic
	// association, one per declared type (each first hop has a When);
	// Path is the first of them. Nil for any other table.
	Branches [][]Hop
	// Alternatives are the other candidate paths to the tenant, each with
	// why it lost to Path, for people choosing --via.
	Alternatives []Alternative
	// Pinned names the flag that fixed the path ("--via t.col",
	// "--relation"), "" when the plan chose it.
	Pinned   string
	Problems []Problem
	// Forced is true when the kind comes from --reference or --exclude
	// rather than from the foreign keys.
	Forced bool
	// Django is true for one of Django's own tables (django_*, auth_*) of a
	// Django database: a reference table whatever its foreign keys say
	// (a problem with code django_table says why).
	Django bool
}

// Hop is one foreign-key step: rows of From reference rows of To through
// FromColumns = ToColumns.
type Hop struct {
	From        schema.Name
	FromColumns []string
	To          schema.Name
	ToColumns   []string
	Constraint  string // FK name; "" for a declared relation
	Nullable    bool   // some FromColumns may be NULL
	Declared    bool   // from --relation
	// NullFrac is the fraction of From's rows with a NULL in FromColumns
	// (the largest of the columns'), when NullsKnown.
	NullFrac   float64
	NullsKnown bool
	// When is the type test of a polymorphic branch: only rows of From
	// whose type column holds that value follow this hop.
	When *schema.Condition
}

// Alternative is a candidate path that was not chosen, and why.
type Alternative struct {
	Path   []Hop
	Reason string
}

// Problem is something that would fail on Citus or lose tenancy, with what
// to do about it.
type Problem struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Remedy   string `json:"remedy"`
	Blocking bool   `json:"blocking"`
}

// Name is the table's name.
func (t *Table) Name() schema.Name { return t.Source.Name }

// FirstHops are the hops a nested table is filled through: one per branch
// of a polymorphic association, else the first hop of its path.
func (t *Table) FirstHops() []Hop {
	if len(t.Branches) > 0 {
		out := make([]Hop, len(t.Branches))
		for i, b := range t.Branches {
			out[i] = b[0]
		}
		return out
	}
	if len(t.Path) == 0 {
		return nil
	}
	return []Hop{t.Path[0]}
}

// Parent is the first hop of the path: where a nested table's tenant value
// comes from (the parent already has it when filled in plan order). A
// polymorphic table has one per branch: see FirstHops.
func (t *Table) Parent() (Hop, bool) {
	if len(t.Path) == 0 {
		return Hop{}, false
	}
	return t.Path[0], true
}

// Table returns the plan of the table called name, or nil.
func (p *Plan) Table(name schema.Name) *Table {
	for _, t := range p.Tables {
		if t.Source.Name == name {
			return t
		}
	}
	return nil
}

// OfKind returns the tables of the given kinds, in plan order.
func (p *Plan) OfKind(kinds ...Kind) []*Table {
	var out []*Table
	for _, t := range p.Tables {
		for _, k := range kinds {
			if t.Kind == k {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// Distributed returns root, direct and nested tables in plan order.
func (p *Plan) Distributed() []*Table { return p.OfKind(Root, Direct, Nested) }

// Blocking returns every blocking problem, by table: a schema object's
// count for the table it belongs to, or for the tenant table when it
// belongs to none.
func (p *Plan) Blocking() map[schema.Name][]Problem {
	out := map[schema.Name][]Problem{}
	for _, t := range p.Tables {
		for _, pr := range t.Problems {
			if pr.Blocking {
				out[t.Source.Name] = append(out[t.Source.Name], pr)
			}
		}
	}
	for _, o := range p.Objects {
		for _, pr := range o.Problems {
			if pr.Blocking {
				n := p.Root.Name()
				if o.Table != nil {
					n = *o.Table
				}
				out[n] = append(out[n], pr)
			}
		}
	}
	return out
}

// Included are the tables the target gets (all but the excluded), in plan
// order.
func (p *Plan) Included() []*Table {
	var out []*Table
	for _, t := range p.Tables {
		if t.Kind != Excluded {
			out = append(out, t)
		}
	}
	return out
}

// UsedTypes are the user-defined types the tables' columns use.
func (p *Plan) UsedTypes(tables []*Table) []*schema.Type {
	var out []*schema.Type
	for _, ty := range p.Catalog.Types {
		if len(TablesUsing(tables, ty)) > 0 {
			out = append(out, ty)
		}
	}
	return out
}

// TablesUsing lists the tables with a column of type ty (or an array of
// it). The catalog is read with an empty search path, so format_type
// prints user types schema-qualified, the way Name.String does.
func TablesUsing(tables []*Table, ty *schema.Type) []*Table {
	var out []*Table
	for _, t := range tables {
		for _, c := range t.Source.Columns {
			if strings.TrimSuffix(c.Type, "[]") == ty.Name.String() {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// TenantValueError: tenant values given by the user that are not values of
// the tenant key's type. Nothing was done.
type TenantValueError struct {
	Values []string // the first few invalid ones
	Type   string   // the tenant key's type
	Key    string   // the tenant key, table.column
}

func (e *TenantValueError) Error() string {
	quoted := make([]string, len(e.Values))
	for i, v := range e.Values {
		quoted[i] = strconv.Quote(v)
	}
	return fmt.Sprintf("tenant value %s is not a valid %s (the type of %s): check --tenants / --tenants-file; nothing was done",
		strings.Join(quoted, ", "), e.Type, e.Key)
}

// CheckTenants makes sure every value is a value of the tenant key's type,
// before any work uses them; the database connected to by q (the source)
// does the parsing.
func (p *Plan) CheckTenants(ctx context.Context, q db.Execer, values []string) error {
	bad, err := db.InvalidValues(ctx, q, p.KeyType, values, 5)
	if err != nil {
		return fmt.Errorf("checking the tenant values: %w", err)
	}
	if len(bad) > 0 {
		return &TenantValueError{Values: bad, Type: p.KeyType, Key: p.Root.Name().String() + "." + db.QuoteIfNeeded(p.RootKey)}
	}
	return nil
}
