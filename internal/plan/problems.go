package plan

import (
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// Problem codes. Each names one way a migration onto Citus fails or loses
// tenancy; the comment says which Citus error it predicts, when it does.
const (
	// CodeNoPrimaryKey: backfill fills nested tables in primary-key
	// batches, so a nested table without a key blocks; copy splits tables
	// into primary-key ranges to resume after a crash, so any other table
	// without a key is copied in one chunk (informational).
	CodeNoPrimaryKey = "no_primary_key"
	// CodeKeyMadeComposite: a primary or unique key without the tenant
	// column; Citus refuses it ("Distributed relations cannot have UNIQUE,
	// EXCLUDE, or PRIMARY KEY constraints that do not include the partition
	// column"). The target SQL adds the tenant column, so it only informs.
	CodeKeyMadeComposite = "key_made_composite"
	// CodeIndexMadeComposite: a unique index on an expression or with a
	// WHERE clause that lacks the tenant column, which Citus refuses like
	// any unique key without it. The target puts the tenant column first
	// and keeps the expressions and the WHERE clause, so it only informs.
	CodeIndexMadeComposite = "unique_index_made_composite"
	// CodeUniqueWithoutTenant: a unique index on an expression or with a
	// WHERE clause, without the tenant column, whose definition the plan
	// could not rewrite.
	CodeUniqueWithoutTenant = "unique_without_tenant"
	// CodeRedundantTenantIndex: an index on the tenant column alone, on a
	// table whose target key (or another index) starts with the tenant
	// column; the target leaves the index out, so it only informs.
	CodeRedundantTenantIndex = "redundant_tenant_index"
	// CodeExclusionWithoutTenant: an EXCLUDE constraint without the tenant
	// column compared with =.
	CodeExclusionWithoutTenant = "exclusion_without_tenant"
	// CodeFKMadeComposite: a foreign key between distributed tables without
	// the tenant column; Citus refuses it ("cannot create foreign key
	// constraint ... Foreign keys are supported in two cases"). The target
	// SQL makes it composite, so it only informs.
	CodeFKMadeComposite = "fk_made_composite"
	// CodeFKCrossTenant: a foreign key whose referencing and referenced
	// tenant columns differ (rows may point at another tenant's rows);
	// Citus cannot enforce it, so the target drops it.
	CodeFKCrossTenant = "fk_cross_tenant"
	// CodeFKToExcluded: a foreign key to a table that stays behind;
	// Citus refuses it ("referenced table must be a distributed table or a
	// reference table"), so the target drops it.
	CodeFKToExcluded = "fk_to_excluded"
	// CodeFKActionUnsupported: ON DELETE SET NULL / SET DEFAULT or ON UPDATE
	// CASCADE / SET NULL / SET DEFAULT on a key that includes the tenant
	// column; Citus refuses them, so the target uses NO ACTION.
	CodeFKActionUnsupported = "fk_action_unsupported"
	// CodeReferenceToDistributed: a reference table with a foreign key to a
	// distributed table; Citus refuses it ("reference tables are not
	// supported as the referencing table of a foreign constraint").
	CodeReferenceToDistributed = "reference_to_distributed"
	// CodeManyToManyNotDistributed: a join table between a distributed table
	// and another, left undistributed; its key to the distributed table is
	// not enforced (older Citus: "consistency check on SPI tuple count
	// failed" at runtime; Citus 13: deletes leave orphans silently).
	CodeManyToManyNotDistributed = "many_to_many_not_distributed"
	// CodeUndeclaredRelation: a reference table has a column named like a
	// key of a distributed table (store_id) but no foreign key on it, as
	// Rails schemas often have; without --relation it is not distributed.
	CodeUndeclaredRelation = "undeclared_relation"
	// CodeNullablePath: the tenant path has a nullable key; rows with NULL
	// there get no tenant (backfill reports them as orphans).
	CodeNullablePath = "nullable_tenant_path"
	// CodeAmbiguousPath: several equally short paths lead to the root, as
	// often NULL; one was chosen by name, verify checks the others agree.
	CodeAmbiguousPath = "ambiguous_path"
	// CodePinnedPath: --via names a key whose parent never reaches the
	// tenant.
	CodePinnedPath = "pinned_path_unreachable"
	// CodePolymorphicParent: a declared polymorphic branch leads to a table
	// without a tenant.
	CodePolymorphicParent = "polymorphic_parent_without_tenant"
	// CodePolymorphic: a type column next to an id column without a
	// foreign key (Rails' *_type/*_id, Django's content_type_id/object_id):
	// the table's rows reach the tenant through it, which plan cannot see
	// without one --relation per type.
	CodePolymorphic = "polymorphic_association"
	// CodeTenantTypeMismatch: a tenant column whose type differs from the
	// root key's; colocation needs the exact same type.
	CodeTenantTypeMismatch = "tenant_type_mismatch"
	// CodeTenantColumnConflict: a nested table already has a column called
	// like the tenant column, of another type.
	CodeTenantColumnConflict = "tenant_column_conflict"
	// CodeFKCycle: tables that reference each other through NOT NULL,
	// non-deferrable keys: no load order satisfies them.
	CodeFKCycle = "fk_cycle"
	// CodePartitionedReference: a partitioned table with no path to the
	// tenant; Citus distributes partitioned tables only by hash ("distributing
	// partitioned tables in only supported for hash-distributed tables").
	CodePartitionedReference = "partitioned_reference"
	// CodeUserType: a column type tenantmover cannot recreate (composite,
	// range or base type from C code); it must exist on the target first.
	CodeUserType = "user_type"
	// CodeNoWorkers: the target Citus cluster has no active worker; Citus
	// refuses to create tables ("replication_factor (1) exceeds number of
	// worker nodes (0)", "There are no active worker nodes").
	CodeNoWorkers = "no_workers"
)

func noPrimaryKey(t *Table) Problem {
	add := fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (...), or ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", t.Name().Quoted())
	if t.Kind == Nested {
		return Problem{
			Code:     CodeNoPrimaryKey,
			Message:  fmt.Sprintf("%s has no primary key: backfill fills the tenant column in primary-key batches, so it cannot fill this table online", t.Name()),
			Remedy:   fmt.Sprintf("add a primary key on the source (%s), or leave the table out with --exclude %s", add, t.Name()),
			Blocking: true,
		}
	}
	return Problem{
		Code:    CodeNoPrimaryKey,
		Message: fmt.Sprintf("%s has no primary key: copy moves it in one chunk (a crash during it redoes the whole table) and verify names differing rows by their whole content", t.Name()),
		Remedy:  fmt.Sprintf("nothing to do for a small table; for a big one, add a primary key on the source (%s) so copy splits it into resumable ranges", add),
	}
}

func keyMadeComposite(t *Table, k schema.Key, primary bool, target []string) Problem {
	what := "unique key " + db.QuoteIfNeeded(k.Name)
	if primary {
		what = "primary key"
	}
	return Problem{
		Code: CodeKeyMadeComposite,
		Message: fmt.Sprintf("the %s (%s) of %s does not include the tenant column %s: Citus cannot enforce uniqueness across shards",
			what, readable(k.Columns), t.Name(), db.QuoteIfNeeded(t.TenantColumn)),
		Remedy: fmt.Sprintf("the target schema makes it (%s): unique within a tenant; nothing to do unless the application relies on global uniqueness", readable(target)),
	}
}

func indexMadeComposite(t *Table, k schema.Key) Problem {
	var why, kept []string
	if k.Expression {
		why, kept = append(why, "is on an expression"), append(kept, "expressions")
	}
	if k.Predicate != "" {
		why, kept = append(why, "has the WHERE clause "+k.Predicate), append(kept, "WHERE clause")
	}
	d := KeyDecision{Key: k, Changed: true}
	return Problem{
		Code: CodeIndexMadeComposite,
		Message: fmt.Sprintf("unique index %s on %s %s and does not include the tenant column %s: Citus cannot enforce uniqueness across shards (%s)",
			db.QuoteIfNeeded(k.Name), t.Name(), strings.Join(why, " and "), db.QuoteIfNeeded(t.TenantColumn), k.Definition),
		Remedy: fmt.Sprintf("the target schema creates it as UNIQUE (%s)%s: unique within a tenant, with the same %s; nothing to do unless the application relies on global uniqueness",
			d.IndexElements(t), k.Options, strings.Join(kept, " and ")),
	}
}

func redundantTenantIndex(t *Table, d IndexDecision) Problem {
	return Problem{
		Code: CodeRedundantTenantIndex,
		Message: fmt.Sprintf("index %s on %s (%s) is covered on the target by the %s (%s), which starts with the tenant column; the target schema leaves it out",
			db.QuoteIfNeeded(d.Index.Name), t.Name(), db.QuoteIfNeeded(t.TenantColumn), d.CoveredBy, readable(d.CoveringColumns)),
		Remedy: fmt.Sprintf("nothing to do: lookups by %s use the %s", db.QuoteIfNeeded(t.TenantColumn), d.CoveredBy),
	}
}

func uniqueWithoutTenant(t *Table, k schema.Key) Problem {
	why := "is on an expression"
	if !k.Expression {
		why = "has a WHERE clause"
	}
	return Problem{
		Code: CodeUniqueWithoutTenant,
		Message: fmt.Sprintf("unique index %s on %s %s and does not include the tenant column %s, so Citus refuses it and tenantmover cannot add the column itself (%s)",
			db.QuoteIfNeeded(k.Name), t.Name(), why, db.QuoteIfNeeded(t.TenantColumn), k.Definition),
		Remedy: fmt.Sprintf("on the source, replace it with a unique index that starts with %s (CREATE UNIQUE INDEX ... ON %s (%s, ...)), or drop it",
			db.Ident(t.TenantColumn), t.Name().Quoted(), db.Ident(t.TenantColumn)),
		Blocking: true,
	}
}

func exclusionWithoutTenant(t *Table, c schema.Check) Problem {
	return Problem{
		Code: CodeExclusionWithoutTenant,
		Message: fmt.Sprintf("exclusion constraint %s on %s does not compare the tenant column %s with =, so Citus refuses it (%s)",
			db.QuoteIfNeeded(c.Name), t.Name(), db.QuoteIfNeeded(t.TenantColumn), c.Definition),
		Remedy:   fmt.Sprintf("on the source, add %s WITH = to the constraint (needs btree_gist for gist constraints), or drop it", db.QuoteIfNeeded(t.TenantColumn)),
		Blocking: true,
	}
}

func fkMadeComposite(t *Table, d FKDecision) Problem {
	return Problem{
		Code: CodeFKMadeComposite,
		Message: fmt.Sprintf("foreign key %s (%s) -> %s (%s) does not include the tenant column: Citus only enforces foreign keys between distributed tables on the distribution column",
			fkName(d.FK), readable(d.FK.Columns), d.FK.RefTable, readable(d.FK.RefColumns)),
		Remedy: fmt.Sprintf("the target schema makes it (%s) -> %s (%s); nothing to do", readable(d.Columns), d.FK.RefTable, readable(d.RefColumns)),
	}
}

func fkCrossTenant(t *Table, d FKDecision, parent *Table) Problem {
	return Problem{
		Code: CodeFKCrossTenant,
		Message: fmt.Sprintf("foreign key %s (%s) -> %s (%s) pairs tenant column %s with %s: rows may reference another tenant's rows, which Citus cannot enforce; the target schema leaves this foreign key out",
			fkName(d.FK), readable(d.FK.Columns), d.FK.RefTable, readable(d.FK.RefColumns), db.QuoteIfNeeded(t.TenantColumn), db.QuoteIfNeeded(parent.TenantColumn)),
		Remedy: "if the rows always belong to the same tenant, declare the intended path with --relation; otherwise the application must check this reference itself",
	}
}

func fkToExcluded(d FKDecision) Problem {
	return Problem{
		Code: CodeFKToExcluded,
		Message: fmt.Sprintf("foreign key %s (%s) references %s, which is not migrated: Citus refuses foreign keys to local tables (\"referenced table must be a distributed table or a reference table\"); the target schema leaves it out",
			fkName(d.FK), readable(d.FK.Columns), d.FK.RefTable),
		Remedy: fmt.Sprintf("migrate %s too (drop --exclude, or add its schema with --schema), or accept that the application checks this reference itself", d.FK.RefTable),
	}
}

func fkActionUnsupported(d FKDecision) Problem {
	var parts []string
	if d.OnDelete != d.FK.OnDelete {
		parts = append(parts, "ON DELETE "+d.FK.OnDelete)
	}
	if d.OnUpdate != d.FK.OnUpdate {
		parts = append(parts, "ON UPDATE "+d.FK.OnUpdate)
	}
	return Problem{
		Code: CodeFKActionUnsupported,
		Message: fmt.Sprintf("foreign key %s uses %s on a key that includes the tenant column, which Citus refuses; the target schema uses NO ACTION instead",
			fkName(d.FK), strings.Join(parts, " and ")),
		Remedy: "make the application clear or delete the referencing rows itself before deleting or re-keying the referenced row",
	}
}

func referenceToDistributed(t *Table, fk schema.ForeignKey) Problem {
	return Problem{
		Code: CodeReferenceToDistributed,
		Message: fmt.Sprintf("%s is a reference table with foreign key %s to the distributed table %s: Citus refuses it (reference tables are not supported as the referencing table of a foreign key to a distributed table)",
			t.Name(), fkName(fk), fk.RefTable),
		Remedy:   fmt.Sprintf("drop --reference %s so it is distributed with its tenant, or drop the foreign key", t.Name()),
		Blocking: true,
	}
}

func manyToManyNotDistributed(t *Table, fk schema.ForeignKey) Problem {
	return Problem{
		Code: CodeManyToManyNotDistributed,
		Message: fmt.Sprintf("%s joins the distributed table %s to other tables but would not be distributed: its foreign key to %s cannot be enforced across nodes (older Citus fails at runtime with \"consistency check on SPI tuple count failed\"; Citus 13 lets a delete on %s leave rows here pointing at nothing)",
			t.Name(), fk.RefTable, fk.RefTable, fk.RefTable),
		Remedy:   fmt.Sprintf("distribute it with the tenant: drop --reference %s (it has a path through %s)", t.Name(), readable(fk.Columns)),
		Blocking: true,
	}
}

func nullablePath(t *Table, bad []Hop) Problem {
	var hs []string
	for _, h := range bad {
		hs = append(hs, h.String())
	}
	msg := fmt.Sprintf("the tenant path of %s goes through nullable %s: rows with NULL there have no tenant, and Citus refuses rows without one",
		t.Name(), strings.Join(hs, ", "))
	return Problem{
		Code:    CodeNullablePath,
		Message: msg,
		Remedy: fmt.Sprintf("backfill lists those rows as orphans: give them a parent or delete them, then make the column NOT NULL (ALTER TABLE %s ALTER COLUMN %s SET NOT NULL); or name a NOT NULL path with --relation",
			bad[0].From.Quoted(), db.Ident(bad[0].FromColumns[0])),
	}
}

func tenantTypeMismatch(t *Table, c *schema.Column, keyType string, root *Table) Problem {
	return Problem{
		Code: CodeTenantTypeMismatch,
		Message: fmt.Sprintf("tenant column %s of %s is %s but %s.%s is %s: Citus colocates only columns of exactly the same type",
			db.QuoteIfNeeded(c.Name), t.Name(), c.Type, root.Name(), db.QuoteIfNeeded(root.TenantColumn), keyType),
		Remedy:   fmt.Sprintf("on the source: ALTER TABLE %s ALTER COLUMN %s TYPE %s", t.Name().Quoted(), db.Ident(c.Name), keyType),
		Blocking: true,
	}
}

func tenantColumnConflict(t *Table, c *schema.Column, keyType string) Problem {
	return Problem{
		Code: CodeTenantColumnConflict,
		Message: fmt.Sprintf("%s already has a column %s of type %s, but the tenant column must be %s",
			t.Name(), db.QuoteIfNeeded(c.Name), c.Type, keyType),
		Remedy:   fmt.Sprintf("choose another name with --tenant-column, or change the column: ALTER TABLE %s ALTER COLUMN %s TYPE %s", t.Name().Quoted(), db.Ident(c.Name), keyType),
		Blocking: true,
	}
}

func fkCycle(cy schema.Cycle) Problem {
	var ns []string
	for _, n := range cy.Tables {
		ns = append(ns, n.String())
	}
	return Problem{
		Code:     CodeFKCycle,
		Message:  fmt.Sprintf("%s reference each other through NOT NULL, non-deferrable foreign keys: no load order satisfies them", strings.Join(ns, ", ")),
		Remedy:   "make one of those foreign keys DEFERRABLE (ALTER TABLE ... ALTER CONSTRAINT ... DEFERRABLE) or its column nullable",
		Blocking: true,
	}
}

func partitionedReference(t *Table) Problem {
	return Problem{
		Code:     CodePartitionedReference,
		Message:  fmt.Sprintf("%s is partitioned and has no path to the tenant, so it would be a reference table, which Citus does not allow for partitioned tables", t.Name()),
		Remedy:   fmt.Sprintf("give it a path to the tenant (a foreign key, or --relation), or leave it out with --exclude %s", t.Name()),
		Blocking: true,
	}
}

func userType(t *Table, ty *schema.Type) Problem {
	return Problem{
		Code:    CodeUserType,
		Message: fmt.Sprintf("%s uses type %s, which tenantmover does not recreate on the target", t.Name(), ty.Name),
		Remedy:  fmt.Sprintf("create type %s on the target (coordinator; Citus propagates it to the workers) before plan --apply", ty.Name),
	}
}

// NoWorkers is the problem of a Citus target without an active worker.
func NoWorkers() Problem {
	return Problem{
		Code:     CodeNoWorkers,
		Message:  "the target Citus coordinator has no active worker node: Citus refuses to create distributed and reference tables (\"replication_factor (1) exceeds number of worker nodes (0)\", \"There are no active worker nodes\")",
		Remedy:   "register the workers on the coordinator: SELECT citus_add_node('worker-host', 5432); for each worker",
		Blocking: true,
	}
}

func fkName(fk schema.ForeignKey) string {
	if fk.Name == "" {
		return "(declared)"
	}
	return db.QuoteIfNeeded(fk.Name)
}

// readable lists column names for messages, quoted only where SQL needs it.
func readable(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = db.QuoteIfNeeded(c)
	}
	return strings.Join(q, ", ")
}
