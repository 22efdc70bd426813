package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// A check on the target is held by a foreign key when the database already
// refuses every row that would break it: a foreign key of the child
// referencing the parent whose (child column, parent column) pairs are, as
// a set, the hop's key pairs plus (child tenant column, parent tenant
// column), such as plan makes composite on the target. It must be
//
//   - validated (convalidated): a NOT VALID key never checked the rows that
//     were there before it;
//   - enforced: every RI trigger of the constraint (the checks on the
//     child, the actions on the parent; on a partitioned table, those of
//     every partition's clone of it) enabled, tgenabled 'O' or 'A'. ALTER
//     TABLE ... DISABLE TRIGGER ALL sets 'D' ('R' fires only under
//     session_replication_role = replica), and rows written since were not
//     checked;
//   - on a NOT NULL child tenant column: under MATCH SIMPLE a row with any
//     NULL in the key is not checked at all. The hop's own columns may be
//     NULL: the invariant check skips such rows too.
//
// A polymorphic branch (hop.When) is never held: a foreign key cannot
// follow a type column.
//
// The catalog shows the key enforced now, not that it always was: rows
// written under session_replication_role = replica, or while the triggers
// were disabled and later enabled again, were never checked, and nothing
// records that they were written. Config.RecheckForeignKeys is for those.
//
// On a Citus coordinator the catalog shows the shell table's constraint,
// and that is not evidence enough about the shards (read in Citus v13.2.2):
//
//   - ALTER TABLE ... ADD FOREIGN KEY on a distributed table does reach the
//     shards: PreprocessAlterTableStmt (commands/table.c) makes a DDL job
//     that adds the key to every colocated shard pair, and marks the
//     shell's constraint skip_validation ("Validity will be checked in
//     workers anyway"); the shell's convalidated only repeats whether NOT
//     VALID was asked for. ALTER TABLE ... DISABLE TRIGGER is refused on a
//     distributed table unless citus.enable_unsafe_triggers is on, and then
//     propagated to every shard (CitusCreateTriggerCommandDDLJob,
//     commands/trigger.c).
//   - But all of that happens only while citus.enable_ddl_propagation is on
//     (the preprocess step in commands/utility_hook.c). With it off, ADD
//     FOREIGN KEY changes the shell alone: the coordinator shows a
//     validated, enforced key that no shard has. And DROP CONSTRAINT,
//     DISABLE TRIGGER or DROP NOT NULL run on a worker's shard directly
//     (or through run_command_on_shards) never show on the coordinator.
//   - Shard moves and splits add the keys on the new placements under
//     citus.skip_constraint_validation (replication/multi_logical_replication.c):
//     validated without a scan, since the rows come from a validated
//     placement; the new placement's catalog says so.
//
// So on Citus a check is held only when the shell's key is trusted and
// every placement of every shard of the child has the same key to the
// colocated placement of the parent's shard on its node, trusted by the
// same rules, read from the node's own catalog: one catalog query per node
// per check, over that node's shards, reading no rows.
type fkCandidate struct {
	name          string
	cols, refCols []string
	validated     bool // the constraint and every clone of it on partitions
	enabled       bool // every RI trigger of those, and there is one on the child
	tenantNotNull bool // the child's tenant column
}

// foreignKeysSQL lists, for each i, the foreign keys from relation $1[i]
// to $2[i] (text names, quoted as in SQL), with their columns in key order
// and what the rules above need about them and the child's tenant column
// $3[i]; a relation that does not exist has no keys.
const foreignKeysSQL = `
	SELECT s.i, k.conname, k.cols, k.refcols, k.validated, k.enabled, k.tenant_not_null
	FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS s(child, parent, tenant, i)
	JOIN LATERAL (
		SELECT c.conname::text AS conname,
		       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(n, o)
		             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) AS cols,
		       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(n, o)
		             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o) AS refcols,
		       coalesce(f.validated, false) AS validated,
		       coalesce(f.enabled, false) AND EXISTS (SELECT FROM pg_catalog.pg_trigger t WHERE t.tgconstraint = c.oid AND t.tgrelid = c.conrelid) AS enabled,
		       coalesce((SELECT a.attnotnull FROM pg_catalog.pg_attribute a
		                 WHERE a.attrelid = c.conrelid AND a.attname = s.tenant AND NOT a.attisdropped), false) AS tenant_not_null
		FROM pg_catalog.pg_constraint c
		CROSS JOIN LATERAL (
			WITH RECURSIVE family(oid, validated) AS (
				SELECT c.oid, c.convalidated
				UNION ALL
				SELECT d.oid, d.convalidated FROM pg_catalog.pg_constraint d JOIN family ON d.conparentid = family.oid)
			SELECT bool_and(family.validated) AS validated,
			       bool_and(NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t
			                            WHERE t.tgconstraint = family.oid AND t.tgenabled NOT IN ('O', 'A'))) AS enabled
			FROM family) f
		WHERE c.contype = 'f' AND c.conrelid = pg_catalog.to_regclass(s.child) AND c.confrelid = pg_catalog.to_regclass(s.parent)
	) k ON true
	ORDER BY s.i, k.conname`

// fkQuery is one child and parent relation whose foreign keys to read,
// and the child's tenant column.
type fkQuery struct{ child, parent, tenant string }

// foreignKeys reads on a side the foreign keys of each query, in order.
func foreignKeys(ctx context.Context, on side, qs []fkQuery) ([][]fkCandidate, error) {
	var children, parents, tenants []string
	for _, q := range qs {
		children, parents, tenants = append(children, q.child), append(parents, q.parent), append(tenants, q.tenant)
	}
	rows, err := on.pool.Query(ctx, foreignKeysSQL, children, parents, tenants)
	if err != nil {
		return nil, fmt.Errorf("%s: reading foreign keys: %w", on.name, err)
	}
	defer rows.Close()
	out := make([][]fkCandidate, len(qs))
	for rows.Next() {
		var i int
		var k fkCandidate
		if err := rows.Scan(&i, &k.name, &k.cols, &k.refCols, &k.validated, &k.enabled, &k.tenantNotNull); err != nil {
			return nil, fmt.Errorf("%s: reading foreign keys: %w", on.name, err)
		}
		out[i-1] = append(out[i-1], k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: reading foreign keys: %w", on.name, err)
	}
	return out, nil
}

// keyPairs are a check's (child column, parent column) pairs a foreign key
// must have, as a set: the hop's and the tenant columns'.
func (c invariantCheck) keyPairs() map[[2]string]bool {
	pairs := map[[2]string]bool{{c.s.t.TenantColumn, c.parent.TenantColumn}: true}
	for i := range c.hop.FromColumns {
		pairs[[2]string{c.hop.FromColumns[i], c.hop.ToColumns[i]}] = true
	}
	return pairs
}

func (k fkCandidate) matches(pairs map[[2]string]bool) bool {
	if len(k.cols) != len(k.refCols) {
		return false
	}
	got := map[[2]string]bool{}
	for i := range k.cols {
		got[[2]string{k.cols[i], k.refCols[i]}] = true
	}
	if len(got) != len(pairs) || len(got) != len(k.cols) {
		return false
	}
	for p := range pairs {
		if !got[p] {
			return false
		}
	}
	return true
}

// trusted returns the first of keys that has the check's pairs and holds
// it by the rules above; else "" and why the first one with those pairs
// does not ("" when none has them).
func (c invariantCheck) trusted(keys []fkCandidate) (name, why string) {
	pairs := c.keyPairs()
	for _, k := range keys {
		if !k.matches(pairs) {
			continue
		}
		if k.validated && k.enabled && k.tenantNotNull {
			return k.name, ""
		}
		if why != "" {
			continue
		}
		switch {
		case !k.validated:
			why = fmt.Sprintf("foreign key %s is NOT VALID: rows from before it were never checked", k.name)
		case !k.enabled:
			why = fmt.Sprintf("the triggers of foreign key %s are disabled (ALTER TABLE ... DISABLE TRIGGER): rows written since were not checked", k.name)
		default:
			why = fmt.Sprintf("tenant column %s is nullable: foreign key %s does not check rows without a tenant", db.QuoteIfNeeded(c.s.t.TenantColumn), k.name)
		}
	}
	return "", why
}

// heldVerdict is what heldBy found for one check: the name of the key
// holding it ("" when none) and how that was established, or why a key
// between the two tables does not count ("" when there is none).
type heldVerdict struct{ name, note string }

// heldBy decides for each check whether a foreign key of the target holds
// it (see fkCandidate): one catalog query for all of them, and on Citus,
// for each held on the coordinator, one per node holding its shards.
func (v *verifier) heldBy(ctx context.Context, checks []invariantCheck) ([]heldVerdict, error) {
	out := make([]heldVerdict, len(checks))
	var qs []fkQuery
	var idx []int
	for i, c := range checks {
		if c.hop.When == nil && c.on.name == v.dst.name && !v.sourceOnly {
			qs = append(qs, fkQuery{c.s.t.Name().Quoted(), c.parent.Name().Quoted(), c.s.t.TenantColumn})
			idx = append(idx, i)
		}
	}
	if len(qs) == 0 {
		return out, nil
	}
	keys, err := foreignKeys(ctx, v.dst, qs)
	if err != nil {
		return nil, err
	}
	var onShards []int
	for j, i := range idx {
		name, why := checks[i].trusted(keys[j])
		out[i] = heldVerdict{name: name, note: why}
		if name != "" {
			out[i].note = "validated, enforced"
			onShards = append(onShards, i)
		}
	}
	if !v.dst.citus {
		return out, nil
	}
	err = fanOut(ctx, v.win, v.cfg.Workers, onShards, func(ctx context.Context, i int) error {
		n, why, err := v.heldOnPlacements(ctx, checks[i], out[i].name)
		switch {
		case err != nil:
			return fmt.Errorf("reading the foreign keys of %s's shards: %w", checks[i].s.name, err)
		case why != "":
			out[i] = heldVerdict{note: why}
		default:
			out[i].note = fmt.Sprintf("validated, enforced on the coordinator and on all %d shard placements", n)
		}
		return nil
	})
	return out, err
}

// heldOnPlacements checks on every node that each placement of the child's
// shards has a trusted foreign key with the check's pairs to the colocated
// placement of the parent's shard there. It returns how many placements
// it checked, or why the key does not hold on one of them.
func (v *verifier) heldOnPlacements(ctx context.Context, c invariantCheck, name string) (int, string, error) {
	var childTable, parentTable citus.Table
	for _, t := range []struct {
		name schema.Name
		into *citus.Table
	}{{c.s.t.Name(), &childTable}, {c.parent.Name(), &parentTable}} {
		var err error
		*t.into, err = citus.TableInfo(ctx, v.dst.pool, t.name)
		var notCitus *citus.NotCitusTableError
		if errors.As(err, &notCitus) {
			// A difference of its own (see shardTasks); here only a
			// reason to check.
			return 0, fmt.Sprintf("foreign key %s: %s is not a Citus table on the target", name, t.name), nil
		}
		if err != nil {
			return 0, "", err
		}
	}
	if !childTable.IsHashDistributed() || !parentTable.IsHashDistributed() || childTable.ColocationID != parentTable.ColocationID {
		return 0, fmt.Sprintf("foreign key %s: %s and %s are not colocated distributed tables on the target", name, c.s.name, c.parent.Name()), nil
	}
	childShards, err := citus.Shards(ctx, v.dst.pool, childTable.Name)
	if err != nil {
		return 0, "", err
	}
	parentShards, err := citus.Shards(ctx, v.dst.pool, parentTable.Name)
	if err != nil {
		return 0, "", err
	}
	type span struct{ lo, hi int32 }
	type pair struct{ child, parent string }
	byRange := map[span]citus.Shard{}
	for _, s := range parentShards {
		byRange[span{s.MinValue, s.MaxValue}] = s
	}
	nodes := map[string]citus.Node{}
	pairs := map[string][]pair{} // by node address
	n := 0
	for _, s := range childShards {
		ps, ok := byRange[span{s.MinValue, s.MaxValue}]
		if !s.HasRange || !ok {
			return 0, fmt.Sprintf("foreign key %s: shard %d of %s has no colocated shard of %s", name, s.ShardID, c.s.name, c.parent.Name()), nil
		}
		for _, pl := range s.Placements {
			if !slices.ContainsFunc(ps.Placements, func(p citus.Placement) bool { return p.GroupID == pl.GroupID }) {
				return 0, fmt.Sprintf("foreign key %s: shard %d of %s on node %s has no placement of %s's shard %d beside it",
					name, s.ShardID, c.s.name, pl.Node.Addr(), c.parent.Name(), ps.ShardID), nil
			}
			addr := pl.Node.Addr()
			nodes[addr] = pl.Node
			pairs[addr] = append(pairs[addr], pair{s.Name.Quoted(), ps.Name.Quoted()})
			n++
		}
	}
	addrs := make([]string, 0, len(pairs))
	for a := range pairs {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, addr := range addrs {
		on, err := v.nodes.side(ctx, nodes[addr])
		if err != nil {
			return 0, "", err
		}
		var qs []fkQuery
		for _, p := range pairs[addr] {
			qs = append(qs, fkQuery{p.child, p.parent, c.s.t.TenantColumn})
		}
		keys, err := foreignKeys(ctx, on, qs)
		if err != nil {
			return 0, "", err
		}
		for j, q := range qs {
			if held, why := c.trusted(keys[j]); held == "" {
				if why == "" {
					why = "it has no such foreign key"
				}
				return 0, fmt.Sprintf("foreign key %s holds on the coordinator, but not on shard %s on %s: %s", name, q.child, on.name, why), nil
			}
		}
	}
	return n, "", nil
}
