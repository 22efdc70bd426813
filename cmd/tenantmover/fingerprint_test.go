package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// tableFP is what a test compares to prove a command left a table alone:
// its definition (columns, constraints, indexes, triggers) and its content.
type tableFP struct {
	Kind    string // pg_class.relkind
	Def     string
	Rows    int64
	Content string // md5 of the rows' text, sorted; columns in name order
}

// dbFP is a database's user tables by quoted name.
type dbFP map[string]tableFP

// fingerprintSkip are the schemas a fingerprint ignores: the system's and
// tenantmover's own checkpoint schema, which every run may create.
var fingerprintSkip = []string{"pg_catalog", "information_schema", "pg_toast", "tenantmover"}

// fingerprint reads every user table, view and sequence of the database
// at url, except the objects of extensions (Citus's own tables) and the
// columns in omit ("schema.table.column", unquoted), which are left out of
// both the definition and the content: a test uses it for the tenant
// column backfill adds.
func fingerprint(t *testing.T, url string, omit ...string) dbFP {
	t.Helper()
	fp, err := readFingerprint(url, fingerprintSkip, omit...)
	require.NoError(t, err)
	return fp
}

// readFingerprint is fingerprint returning its error, for goroutines, and
// leaving out the schemas in skip.
func readFingerprint(url string, skip []string, omit ...string) (dbFP, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	omitted := map[string]bool{}
	for _, o := range omit {
		omitted[o] = true
	}
	rels, err := userRelations(ctx, conn, skip)
	if err != nil {
		return nil, err
	}
	out := dbFP{}
	for _, r := range rels {
		fp, err := relationFP(ctx, conn, r, omitted)
		if err != nil {
			return nil, fmt.Errorf("fingerprinting %s: %w", r.quoted, err)
		}
		out[r.quoted] = fp
	}
	return out, nil
}

type relation struct {
	oid          uint32
	schema, name string
	quoted       string
	kind         string
}

func userRelations(ctx context.Context, conn *pgx.Conn, skip []string) ([]relation, error) {
	rows, err := conn.Query(ctx, `SELECT c.oid, n.nspname, c.relname, format('%I.%I', n.nspname, c.relname), c.relkind::text
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
		  AND n.nspname <> ALL ($1) AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
		  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
		ORDER BY 4`, skip)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (relation, error) {
		var r relation
		err := row.Scan(&r.oid, &r.schema, &r.name, &r.quoted, &r.kind)
		return r, err
	})
}

// relationDefSQL renders a relation's definition from the catalog, one
// line per column, constraint, index and trigger. $2 lists omitted columns.
const relationDefSQL = `SELECT concat_ws(E'\n', 'kind ' || c.relkind::text,
  (SELECT string_agg(format('column %I %s%s%s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
        CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
        coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''),
        CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END,
        CASE WHEN a.attgenerated <> '' THEN ' GENERATED' ELSE '' END), E'\n' ORDER BY a.attnum)
     FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> ALL ($2)),
  (SELECT string_agg(format('constraint %I %s', conname, pg_get_constraintdef(oid)), E'\n' ORDER BY conname)
     FROM pg_constraint WHERE conrelid = c.oid),
  (SELECT string_agg('index ' || pg_get_indexdef(indexrelid), E'\n' ORDER BY pg_get_indexdef(indexrelid))
     FROM pg_index WHERE indrelid = c.oid),
  (SELECT string_agg('trigger ' || pg_get_triggerdef(oid), E'\n' ORDER BY pg_get_triggerdef(oid))
     FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal),
  CASE WHEN c.relkind IN ('v', 'm') THEN 'view ' || pg_get_viewdef(c.oid) END)
FROM pg_class c WHERE c.oid = $1`

func relationFP(ctx context.Context, conn *pgx.Conn, r relation, skip map[string]bool) (tableFP, error) {
	var omitted []string
	cols, err := columnsByName(ctx, conn, r.oid)
	if err != nil {
		return tableFP{}, err
	}
	var kept []string
	for _, c := range cols {
		if skip[r.schema+"."+r.name+"."+c] {
			omitted = append(omitted, c)
			continue
		}
		kept = append(kept, pgx.Identifier{c}.Sanitize())
	}
	fp := tableFP{Kind: r.kind}
	if err := conn.QueryRow(ctx, relationDefSQL, r.oid, append(omitted, "")).Scan(&fp.Def); err != nil {
		return fp, err
	}
	if r.kind == "v" {
		return fp, nil
	}
	if r.kind == "S" {
		var last int64
		var called bool
		err := conn.QueryRow(ctx, fmt.Sprintf("SELECT last_value, is_called FROM %s", r.quoted)).Scan(&last, &called)
		fp.Content = fmt.Sprintf("last_value %d is_called %t", last, called)
		return fp, err
	}
	row := "ROW()"
	if len(kept) > 0 {
		row = "ROW(" + strings.Join(kept, ", ") + ")"
	}
	q := fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(r, E'\n' ORDER BY r COLLATE "C")), '')
		FROM (SELECT %s::text AS r FROM %s) s`, row, r.quoted)
	err = conn.QueryRow(ctx, q).Scan(&fp.Rows, &fp.Content)
	return fp, err
}

// columnsByName lists a relation's columns in name order, so that two
// tables with the same columns in another order hash alike (the target
// places the tenant column where the source's backfill did not).
func columnsByName(ctx context.Context, conn *pgx.Conn, oid uint32) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT attname::text FROM pg_attribute
		WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attname COLLATE "C"`, oid)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// contents keeps only the tables' row counts and hashes, to compare the
// data of two databases whose definitions differ (a source and its target).
func (f dbFP) contents() map[string]string {
	out := map[string]string{}
	for name, fp := range f {
		if fp.Kind == "r" || fp.Kind == "p" {
			out[name] = fmt.Sprintf("%d rows %s", fp.Rows, fp.Content)
		}
	}
	return out
}

// without drops tables from a fingerprint.
func (f dbFP) without(names ...string) dbFP {
	out := dbFP{}
	for k, v := range f {
		out[k] = v
	}
	for _, n := range names {
		delete(out, n)
	}
	return out
}

// requireUnchanged fails when the database at url differs from before,
// showing only the tables that differ.
func requireUnchanged(t *testing.T, before dbFP, url, what string) {
	t.Helper()
	requireSameFP(t, before, fingerprint(t, url), what+" changed")
}

// requireSameFP compares two fingerprints table by table.
func requireSameFP(t *testing.T, want, got dbFP, msg string) {
	t.Helper()
	w, g := dbFP{}, dbFP{}
	for name := range want {
		if got[name] != want[name] {
			w[name], g[name] = want[name], got[name]
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			g[name] = got[name]
		}
	}
	require.Equal(t, w, g, msg)
}
