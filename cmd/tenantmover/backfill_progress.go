package main

import (
	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/backfill"
)

// backfillProgress shows a backfill on a tableDisplay: keys walked per
// nested table, of its estimated rows (which include earlier runs' work).
// close removes the bars.
func backfillProgress(c *cli.Context) (event func(backfill.Progress), close func()) {
	d := newTableDisplay(c, true, false)
	walked := map[string]int64{}
	return func(p backfill.Progress) { backfillEvent(d, walked, p) }, d.close
}

func backfillEvent(d *tableDisplay, walked map[string]int64, p backfill.Progress) {
	prev, seen := walked[p.Table]
	if !seen {
		if p.Total == 0 && p.Done == 0 && p.Stage != backfill.StageDone {
			return // nothing known yet
		}
		d.planned(p.Total, p.Done, 0)
		d.startTable(p.Table, p.Total-p.Done)
		walked[p.Table], prev = p.Done, p.Done
	}
	if p.Done > prev {
		d.add(p.Table, p.Done-prev, 0)
		walked[p.Table] = p.Done
	}
	switch p.Stage {
	case backfill.StageFilled:
		d.finishTable(p.Table, "filled", "table", p.Table, "rows_updated", p.Updated, "batches", p.Batches)
	case backfill.StageDone:
		d.finishTable(p.Table, "done", "table", p.Table)
	}
}
