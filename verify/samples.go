package verify

import (
	"context"
	"fmt"
	"strings"
)

// narrowing is the outcome of narrowing one tenant down to rows.
type narrowing struct {
	keys                  []string
	onlyA, onlyB, changed int // among the sampled keys
}

// detail describes the sampled rows, naming the two sides.
func (n narrowing) detail(a, b string) string {
	if len(n.keys) == 0 {
		return "no differing row found when re-reading the tenant's rows (did data change while verify ran?)"
	}
	var parts []string
	if n.onlyA > 0 {
		parts = append(parts, fmt.Sprintf("%d only on %s", n.onlyA, a))
	}
	if n.onlyB > 0 {
		parts = append(parts, fmt.Sprintf("%d only on %s", n.onlyB, b))
	}
	if n.changed > 0 {
		parts = append(parts, fmt.Sprintf("%d changed", n.changed))
	}
	return "sample rows: " + strings.Join(parts, ", ")
}

// narrow finds sample keys of the rows of one tenant (every row, for a
// reference table) that differ between sides a and b: it streams the
// tenant's row keys (and with checksum, row hashes) from both in key order
// and merges them, stopping after max differing rows. Memory stays flat
// however big the tenant is.
func narrow(ctx context.Context, a, b side, ra, rb relation, tenant sortKey, checksum bool, max int) (narrowing, error) {
	var out narrowing
	var args []any
	if ra.tenant != "" && !tenant.null {
		args = []any{tenant.text}
	}
	cursors, err := openAll(ctx, []query{
		{on: a, sql: ra.rowsSQL(checksum, tenant.null), args: args},
		{on: b, sql: rb.rowsSQL(checksum, tenant.null), args: args},
	})
	if err != nil {
		return out, err
	}
	defer closeAll(cursors)
	ca, cb := cursors[0], cursors[1]
	streams := []reader[item]{itemReader(a.name, ca, checksum), itemReader(b.name, cb, checksum)}
	err = mergeSorted(streams, func(it item) sortKey { return it.key }, func(at []*item) (bool, error) {
		switch {
		case at[1] == nil:
			out.onlyA++
		case at[0] == nil:
			out.onlyB++
		case at[0].hash != at[1].hash:
			out.changed++
		default:
			return false, nil
		}
		k := at[0]
		if k == nil {
			k = at[1]
		}
		out.keys = append(out.keys, k.key.String())
		return len(out.keys) >= max, nil
	})
	return out, err
}
