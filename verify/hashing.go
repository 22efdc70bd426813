package verify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantmover/tenantmover/internal/db"
)

// hasher decides how a row is hashed for checksums. Hashing the text of a
// whole row costs more than the scan itself (every numeric and timestamp
// is formatted), so rows are hashed with hash_record_extended over the
// columns' own values: each type's hash function, the one hash
// partitioning relies on to be stable across versions. Columns whose type
// has no hash function (json, point, ...), whose hash is an OID's (enums,
// reg* types), or whose type differs between the sides, are hashed through
// their text, under SessionSettings on both
// sides. Unconstrained numeric columns add their scale, since numeric's
// hash treats 1.1 and 1.10 as equal. Servers older than PostgreSQL 14
// (no hash_record_extended) hash the text of the whole row.
//
// Hashes of values are those of the servers' hash functions: equal on
// servers of the same byte order (every common platform). A target of the
// other byte order would show every tenant as different, never hide a
// difference.
type hasher struct {
	legacy   bool            // a side lacks hash_record_extended
	hashable map[string]bool // SQL type -> has an extended hash function on both sides
}

// newHasher probes both sides for the types of the columns to hash.
func newHasher(ctx context.Context, sides []side, types []string) (*hasher, error) {
	h := &hasher{hashable: map[string]bool{}}
	for _, s := range sides {
		var ok bool
		if err := s.pool.QueryRow(ctx, `SELECT to_regprocedure('pg_catalog.hash_record_extended(record, bigint)') IS NOT NULL`).Scan(&ok); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		h.legacy = h.legacy || !ok
	}
	if h.legacy {
		return h, nil
	}
	sort.Strings(types)
	for _, typ := range types {
		if _, seen := h.hashable[typ]; seen {
			continue
		}
		h.hashable[typ] = true
		for _, s := range sides {
			ok, err := canHash(ctx, s, typ)
			if err != nil {
				return nil, err
			}
			h.hashable[typ] = h.hashable[typ] && ok
		}
	}
	return h, nil
}

// canHash asks the server whether typ can be hashed by value: it has an
// extended hash function (a NULL of the type is enough for
// hash_record_extended to look it up), and equal values hash equally in
// another database, which is not so where the hash is that of an OID.
func canHash(ctx context.Context, s side, typ string) (bool, error) {
	// typ comes from format_type, quoted as SQL needs.
	_, err := s.pool.Exec(ctx, "SELECT pg_catalog.hash_record_extended(ROW(NULL::"+typ+"), 0)")
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UndefinedFunction:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%s: checking whether type %s can be hashed: %w", s.name, typ, err)
	}
	var oidBound bool
	if err := s.pool.QueryRow(ctx, oidBoundSQL, typ).Scan(&oidBound); err != nil {
		return false, fmt.Errorf("%s: checking whether type %s hashes OIDs: %w", s.name, typ, err)
	}
	return !oidBound, nil
}

// oidBoundSQL reports whether a type's hash depends on OIDs, which differ
// between the source and the target: an enum (hashenum hashes the label's
// OID), oid and the reg* types, or a domain or array over one. Composite,
// range and multirange types hash their members with the members' hash
// functions, so they count as bound too (they are rare in tenant tables;
// their text is hashed instead).
const oidBoundSQL = `
WITH RECURSIVE t(oid) AS (
	SELECT $1::text::regtype::oid
	UNION
	SELECT CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.typelem END
	FROM pg_catalog.pg_type ty JOIN t ON ty.oid = t.oid
	WHERE ty.typtype = 'd' OR (ty.typcategory = 'A' AND ty.typelem <> 0))
SELECT EXISTS (
	SELECT FROM t JOIN pg_catalog.pg_type ty ON ty.oid = t.oid
	WHERE ty.typtype IN ('e', 'c', 'r', 'm')
	   OR (ty.typnamespace = 'pg_catalog'::regnamespace AND (ty.typname = 'oid' OR ty.typname LIKE 'reg%')))`

// rowHash is the expression hashing a row of t0 over cols (sorted by
// name), whose types on each side are srcTypes and dstTypes.
func (h *hasher) rowHash(cols []string, srcTypes, dstTypes map[string]string) string {
	if h.legacy {
		return "pg_catalog.hashtextextended(" + record("t0", cols) + ", 0)"
	}
	parts := make([]string, 0, len(cols))
	for _, c := range cols {
		col := "t0." + db.Ident(c)
		typ := srcTypes[c]
		switch {
		case typ != dstTypes[c] || !h.hashable[typ]:
			parts = append(parts, "("+col+")::text")
		case typ == "numeric":
			parts = append(parts, col, "pg_catalog.scale("+col+")")
		default:
			parts = append(parts, col)
		}
	}
	return "pg_catalog.hash_record_extended(ROW(" + strings.Join(parts, ", ") + "), 0)"
}
