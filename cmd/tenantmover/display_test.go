package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/backfill"
	pgcopy "github.com/tenantmover/tenantmover/copy"
)

func testDisplay(terminal, knownTotal, bytes bool) (*tableDisplay, *strings.Builder) {
	var out strings.Builder
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	return newTableDisplayTo(&out, log, terminal, knownTotal, bytes), &out
}

// copyEvents is a copy of two tables, one of them resumed with rows done.
var copyEvents = []pgcopy.Progress{
	{Kind: pgcopy.EventPlanned, Table: "public.store", TotalRows: 10},
	{Kind: pgcopy.EventPlanned, Table: "public.product", TotalRows: 100, DoneRows: 40, DoneBytes: 4000},
	{Kind: pgcopy.EventTableStarted, Table: "public.store", TotalRows: 10},
	{Kind: pgcopy.EventChunkDone, Table: "public.store", Rows: 10, Bytes: 1000},
	{Kind: pgcopy.EventTableFinished, Table: "public.store", Rows: 10, Bytes: 1000},
	{Kind: pgcopy.EventTableStarted, Table: "public.product", TotalRows: 60},
	{Kind: pgcopy.EventRetry, Table: "public.product", Chunk: 2, Attempt: 1},
	{Kind: pgcopy.EventChunkDone, Table: "public.product", Rows: 60, Bytes: 6000},
	{Kind: pgcopy.EventTableFinished, Table: "public.product", Rows: 60, Bytes: 6000},
}

func TestCopyDisplayLogsWithoutTerminal(t *testing.T) {
	d, out := testDisplay(false, true, true)
	for _, e := range copyEvents {
		copyEvent(d, e)
	}
	d.close()
	require.NotContains(t, out.String(), "\x1b", "no terminal control codes in a log")
	require.Contains(t, out.String(), `msg="table copied" table=public.store rows=10 bytes=1000`)
	require.Contains(t, out.String(), `msg="table copied" table=public.product rows=60 bytes=6000`)
	require.Contains(t, out.String(), `level=WARN msg="retrying chunk" table=public.product chunk=2 attempt=1`)
	require.Equal(t, int64(110), d.total)
	require.Equal(t, int64(110), d.rows, "rows of earlier runs count too")
	require.Equal(t, int64(11000), d.bytesSum)
}

func TestCopyDisplayDrawsAndErasesBars(t *testing.T) {
	d, out := testDisplay(true, true, true)
	for _, e := range copyEvents[:4] { // store's chunk done, its bar still up
		copyEvent(d, e)
	}
	drawn := out.String()
	require.Contains(t, drawn, "total")
	require.Contains(t, drawn, "public.store")
	require.Contains(t, drawn, "1000 B", "the table's bytes label its bar")
	require.Equal(t, 2, d.drawn, "the overall bar and one table bar")
	d.close()
	require.Equal(t, 2, strings.Count(strings.TrimPrefix(out.String(), drawn), "\x1b[1A"), "close erases the drawn lines")
	require.Zero(t, d.drawn)
}

func TestBackfillDisplayCountsResumedWork(t *testing.T) {
	d, out := testDisplay(false, true, false)
	walked := map[string]int64{}
	for _, p := range []backfill.Progress{
		{Table: "public.empty", Stage: backfill.StagePrepare}, // nothing known: no bar, no total
		{Table: "public.purchase", Stage: backfill.StagePrepare, Done: 300, Total: 1000},
		{Table: "public.purchase", Stage: backfill.StageFill, Done: 800, Total: 1000},
		{Table: "public.purchase", Stage: backfill.StageFilled, Done: 1000, Total: 1000, Updated: 700, Batches: 3},
		{Table: "public.purchase", Stage: backfill.StageDone, Done: 1000, Total: 1000},
	} {
		backfillEvent(d, walked, p)
	}
	require.Equal(t, int64(1000), d.total)
	require.Equal(t, int64(1000), d.rows, "300 walked by an earlier run, 700 by this one")
	require.NotContains(t, walked, "public.empty")
	require.Contains(t, out.String(), `msg=filled table=public.purchase rows_updated=700 batches=3`)
	require.Contains(t, out.String(), `msg=done table=public.purchase`)
}

func TestBackfillDisplayBarsOnTerminal(t *testing.T) {
	d, out := testDisplay(true, true, false)
	walked := map[string]int64{}
	backfillEvent(d, walked, backfill.Progress{Table: "public.refund", Stage: backfill.StagePrepare, Total: 50})
	backfillEvent(d, walked, backfill.Progress{Table: "public.refund", Stage: backfill.StageFill, Done: 20, Total: 50})
	require.Contains(t, out.String(), "public.refund")
	require.NotContains(t, out.String(), " B ", "backfill bars carry no byte label")
	require.Equal(t, 2, d.drawn, "the overall bar and the table's")
}
