package schema

// Objects are the source's schema objects besides its tables (with their
// columns, keys, indexes, checks and foreign keys), its sequences and the
// types its columns use: what the target needs for the application to
// work, and what plan must account for. Load reads them for the schemas it
// reads, leaving out what an extension owns (pg_depend deptype 'e': CREATE
// EXTENSION brings it back), everything in tenantmover's own schema, and
// the triggers whose function lives there (backfill's fill triggers and
// cutover's write guard).
//
// Every object has an Identity: pg_identify_object's identity, quoted and
// schema-qualified as SQL wants it ("public.touch()", "audit on
// public.product"); a Comment or a Grant names its object the same way.
type Objects struct {
	// Schemas are the user schemas read, by name (public included).
	Schemas     []string
	Extensions  []*Extension  // by name, plpgsql included
	Collations  []*Collation  // by name
	Functions   []*Function   // functions, procedures and aggregates, by identity
	Views       []*View       // views and materialized views, by name
	Triggers    []*Trigger    // by table, then name
	Policies    []*Policy     // by table, then name
	RowSecurity []RowSecurity // the tables with row-level security enabled or forced, by name
	Comments    []*Comment    // by object
	Grants      []*Grant      // by object, then grantee
}

// ObjectRef names an object another one depends on: Type is
// pg_identify_object's type ("table", "view", "materialized view",
// "function", "procedure", "type"), Identity its identity.
type ObjectRef struct {
	Type     string
	Identity string
}

// Extension is one installed extension.
type Extension struct {
	Name    string
	Schema  string
	Version string
	// Requires are the extensions it depends on (created first).
	Requires []string
}

// Collation is one user-defined collation.
type Collation struct {
	Name     Name
	Identity string
	// Provider is "c" (libc), "i" (icu) or "d" (the database default).
	Provider      string
	Deterministic bool
	// Collate and CType are the libc locales; Locale the ICU locale and
	// Rules its ICU rules (PostgreSQL 16+).
	Collate, CType string
	Locale, Rules  string
}

// Function is one user-defined function, procedure or aggregate.
type Function struct {
	Identity string // "public.touch()", with argument types
	Name     Name
	// Kind is "function", "procedure", "aggregate" or "window".
	Kind     string
	Language string
	// Definition is pg_get_functiondef (CREATE OR REPLACE ...); "" for
	// aggregates, which it cannot show.
	Definition string
	Trigger    bool // returns trigger
	// SQLBody: a SQL-standard body (BEGIN ATOMIC or RETURN), which
	// PostgreSQL checks when it is created, whatever check_function_bodies.
	SQLBody bool
	// DependsOn are the relations, functions and user types it uses (as
	// recorded in pg_depend: its signature, and the objects a SQL-standard
	// body names).
	DependsOn []ObjectRef
	// UsedBy are the tables whose defaults, checks, generated columns or
	// indexes call it: it must exist before them.
	UsedBy []Name
}

// View is one view or materialized view.
type View struct {
	Name         Name
	Identity     string
	Materialized bool
	// Definition is pg_get_viewdef, names schema-qualified, without the
	// final semicolon.
	Definition string
	// Options are its reloptions ("security_barrier=true", "check_option=local").
	Options []string
	// AccessMethod of a materialized view when not heap; Indexes its
	// indexes (pg_get_indexdef); Populated whether it holds data.
	AccessMethod string
	Indexes      []string
	Populated    bool
	DependsOn    []ObjectRef
}

// Trigger is one user trigger on a table or view (not a foreign-key
// trigger, nor a partition's clone of its parent's trigger).
type Trigger struct {
	Identity string // "audit on public.product"
	Name     string
	Table    Name // the table (or partition, or view) it is on
	OnView   bool
	// Definition is pg_get_triggerdef (CREATE TRIGGER ..., or CREATE
	// CONSTRAINT TRIGGER ...).
	Definition string
	// Enabled is pg_trigger.tgenabled: O (origin, the default), D
	// (disabled), R (replica), A (always).
	Enabled string
	// Row is FOR EACH ROW (else FOR EACH STATEMENT); Truncate fires on
	// TRUNCATE; Constraint is a constraint trigger.
	Row, Truncate, Constraint bool
	Function                  string // the function's identity
}

// Fires reports whether the trigger fires on an ordinary session's writes,
// such as a copy's or a follower's: enabled, and not only for replicas
// (tgenabled O or A).
func (t Trigger) Fires() bool { return t.Enabled != "D" && t.Enabled != "R" }

// Policy is one row-level security policy.
type Policy struct {
	Identity   string // "tenant_isolation on public.product"
	Name       string
	Table      Name
	Permissive bool
	// Command is ALL, SELECT, INSERT, UPDATE or DELETE.
	Command string
	// Roles are the roles it applies to, "PUBLIC" for everyone.
	Roles []string
	// Using and WithCheck are the expressions ("" when absent).
	Using, WithCheck string
}

// RowSecurity is a table's ALTER TABLE ... ENABLE / FORCE ROW LEVEL
// SECURITY.
type RowSecurity struct {
	Table   Name
	Enabled bool
	Forced  bool
}

// Comment is one COMMENT ON.
type Comment struct {
	// Type is pg_identify_object's type of the object commented on
	// ("table", "table column", "view", "function", "trigger", "table
	// constraint", ...) and Identity its identity.
	Type     string
	Identity string
	// Table is the table, view or materialized view the object is or
	// belongs to (columns, constraints, indexes, triggers, policies);
	// nil for others.
	Table *Name
	Text  string
}

// Grant is one grantee's privileges on one object, as GRANT gives them.
type Grant struct {
	// Type is "table", "view", "materialized view", "sequence", "schema"
	// or "table column" (then Column is set and Identity is the table's).
	Type     string
	Identity string
	Column   string
	Table    *Name // the relation, nil for schemas
	// Grantee is the role, "PUBLIC" for everyone.
	Grantee    string
	Privileges []string // SELECT, INSERT, ... in aclexplode order
	Grantable  bool
}
