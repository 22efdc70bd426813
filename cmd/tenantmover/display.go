package main

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
)

// tableDisplay shows the progress of work done table by table, several
// tables at once (backfill's batches, copy's chunks): on a terminal an
// overall bar over one bar per active table (rows, rows/s and ETA; bytes in
// the label when the work counts them), redrawn in place; otherwise a log
// line per finished table and an overall line at most every logEvery.
// backfill and pgcopy serialize their progress callbacks, so there is no
// lock.
type tableDisplay struct {
	w        io.Writer
	log      *slog.Logger
	terminal bool
	bytes    bool // label bars with bytes
	overall  *progressbar.ProgressBar
	active   map[string]*tableBar
	total    int64 // estimated rows (-1 unknown, as in a tenant copy)
	rows     int64
	bytesSum int64
	drawn    int // lines drawn last time
	lastDraw time.Time
	lastLog  time.Time
	started  time.Time
}

// logEvery is how often the overall line is logged when not on a terminal.
const logEvery = 10 * time.Second

// tableBar is one active table's bar.
type tableBar struct {
	bar   *progressbar.ProgressBar
	name  string
	rows  int64
	bytes int64
}

// newTableDisplay makes a display for c's stderr. knownTotal is false when
// the rows to do cannot be estimated (the overall bar then only counts).
func newTableDisplay(c *cli.Context, knownTotal, bytes bool) *tableDisplay {
	return newTableDisplayTo(stderrOf(c), newLogger(c), showProgress(c), knownTotal, bytes)
}

func newTableDisplayTo(w io.Writer, log *slog.Logger, terminal, knownTotal, bytes bool) *tableDisplay {
	d := &tableDisplay{w: w, log: log, terminal: terminal, bytes: bytes, active: map[string]*tableBar{},
		started: time.Now(), lastLog: time.Now()}
	if !knownTotal {
		d.total = -1
	}
	return d
}

// newBar makes a bar that renders into its String(), which draw composes.
func newBar(total int64, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(io.Discard),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(24),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(0),
	)
}

// planned adds a table's estimate, and what earlier runs already did, to
// the overall figures.
func (d *tableDisplay) planned(total, doneRows, doneBytes int64) {
	if d.total >= 0 {
		d.total += max(total, doneRows)
		if d.overall != nil && d.total > d.overall.GetMax64() {
			d.overall.ChangeMax64(d.total)
		}
	}
	d.rows += doneRows
	d.bytesSum += doneBytes
}

// startTable shows a bar for table, expecting about rows more rows.
func (d *tableDisplay) startTable(table string, rows int64) {
	if !d.terminal {
		return
	}
	if d.overall == nil {
		d.overall = newBar(d.total, "") // -1: no estimate, a spinner
		d.overall.StartWithoutRender()
	}
	tb := &tableBar{name: table, bar: newBar(max(rows, 1), "")}
	tb.bar.Describe(d.label(tb.name, 0))
	tb.bar.StartWithoutRender() // rates count from the table's start
	d.active[table] = tb
}

// add counts rows (and bytes) done in table.
func (d *tableDisplay) add(table string, rows, bytes int64) {
	d.rows += rows
	d.bytesSum += bytes
	if tb := d.active[table]; tb != nil {
		tb.rows += rows
		tb.bytes += bytes
		if tb.rows > tb.bar.GetMax64() {
			tb.bar.ChangeMax64(tb.rows)
		}
		tb.bar.Describe(d.label(tb.name, tb.bytes))
		_ = tb.bar.Add64(rows)
	}
	d.tick()
}

// finishTable removes table's bar and logs msg with args.
func (d *tableDisplay) finishTable(table, msg string, args ...any) {
	delete(d.active, table)
	d.logAbove(slog.LevelInfo, msg, args...)
}

// warn logs a warning above the bars.
func (d *tableDisplay) warn(msg string, args ...any) { d.logAbove(slog.LevelWarn, msg, args...) }

// say prints a line above the bars.
func (d *tableDisplay) say(line string) {
	d.clear()
	fmt.Fprintln(d.w, line)
}

// close removes the bars before the summary is printed.
func (d *tableDisplay) close() { d.clear() }

func (d *tableDisplay) label(name string, bytes int64) string {
	if !d.bytes {
		return fmt.Sprintf("%-28s", name)
	}
	return fmt.Sprintf("%-28s %9s", name, fmtBytes(bytes))
}

// tick redraws the bars (at most 10 times a second) or logs the overall
// progress (at most every logEvery).
func (d *tableDisplay) tick() {
	if d.terminal {
		if time.Since(d.lastDraw) >= 100*time.Millisecond {
			d.draw()
		}
		return
	}
	if time.Since(d.lastLog) >= logEvery {
		d.lastLog = time.Now()
		args := []any{"rows", d.rows, "of_about", d.total}
		if d.bytes {
			args = append(args, "bytes", d.bytesSum)
		}
		secs := time.Since(d.started).Seconds()
		args = append(args, "rows_per_s", int64(float64(d.rows)/secs), "active", strings.Join(d.activeNames(), ","))
		d.log.Info("progress", args...)
	}
}

func (d *tableDisplay) activeNames() []string {
	names := make([]string, 0, len(d.active))
	for n := range d.active {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// draw replaces the previously drawn lines with the overall bar and one
// line per active table.
func (d *tableDisplay) draw() {
	if d.total >= 0 && d.rows > d.overall.GetMax64() {
		d.overall.ChangeMax64(d.rows)
	}
	d.overall.Describe(d.label("total", d.bytesSum))
	_ = d.overall.Set64(d.rows)
	lines := []string{d.overall.String()}
	for _, n := range d.activeNames() {
		if l := d.active[n].bar.String(); l != "" { // not rendered before its first rows
			lines = append(lines, l)
		}
	}
	d.clear()
	for _, l := range lines {
		fmt.Fprintf(d.w, "%s\n", strings.TrimLeft(l, "\r"))
	}
	d.drawn = len(lines)
	d.lastDraw = time.Now()
}

// clear erases the drawn lines, leaving the cursor where they started.
func (d *tableDisplay) clear() {
	for ; d.drawn > 0; d.drawn-- {
		fmt.Fprint(d.w, "\x1b[1A\r\x1b[2K")
	}
}

// logAbove logs a line above the bars, then redraws them.
func (d *tableDisplay) logAbove(level slog.Level, msg string, args ...any) {
	d.clear()
	d.log.Log(nil, level, msg, args...)
	if d.terminal && len(d.active) > 0 {
		d.draw()
	}
}
