package pgcopy

import (
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/db"
)

// quoteLiteral quotes s as an SQL string literal. COPY cannot take bind
// parameters, so range bounds and tenant values are written into COPY
// statements this way; sessions run with standard_conforming_strings=on
// (sessionSettings), where doubling quotes is the whole escaping.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// values renders values into SQL: as typed literals for COPY (which takes
// no bind parameters), or as bind parameters ($n::text::type) for every
// other statement, collecting the arguments.
type values struct {
	literal bool
	args    []any
}

// literals renders values for a COPY statement.
func literals() *values { return &values{literal: true} }

// params renders values as bind parameters.
func params() *values { return &values{} }

// of is value v of column k: '42'::bigint or $1::text::bigint.
func (b *values) of(v string, k keyCol) string {
	if b.literal {
		return quoteLiteral(v) + "::" + k.Type
	}
	b.args = append(b.args, v)
	return fmt.Sprintf("$%d::text::%s", len(b.args), k.Type)
}

// rowOf is a key as SQL: a column, or a row of columns.
func rowOf(keys []keyCol) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = db.Ident(k.Name)
	}
	if len(names) == 1 {
		return names[0]
	}
	return "(" + strings.Join(names, ", ") + ")"
}

// key is a key value as SQL, matching rowOf.
func (b *values) key(keys []keyCol, vals []string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = b.of(vals[i], k)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// rangeCond is the condition selecting key range [lo, hi) (nil bounds are
// open); "" when the range is everything. Row comparisons use the primary
// key index for composite keys too.
func (b *values) rangeCond(keys []keyCol, lo, hi []string) string {
	var conds []string
	if lo != nil {
		conds = append(conds, rowOf(keys)+" >= "+b.key(keys, lo))
	}
	if hi != nil {
		conds = append(conds, rowOf(keys)+" < "+b.key(keys, hi))
	}
	return strings.Join(conds, " AND ")
}

// tenantCond selects one tenant's rows.
func (b *values) tenantCond(k keyCol, tenant string) string {
	return db.Ident(k.Name) + " = " + b.of(tenant, k)
}

// from is the source relation: ONLY for plain tables, so rows of
// inheritance children (read as tables of their own) are not copied twice;
// a partitioned table is read whole.
func (j *job) from() string {
	if j.plan.Source.Partitioned {
		return j.name.Quoted()
	}
	return "ONLY " + j.name.Quoted()
}

// copyOut is the source statement for the rows matching cond ("" = all).
func (j *job) copyOut(cond string) string {
	where := ""
	if cond != "" {
		where = " WHERE " + cond
	}
	return fmt.Sprintf("COPY (SELECT %s FROM %s%s) TO STDOUT (FORMAT binary)", db.Idents(j.cols), j.from(), where)
}

// copyIn is the target statement.
func (j *job) copyIn() string {
	return fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)", j.name.Quoted(), db.Idents(j.cols))
}

// unitCond is the condition of a unit: its tenant when the table is
// copied by tenant, else its key range ("" for a table in one chunk).
func (j *job) unitCond(b *values, u checkpoints.Unit) string {
	if j.byTenant {
		return b.tenantCond(*j.tenant, u.Lo[0])
	}
	if len(j.keys) == 0 {
		return ""
	}
	return b.rangeCond(j.keys, u.Lo, u.Hi)
}

// describe shows a unit for messages: [1, 500), [500, +inf), tenant 42.
func (j *job) describe(u checkpoints.Unit) string {
	if j.byTenant {
		return "tenant " + u.Lo[0]
	}
	return describeRange(u.Lo, u.Hi)
}

func describeRange(lo, hi []string) string {
	b := func(v []string, inf string) string {
		if v == nil {
			return inf
		}
		if len(v) == 1 {
			return v[0]
		}
		return "(" + strings.Join(v, ", ") + ")"
	}
	return "[" + b(lo, "-inf") + ", " + b(hi, "+inf") + ")"
}
