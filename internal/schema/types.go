// Package schema reads a PostgreSQL catalog into plain Go values: tables,
// columns, keys, indexes, foreign keys, check constraints, sequences, types
// and size estimates, and the other schema objects (extensions, collations,
// functions, views, triggers, policies, comments, grants: Objects), and
// builds the foreign-key graph over the tables (topological order, cycles).
//
// It only reads. Everything above it (the tenant plan, backfill, copy,
// verify) works from these values so that the catalog is queried once.
package schema

import (
	"github.com/tenantmover/tenantmover/internal/db"
)

// Name is a schema-qualified relation name.
type Name = db.QualifiedName

// Catalog is every user table of the schemas read.
type Catalog struct {
	Tables []*Table // sorted by name
	// SearchPath is the source's current_schemas(false) at load time; an
	// unqualified table name resolves to the first of these holding it.
	SearchPath []string
	// Sequences are the sequences of the schemas read and those owned by
	// their columns, sorted by name.
	Sequences []*Sequence
	// Types are the user-defined types the tables' columns use (element
	// types for arrays) and the other user types of the schemas read,
	// sorted by name.
	Types []*Type
	// Objects are the other schema objects (extensions, views, functions,
	// triggers, policies, comments, grants, ...).
	Objects Objects
	// ContentTypes are the rows of small content-type tables (Django's
	// django_content_type: id, app_label, model), by table, then by key
	// as text: "blog.post".
	ContentTypes map[Name]map[string]string
	byName       map[Name]*Table
}

// Type is a user-defined type a column uses.
type Type struct {
	Name     Name
	Identity string // pg_identify_object's, as comments name it
	// Kind is "enum", "domain", "composite", "range", "extension" (the type
	// comes with an extension, named in Extension) or "other" (base types
	// from C code): the target needs it before its tables.
	Kind      string
	Labels    []string // enum labels in order
	Extension string
	// Domain is the domain's base type, NotNull, Default and Checks
	// (pg_get_constraintdef).
	BaseType string
	NotNull  bool
	Default  string
	Checks   []string
	// Attributes are a composite type's fields in order.
	Attributes []Attribute
	// Range is a range type's definition.
	Range *Range
	// DependsOn are the user types and functions it needs first.
	DependsOn []ObjectRef
}

// Attribute is one field of a composite type.
type Attribute struct {
	Name      string
	Type      string // format_type, schema-qualified
	Collation string // quoted and qualified; "" for the type's default
}

// Range is what CREATE TYPE ... AS RANGE needs: the subtype and the
// non-default options, names quoted and qualified ("" when default).
type Range struct {
	Subtype, Opclass, Collation, Canonical, SubtypeDiff, Multirange string
}

// Sequence is one sequence with the options needed to recreate it.
type Sequence struct {
	Name                              Name
	Type                              string // "bigint", "integer", "smallint"
	Start, Increment, Min, Max, Cache int64
	Cycle                             bool
	// OwnedBy is the column owning the sequence (serial: deptype a,
	// identity: deptype i), nil when free-standing.
	OwnedBy  *Name
	OwnedCol string
	Identity bool // the sequence of an identity column
}

// Partition is one partition of a partitioned table.
type Partition struct {
	Name  Name
	Bound string // pg_get_expr(relpartbound): "FOR VALUES FROM (...) TO (...)"
}

// Table is one ordinary or partitioned table.
type Table struct {
	Name        Name
	OID         uint32
	Partitioned bool
	// PartitionKey is pg_get_partkeydef for a partitioned table
	// ("RANGE (at)"), and Partitions its direct partitions by name.
	PartitionKey string
	Partitions   []Partition
	Columns      []Column // in attnum order, dropped columns omitted
	PrimaryKey   *Key     // nil when the table has none
	Uniques      []Key    // unique constraints (by name), then bare unique indexes (by name)
	Indexes      []Index  // every other index (not backing a constraint)
	ForeignKeys  []ForeignKey
	Checks       []Check
	// Exclusions are EXCLUDE constraints (Definition is pg_get_constraintdef).
	Exclusions []Check
	// ReplicaIdentity is pg_class.relreplident: d(efault), n(othing), f(ull), i(ndex).
	ReplicaIdentity string
	// EstimatedRows is pg_class.reltuples, summed over the partitions of a
	// partitioned table. A table (or partition) whose estimate is missing,
	// because it was never analyzed (reltuples -1 on PostgreSQL 14+, as
	// Django's migrate leaves new tables) or was analyzed empty and has
	// rows since, is counted when it is at most CountRowsMaxBytes, and
	// is 0 when it is empty; otherwise EstimatedRows is UnknownRows.
	EstimatedRows int64
	Bytes         int64 // pg_total_relation_size
}

// UnknownRows is the EstimatedRows of a table whose row count is not
// known: show it as unknown, never as 0, and count it if a total is needed.
const UnknownRows = -1

// CountRowsMaxBytes is the largest table (or partition) Load counts when its
// row estimate is missing: counting 8 MiB takes milliseconds.
const CountRowsMaxBytes = 8 << 20

// RowsKnown reports whether EstimatedRows holds an estimate.
func (t *Table) RowsKnown() bool { return t.EstimatedRows >= 0 }

// Column is one column of a table.
type Column struct {
	Name string
	Num  int16
	// Type is format_type(atttypid, atttypmod), schema-qualified when not
	// a pg_catalog type: "bigint", "character varying(255)", "public.\"Mood\"".
	Type    string
	TypeOID uint32
	// Collation is the column's collation when not its type's default,
	// quoted and qualified ("public.ci"); "" otherwise.
	Collation string
	NotNull   bool
	// Default is the default expression ("" when none), names in it
	// schema-qualified: "nextval('public.store_id_seq'::regclass)". For a
	// generated column it is the generation expression.
	Default  string
	Identity string // "", "a" (ALWAYS) or "d" (BY DEFAULT)
	// Generated is "s" for a stored generated column (never copied).
	Generated string
	// Sequence is the sequence owned by this column (serial or identity),
	// nil when none.
	Sequence *Name
	// NullFrac is the fraction of rows where the column is NULL, when
	// NullsKnown: 0 for NOT NULL columns, pg_stats.null_frac for analyzed
	// tables, counted for small never-analyzed ones. Plan breaks ties
	// between equally short tenant paths with it.
	NullFrac   float64
	NullsKnown bool
	// Values are the distinct values of a column that looks like the type
	// column of a polymorphic association (text named *_type, or a key to
	// a content-type table), as text: pg_stats.most_common_vals, or read
	// from small never-analyzed tables. ValuesComplete says they are all
	// of them. Plan writes the --relation flags of such pairs from them.
	Values         []string
	ValuesComplete bool
}

// Key is a primary key or a unique constraint/index.
type Key struct {
	Name         string   // constraint or index name
	Columns      []string // key columns in key order; empty for expression indexes
	IsConstraint bool     // a constraint (vs a bare unique index)
	// Definition is pg_get_constraintdef or pg_get_indexdef, for output.
	Definition string
	// Predicate is the WHERE clause of a partial index (pg_get_expr of
	// indpred) and Expression is true for an index on an expression: the
	// tenant column goes in front of them (IndexParts) on the target.
	Predicate  string
	Expression bool
	// PlainColumns are the key's plain (non-expression) columns, also for
	// expression indexes: (store_id, lower(email)) has PlainColumns
	// [store_id], which is enough for Citus to accept it.
	PlainColumns []string
	// IndexParts splits the definition of a bare unique index (zero for
	// constraints).
	IndexParts
}

// IndexParts is pg_get_indexdef of an index cut where the target rewrites
// it: CREATE [UNIQUE] INDEX name ON table USING Method (Elements)Options.
// Elements is "" when the definition could not be cut (then only the whole
// Definition is known).
type IndexParts struct {
	Method string // the access method: btree, gist, gin, ...
	// Elements are the key columns and expressions with their collations,
	// operator classes and orderings, as pg_get_indexdef prints them:
	// `lower(email) text_pattern_ops, "Code" COLLATE "C" DESC`.
	Elements string
	// Options is what follows the key list, with its leading space:
	// ` INCLUDE (a) NULLS NOT DISTINCT WITH (fillfactor='90') WHERE (b > 0)`.
	Options string
}

// Index is a non-unique index, kept for the target schema.
type Index struct {
	Name       string
	Columns    []string // key columns in order; empty for expression indexes
	Definition string   // pg_get_indexdef
	Predicate  string   // the WHERE clause of a partial index, "" when none
	Included   []string // INCLUDE columns
	IndexParts
}

// ForeignKey is a reference from Table.Columns to RefTable.RefColumns, either
// read from the catalog or declared by the user (Declared) because the
// application enforces it without a catalog constraint.
type ForeignKey struct {
	Name       string
	Table      Name
	Columns    []string
	RefTable   Name
	RefColumns []string
	// OnDelete / OnUpdate are the SQL actions: "NO ACTION", "CASCADE",
	// "SET NULL", "SET DEFAULT", "RESTRICT".
	OnDelete, OnUpdate string
	Deferrable         bool
	InitiallyDeferred  bool
	Validated          bool
	Declared           bool // from --relation, not in the catalog
	// When restricts a declared relation to the rows of one type of a
	// polymorphic association (nil: every row): Rails' payable_type =
	// 'Invoice' next to payable_id, Django's content_type_id next to
	// object_id. Only declared relations have one.
	When *Condition
}

// Condition is the type test of one branch of a polymorphic association:
// rows whose Column holds Value reference this relation's parent.
type Condition struct {
	Column string // the type column of the referencing table
	// Value is what Column holds for this parent: a class name ("Invoice")
	// or, when ContentType is set, "app_label.model".
	Value string
	// ContentType is set when Column references a Django content-type
	// table: the rows match whose Column is the key of the content type
	// with that app_label and model (ids differ between databases, so the
	// name is what the user writes).
	ContentType *ContentType
}

// ContentType is a content-type table (Django's django_content_type) and
// one of its rows by name.
type ContentType struct {
	Table           Name
	Key             string // the column Condition.Column references
	AppLabel, Model string
}

// Check is a check constraint.
type Check struct {
	Name       string
	Definition string // pg_get_constraintdef, e.g. "CHECK ((price > 0))"
}

// Sequence returns the sequence called name, or nil.
func (c *Catalog) Sequence(name Name) *Sequence {
	for _, s := range c.Sequences {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Table returns the table called name, or nil.
func (c *Catalog) Table(name Name) *Table { return c.byName[name] }

// Column returns the column called name, or nil.
func (t *Table) Column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// ColumnNames lists the table's columns that hold data to copy (generated
// columns excluded), in attnum order.
func (t *Table) ColumnNames() []string {
	var names []string
	for _, c := range t.Columns {
		if c.Generated == "" {
			names = append(names, c.Name)
		}
	}
	return names
}
