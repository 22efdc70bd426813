package db

import (
	"context"
	"errors"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// Execer runs a statement: a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// InvalidValues returns the values (text forms) that the server cannot
// read as type typ, at most limit of them: the check to make before work
// that would otherwise fail in its middle on "invalid input syntax". typ is
// a type name as format_type prints it, from the catalog. All values are
// cast in one statement; only when that fails is each tried alone.
func InvalidValues(ctx context.Context, q Execer, typ string, values []string, limit int) ([]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	err := castable(ctx, q, "SELECT $1::text[]::"+typ+"[]", values)
	if err == nil || !isDataError(err) {
		return nil, err
	}
	var bad []string
	for _, v := range values {
		err := castable(ctx, q, "SELECT $1::text::"+typ, v)
		switch {
		case err == nil:
		case isDataError(err):
			if bad = append(bad, v); len(bad) >= limit {
				return bad, nil
			}
		default:
			return nil, err
		}
	}
	return bad, nil
}

func castable(ctx context.Context, q Execer, sql string, arg any) error {
	_, err := q.Exec(ctx, sql, arg)
	return err
}

// isDataError: the server refused a value (SQLSTATE class 22: invalid
// input syntax, out of range, ...).
func isDataError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pgerrcode.IsDataException(pe.Code)
}
