package main

import (
	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/backfill"
)

// tableMeters keeps one meter per table, made on the table's first event.
// Callbacks from the feature packages are serialized, so no lock is needed.
type tableMeters struct {
	c      *cli.Context
	prefix string
	unit   string
	m      map[string]*meter
}

func newTableMeters(c *cli.Context, prefix, unit string) *tableMeters {
	return &tableMeters{c: c, prefix: prefix, unit: unit, m: map[string]*meter{}}
}

// get returns the table's meter, making it with total if new.
func (t *tableMeters) get(table string, total int64) *meter {
	m, ok := t.m[table]
	if !ok {
		m = newMeter(t.c, t.prefix+" "+table, total, t.unit)
		t.m[table] = m
	}
	return m
}

// finish closes the table's meter.
func (t *tableMeters) finish(table string) {
	if m, ok := t.m[table]; ok {
		m.Finish()
		delete(t.m, table)
	}
}

// backfillMeter draws a bar per nested table: keys walked of the estimate.
func backfillMeter(c *cli.Context) func(backfill.Progress) {
	meters := newTableMeters(c, "backfill", " rows")
	walked := map[string]int64{}
	return func(p backfill.Progress) {
		if p.Total == 0 && p.Done == 0 {
			return
		}
		m := meters.get(p.Table, p.Total)
		if d := p.Done - walked[p.Table]; d > 0 {
			m.Add(d)
			walked[p.Table] = p.Done
		}
		if p.Stage == backfill.StageDone {
			meters.finish(p.Table)
		}
	}
}
