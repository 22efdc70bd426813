package main

import (
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/verify"
)

// progressView draws the events of any phase (phase.Event): work counted
// by table (backfill's batches, copy's chunks) on a tableDisplay, work
// counted by step (verify's comparisons, shard checks) on a meter per step,
// notes and retries as log lines. A new phase (its Started event without a
// table, as migrate sends) closes the previous phase's display. Phases
// serialize their events, so there is no lock.
type progressView struct {
	log *slog.Logger
	// newDisplay makes a phase's table display.
	newDisplay func() *tableDisplay
	// newMeter makes a step's meter.
	newMeter func(desc string, total int64, unit string) *meter
	phase    string
	tables   *tableDisplay
	steps    map[string]*meter
	walked   map[string]int64
}

// newProgress returns the event callback of a command and the function
// that removes the bars before its summary is printed.
func newProgress(c *cli.Context) (func(phase.Event), func()) {
	v := &progressView{log: newLogger(c),
		newDisplay: func() *tableDisplay { return newTableDisplay(c, true, false) },
		newMeter:   func(desc string, total int64, unit string) *meter { return newMeter(c, desc, total, unit) },
	}
	return v.event, v.close
}

func (v *progressView) event(ev phase.Event) {
	if ev.Phase != v.phase {
		v.close()
		v.phase = ev.Phase
	}
	switch {
	case ev.Kind == phase.Note:
		v.display().say(ev.Message)
	case ev.Table != "":
		v.tableEvent(ev)
	case ev.Step != "":
		v.stepEvent(ev)
	case ev.Kind == phase.Started:
		v.log.Info("phase", "name", ev.Phase)
	}
}

// display is the current phase's table display, made on first use.
func (v *progressView) display() *tableDisplay {
	if v.tables == nil {
		v.tables = v.newDisplay()
		v.walked = map[string]int64{}
	}
	return v.tables
}

func (v *progressView) tableEvent(ev phase.Event) {
	d := v.display()
	if ev.Bytes > 0 {
		d.bytes = true // the phase counts bytes: label the bars with them
	}
	switch ev.Kind {
	case phase.Planned:
		if ev.Total < 0 {
			d.total = -1 // no estimate (a tenant copy)
		}
		d.planned(max(ev.Total, 0), ev.Done, ev.Bytes)
		v.walked[ev.Table] = ev.Done
	case phase.Started:
		d.startTable(ev.Table, max(ev.Total-v.walked[ev.Table], 0))
	case phase.Advanced:
		d.add(ev.Table, ev.Done, ev.Bytes)
	case phase.Retrying:
		d.warn("retrying", "table", ev.Table, "unit", ev.Unit, "attempt", ev.Attempt, "error", ev.Err)
	case phase.Finished:
		d.finishTable(ev.Table, ev.Step, append([]any{"table", ev.Table}, ev.Fields...)...)
	}
}

var stepTitles = map[string]string{verify.StepCompare: "comparing tenants", verify.StepInvariant: "checking tenant invariants", verify.StepShards: "checking shard placements"}

func (v *progressView) stepEvent(ev phase.Event) {
	if v.steps == nil {
		v.steps = map[string]*meter{}
	}
	m := v.steps[ev.Step]
	switch ev.Kind {
	case phase.Planned:
		title := stepTitles[ev.Step]
		if title == "" {
			title = ev.Step
		}
		v.steps[ev.Step] = v.newMeter(title, ev.Total, ev.Counting)
	case phase.Advanced:
		if m != nil {
			m.Add(ev.Done)
		}
	case phase.Finished:
		if m != nil {
			m.Finish()
			delete(v.steps, ev.Step)
		}
	}
}

// close removes the current phase's bars.
func (v *progressView) close() {
	if v.tables != nil {
		v.tables.close()
		v.tables = nil
	}
	for _, m := range v.steps {
		m.Finish()
	}
	v.steps = nil
}
