package pgcopy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantmover/tenantmover/internal/db"
)

// ErrNotBackfilled: nested tables lack their tenant column on the source.
type ErrNotBackfilled struct{ Tables []string }

func (e *ErrNotBackfilled) Error() string {
	return fmt.Sprintf("nested tables without their tenant column on the source: %s: run tenantmover backfill first",
		strings.Join(e.Tables, ", "))
}

// ColumnMismatch is one source column the target cannot take.
type ColumnMismatch struct {
	Table   string `json:"table"`
	Column  string `json:"column"`
	Problem string `json:"problem"`
}

// ErrSchemaMismatch: target tables are missing or their columns differ from
// the source's. Nothing was copied.
type ErrSchemaMismatch struct {
	MissingTables []string
	Columns       []ColumnMismatch
}

func (e *ErrSchemaMismatch) Error() string {
	var parts []string
	if len(e.MissingTables) > 0 {
		parts = append(parts, fmt.Sprintf("target tables missing: %s (create them with tenantmover plan --apply --target ...)",
			strings.Join(e.MissingTables, ", ")))
	}
	for _, c := range e.Columns {
		parts = append(parts, fmt.Sprintf("%s.%s: %s", c.Table, db.QuoteIfNeeded(c.Column), c.Problem))
	}
	return "target schema does not match the source, nothing copied: " + strings.Join(parts, "; ")
}

// ErrTargetTriggers: target tables the copy writes have enabled triggers,
// which would fire on every copied row. Nothing was copied.
type ErrTargetTriggers struct {
	Triggers []string // "audit on public.product"
	Tables   []string // as typed in SQL, once each
}

func (e *ErrTargetTriggers) Error() string {
	var disable, enable []string
	for _, t := range e.Tables {
		disable = append(disable, "ALTER TABLE "+t+" DISABLE TRIGGER USER;")
		enable = append(enable, "ALTER TABLE "+t+" ENABLE TRIGGER USER;")
	}
	return fmt.Sprintf("target tables have triggers that would fire on every copied row and make the target differ from the source: %s; nothing copied. "+
		"Disable them for the copy (%s), then enable them again (%s); or drop them: copy creates the source's triggers when it is done ('cutover' with --follow), as it does after 'plan --apply' without --with-triggers",
		strings.Join(e.Triggers, ", "), strings.Join(disable, " "), strings.Join(enable, " "))
}

// ForeignRows names a target table holding rows the run's checkpoints do
// not account for, and the chunks (or tenants) whose range they fall in.
type ForeignRows struct {
	Table  string   `json:"table"`
	Chunks []string `json:"chunks"`
}

// ErrTargetNotEmpty: the target already holds rows this run did not copy,
// in ranges it is about to copy; copying would duplicate or collide.
type ErrTargetNotEmpty struct {
	Run    string
	Tables []ForeignRows
}

func (e *ErrTargetNotEmpty) Error() string {
	var parts []string
	for _, t := range e.Tables {
		shown := t.Chunks
		more := ""
		if len(shown) > 5 {
			shown, more = shown[:5], fmt.Sprintf(" and %d more", len(t.Chunks)-5)
		}
		parts = append(parts, fmt.Sprintf("%s (%s%s)", t.Table, strings.Join(shown, ", "), more))
	}
	return fmt.Sprintf("the target already holds rows that run %q did not copy, in: %s: "+
		"rerun with --restart to empty these tables and start over (or --replace with --tenants), "+
		"or resume the run that copied them with its --run name",
		e.Run, strings.Join(parts, "; "))
}

// ChunkError is a chunk that failed for good; the run stopped.
type ChunkError struct {
	Table string
	Chunk int
	Range string
	Err   error
}

func (e *ChunkError) Error() string {
	msg := fmt.Sprintf("copying %s chunk %d %s: %v", e.Table, e.Chunk, e.Range, e.Err)
	var pe *pgconn.PgError
	if !errors.As(e.Err, &pe) {
		return msg
	}
	const fix = "give them a tenant or delete them on the source (tenantmover migrate's tenant-check lists them with sample keys), then rerun: committed chunks are kept"
	switch pe.Code {
	case pgerrcode.NullValueNotAllowedDataException:
		// Citus: "the partition column of table ... cannot be NULL".
		msg += fmt.Sprintf(": rows of %s have no tenant (their tenant column is NULL), which Citus cannot store; %s", e.Table, fix)
	case pgerrcode.NotNullViolation:
		// The target's keys include the tenant column, so it is NOT NULL.
		msg += fmt.Sprintf(": rows of %s have no value in %s, which the target requires (the tenant column is part of its keys there); %s",
			e.Table, db.QuoteIfNeeded(pe.ColumnName), fix)
	}
	return msg
}

func (e *ChunkError) Unwrap() error { return e.Err }
