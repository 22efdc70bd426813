package verify

import "github.com/tenantmover/tenantmover/internal/phase"

// Kinds of difference.
const (
	// KindCount: a tenant has a different number of rows on each side.
	KindCount = "count"
	// KindChecksum: same number of rows, different content.
	KindChecksum = "checksum"
	// KindMisplaced: rows sit in a shard whose hash range does not hold
	// their tenant, so queries routed by tenant never see them.
	KindMisplaced = "misplaced"
	// KindPlacement: the placements (replicas) of one shard disagree.
	KindPlacement = "placement"
	// KindInvariant: a row's tenant differs from its parent's.
	KindInvariant = "invariant"
	// KindNoTenant: rows of a distributed table whose tenant column is
	// NULL on the source (CheckSource); Citus cannot store them.
	KindNoTenant = "no_tenant"
)

// Difference is one thing that does not match. Source and Target are row
// counts whose meaning depends on Kind:
//   - count, checksum: the tenant's rows on the source and on the target;
//   - misplaced: Target is the number of the tenant's rows in the wrong
//     shard (Source is 0);
//   - placement: Source is the rows in the shard's first placement, Target
//     the rows in the placement that disagrees (Detail names both nodes);
//   - invariant: the number of violating rows on the source (Source) or the
//     target (Target).
//
// Tenant is the tenant key as text; "" for a reference table (compared
// whole) and for invariant violations, which are reported per table.
// Rows whose tenant is NULL are reported under the tenant "NULL".
type Difference struct {
	Kind   string   `json:"kind"`
	Table  string   `json:"table"`
	Tenant string   `json:"tenant"`
	Shard  int64    `json:"shard"` // 0 when not about a shard
	Source int64    `json:"source"`
	Target int64    `json:"target"`
	Keys   []string `json:"keys"` // primary keys of sample differing rows
	Detail string   `json:"detail,omitempty"`
}

// TableSummary is what was compared for one table.
type TableSummary struct {
	Table       string `json:"table"`
	Kind        string `json:"kind"` // the plan kind: root, direct, nested, reference
	Tenants     int64  `json:"tenants"`
	SourceRows  int64  `json:"source_rows"`
	TargetRows  int64  `json:"target_rows"`
	Differences int    `json:"differences"`
}

// Overview is what a verification compared.
type Overview struct {
	Checksum bool `json:"checksum"`
	// Citus is true when the target is a Citus coordinator, so shard
	// placements were checked.
	Citus      bool           `json:"citus"`
	Shards     int            `json:"shards"`
	Placements int            `json:"placements"`
	Tables     []TableSummary `json:"tables"`
}

// InvariantCheck is one tenant invariant check (every row of Table whose
// Columns are all set has a row of Parent with those ParentColumns and the
// same tenant) on one side, and what became of it: either Checked, with
// the Violations it found (each also a Difference of kind invariant), or
// held by a foreign key of the target that the database enforces (HeldBy,
// its name), and not read at all.
type InvariantCheck struct {
	Table         string   `json:"table"`
	Parent        string   `json:"parent"`
	Columns       []string `json:"columns"`        // of Table
	ParentColumns []string `json:"parent_columns"` // of Parent, pairwise
	// When is a polymorphic branch's type test ("commentable_type = Post"):
	// only those rows are checked against Parent.
	When string `json:"when,omitempty"`
	Side string `json:"side"` // source or target
	// HeldBy is the target's foreign key that holds the invariant (and
	// makes the scan needless); "" when the check ran.
	HeldBy     string `json:"held_by"`
	Checked    bool   `json:"checked"`
	Violations int64  `json:"violations"`
	// Note says why a check ran although the target has a foreign key
	// between the two tables (NOT VALID, its triggers disabled, a
	// nullable tenant column, a shard lacking it, --recheck-foreign-keys),
	// or, for a held check, what the evidence was.
	Note string `json:"note,omitempty"`

	seq int // the planned check's position, for a stable order
}

// Result is the outcome of Run: Match is true when there is no difference.
// Its phase summary's Rows are the source rows compared.
type Result struct {
	phase.Summary
	Match       bool         `json:"match"`
	Differences []Difference `json:"differences"`
	Overview    Overview     `json:"summary"`
	// Invariants lists every tenant invariant check, held or checked, in
	// plan order (empty with SkipInvariant).
	Invariants []InvariantCheck `json:"invariants"`
}

// HeldInvariants is how many invariant checks foreign keys of the target
// held, so that they were not run.
func (r *Result) HeldInvariants() int {
	n := 0
	for _, c := range r.Invariants {
		if c.HeldBy != "" {
			n++
		}
	}
	return n
}
