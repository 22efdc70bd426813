package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/backfill"
	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// testView is a progress view writing to a buffer, as on a terminal or not.
func testView(terminal bool) (*progressView, *strings.Builder) {
	var out strings.Builder
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	v := &progressView{log: log, newDisplay: func() *tableDisplay { return newTableDisplayTo(&out, log, terminal, true, false) }}
	return v, &out
}

func send(v *progressView, events []phase.Event) {
	for _, e := range events {
		v.event(e)
	}
}

// copyEvents is a copy of two tables, one of them resumed with rows done.
var copyEvents = []phase.Event{
	{Phase: pgcopy.Name, Kind: phase.Planned, Table: "public.store", Total: 10},
	{Phase: pgcopy.Name, Kind: phase.Planned, Table: "public.product", Total: 100, Done: 40, Bytes: 4000},
	{Phase: pgcopy.Name, Kind: phase.Started, Table: "public.store", Total: 10},
	{Phase: pgcopy.Name, Kind: phase.Advanced, Table: "public.store", Done: 10, Bytes: 1000},
	{Phase: pgcopy.Name, Kind: phase.Finished, Table: "public.store", Step: "table copied", Fields: []any{"rows", 10, "bytes", 1000}},
	{Phase: pgcopy.Name, Kind: phase.Started, Table: "public.product", Total: 100},
	{Phase: pgcopy.Name, Kind: phase.Retrying, Table: "public.product", Unit: 2, Attempt: 1},
	{Phase: pgcopy.Name, Kind: phase.Advanced, Table: "public.product", Done: 60, Bytes: 6000},
	{Phase: pgcopy.Name, Kind: phase.Finished, Table: "public.product", Step: "table copied", Fields: []any{"rows", 60, "bytes", 6000}},
}

func TestCopyDisplayLogsWithoutTerminal(t *testing.T) {
	v, out := testView(false)
	send(v, copyEvents)
	d := v.tables
	v.close()
	require.NotContains(t, out.String(), "\x1b", "no terminal control codes in a log")
	require.Contains(t, out.String(), `msg="table copied" table=public.store rows=10 bytes=1000`)
	require.Contains(t, out.String(), `msg="table copied" table=public.product rows=60 bytes=6000`)
	require.Contains(t, out.String(), `level=WARN msg=retrying table=public.product unit=2 attempt=1`)
	require.Equal(t, int64(110), d.total)
	require.Equal(t, int64(110), d.rows, "rows of earlier runs count too")
	require.Equal(t, int64(11000), d.bytesSum)
}

func TestCopyDisplayDrawsAndErasesBars(t *testing.T) {
	v, out := testView(true)
	send(v, copyEvents[:4]) // store's chunk done, its bar still up
	drawn := out.String()
	require.Contains(t, drawn, "total")
	require.Contains(t, drawn, "public.store")
	require.Contains(t, drawn, "1000 B", "the table's bytes label its bar")
	require.Equal(t, 2, v.tables.drawn, "the overall bar and one table bar")
	d := v.tables
	v.close()
	require.Equal(t, 2, strings.Count(strings.TrimPrefix(out.String(), drawn), "\x1b[1A"), "close erases the drawn lines")
	require.Zero(t, d.drawn)
}

func TestBackfillDisplayCountsResumedWork(t *testing.T) {
	v, out := testView(false)
	send(v, []phase.Event{
		{Phase: backfill.Name, Kind: phase.Planned, Table: "public.purchase", Total: 1000, Done: 300},
		{Phase: backfill.Name, Kind: phase.Started, Table: "public.purchase", Total: 1000},
		{Phase: backfill.Name, Kind: phase.Advanced, Table: "public.purchase", Done: 500},
		{Phase: backfill.Name, Kind: phase.Advanced, Table: "public.purchase", Done: 200},
		{Phase: backfill.Name, Kind: phase.Finished, Table: "public.purchase", Step: backfill.StepFilled, Fields: []any{"rows_updated", 700, "batches", 3}},
		{Phase: backfill.Name, Kind: phase.Finished, Table: "public.purchase", Step: backfill.StepDone},
	})
	require.Equal(t, int64(1000), v.tables.total)
	require.Equal(t, int64(1000), v.tables.rows, "300 walked by an earlier run, 700 by this one")
	require.Contains(t, out.String(), `msg=filled table=public.purchase rows_updated=700 batches=3`)
	require.Contains(t, out.String(), `msg=done table=public.purchase`)
}

func TestBackfillDisplayBarsOnTerminal(t *testing.T) {
	v, out := testView(true)
	send(v, []phase.Event{
		{Phase: backfill.Name, Kind: phase.Planned, Table: "public.refund", Total: 50},
		{Phase: backfill.Name, Kind: phase.Started, Table: "public.refund", Total: 50},
		{Phase: backfill.Name, Kind: phase.Advanced, Table: "public.refund", Done: 20},
	})
	require.Contains(t, out.String(), "public.refund")
	require.NotContains(t, out.String(), " B ", "backfill bars carry no byte label")
	require.Equal(t, 2, v.tables.drawn, "the overall bar and the table's")
}

// A new phase closes the previous one's bars; a migration's phase start is
// logged; a tenant copy has no estimate.
func TestProgressViewAcrossPhases(t *testing.T) {
	v, out := testView(true)
	send(v, []phase.Event{
		{Phase: backfill.Name, Kind: phase.Started},
		{Phase: backfill.Name, Kind: phase.Planned, Table: "public.refund", Total: 50},
		{Phase: backfill.Name, Kind: phase.Started, Table: "public.refund", Total: 50},
		{Phase: backfill.Name, Kind: phase.Advanced, Table: "public.refund", Done: 20},
	})
	first := v.tables
	require.Equal(t, 2, first.drawn)
	send(v, []phase.Event{
		{Phase: pgcopy.Name, Kind: phase.Started},
		{Phase: pgcopy.Name, Kind: phase.Planned, Table: "public.refund", Total: -1},
	})
	require.Zero(t, first.drawn, "the backfill's bars are gone")
	require.Equal(t, int64(-1), v.tables.total)
	require.Contains(t, out.String(), "msg=phase name=backfill")
	require.Contains(t, out.String(), "msg=phase name=copy")
}
