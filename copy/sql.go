package pgcopy

import (
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// COPY cannot take bind parameters, so range bounds and tenant values are
// written into COPY statements as quoted literals (phase.Literals); every
// other statement binds them (phase.Params).

// tenantCond selects one tenant's rows.
func tenantCond(v *phase.Values, k phase.Column, tenant string) string {
	return db.Ident(k.Name) + " = " + v.Of(tenant, k)
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
	return fmt.Sprintf("COPY (SELECT %s FROM %s%s) TO STDOUT (FORMAT binary)", db.Idents(j.cols), j.from(), where(cond))
}

// copyIn is the target statement.
func (j *job) copyIn() string {
	return fmt.Sprintf("COPY %s (%s) FROM STDIN (FORMAT binary)", j.name.Quoted(), db.Idents(j.cols))
}

// unitCond is the condition of a unit: its tenant's rows, or its key range
// ("" for a table in one chunk).
func (j *job) unitCond(v *phase.Values, u checkpoints.Unit) string {
	if u.Tenant != "" {
		return tenantCond(v, *j.tenant, u.Tenant)
	}
	if len(j.keys) == 0 {
		return ""
	}
	return u.Range.Where(phase.KeyExpr("", j.keys), j.keys, v)
}

func where(cond string) string {
	if cond == "" {
		return ""
	}
	return " WHERE " + cond
}

func orderBy(keys []phase.Column) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = db.Ident(k.Name)
	}
	return strings.Join(names, ", ")
}
