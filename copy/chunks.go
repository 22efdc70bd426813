package pgcopy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// boundaries splits a table into key ranges of about chunkRows rows by
// stepping through the primary key index: each step skips chunkRows keys
// from the previous boundary (OFFSET on an index scan), so planning reads
// the index once, whatever the key type (composite, uuid, text). The first
// range starts at -inf and the last is open ended, so rows arriving after
// planning still fall in a chunk. A table without a primary key is one
// chunk.
func boundaries(ctx context.Context, src *pgxpool.Pool, j *job, chunkRows int64) ([]checkpoints.Unit, error) {
	var bounds [][]string
	if len(j.keys) > 0 {
		var prev []string
		for {
			next, err := nextBoundary(ctx, src, j, prev, chunkRows)
			if err != nil {
				return nil, fmt.Errorf("splitting %s into chunks: %w", j.key, err)
			}
			if next == nil {
				break
			}
			bounds = append(bounds, next)
			prev = next
		}
	}
	ranges := phase.Partition(bounds)
	units := make([]checkpoints.Unit, len(ranges))
	for i, r := range ranges {
		units[i] = checkpoints.Unit{ID: i, Range: r}
	}
	return units, nil
}

// nextBoundary is the key chunkRows keys after prev (or after the start),
// in text form; nil when fewer keys remain.
func nextBoundary(ctx context.Context, src *pgxpool.Pool, j *job, prev []string, step int64) ([]string, error) {
	texts := make([]string, len(j.keys))
	for i, k := range j.keys {
		// Aliased: an output column named like the key would make ORDER BY
		// sort by the text form.
		texts[i] = fmt.Sprintf("%s::text AS bound_%d", db.Ident(k.Name), i)
	}
	v := phase.Params()
	cond := phase.Range{Lo: prev}.Where(phase.KeyExpr("", j.keys), j.keys, v)
	v.Args = append(v.Args, step)
	sql := fmt.Sprintf("SELECT %s FROM %s%s ORDER BY %s OFFSET $%d LIMIT 1",
		strings.Join(texts, ", "), j.from(), where(cond), orderBy(j.keys), len(v.Args))
	args := v.Args
	vals := make([]string, len(j.keys))
	dest := make([]any, len(vals))
	for i := range vals {
		dest[i] = &vals[i]
	}
	err := src.QueryRow(ctx, sql, args...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return vals, err
}

// tenantUnits makes one unit per tenant; the unit of a tenant has the same
// ID in every distributed table, and they complete in one transaction.
func tenantUnits(tenants []string) []checkpoints.Unit {
	units := make([]checkpoints.Unit, len(tenants))
	for i, t := range tenants {
		units[i] = checkpoints.Unit{ID: i, Tenant: t}
	}
	return units
}
