package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	pgcopy "github.com/tenantmover/tenantmover/copy"
)

// copyProgress shows a copy on a tableDisplay: rows and bytes per table.
// A tenant copy (tenants) has no row estimate. close removes the bars.
func copyProgress(c *cli.Context, tenants bool) (event func(pgcopy.Progress), close func()) {
	d := newTableDisplay(c, !tenants, true)
	return func(p pgcopy.Progress) { copyEvent(d, p) }, d.close
}

func copyEvent(d *tableDisplay, p pgcopy.Progress) {
	switch p.Kind {
	case pgcopy.EventPlanned:
		d.planned(p.TotalRows, p.DoneRows, p.DoneBytes)
	case pgcopy.EventTruncating:
		d.say("restart: emptying " + strings.Join(p.Tables, ", "))
	case pgcopy.EventTableStarted:
		d.startTable(p.Table, p.TotalRows)
	case pgcopy.EventChunkDone:
		d.add(p.Table, p.Rows, p.Bytes)
	case pgcopy.EventRetry:
		d.warn("retrying chunk", "table", p.Table, "chunk", p.Chunk, "attempt", p.Attempt, "error", p.Err)
	case pgcopy.EventTableFinished:
		d.finishTable(p.Table, "table copied", "table", p.Table, "rows", p.Rows, "bytes", p.Bytes)
	}
}
