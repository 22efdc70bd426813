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

	pgcopy "github.com/tenantmover/tenantmover/copy"
)

// copyDisplay shows a copy's progress: on a terminal a bar per active table
// under an overall bar (rows with rows/s and ETA, bytes in the label),
// redrawn in place; otherwise a log line per finished table and an overall
// line at most every 10 seconds. pgcopy serializes its events, so no lock.
type copyDisplay struct {
	w        io.Writer
	log      *slog.Logger
	terminal bool
	overall  *progressbar.ProgressBar
	active   map[string]*tableBar
	total    int64 // estimated rows (-1 unknown: a tenant copy)
	rows     int64
	bytes    int64
	drawn    int // lines drawn last time
	lastDraw time.Time
	lastLog  time.Time
	started  time.Time
}

// tableBar is one active table's bar.
type tableBar struct {
	bar   *progressbar.ProgressBar
	rows  int64
	bytes int64
}

func newCopyDisplay(c *cli.Context, tenants bool) *copyDisplay {
	d := &copyDisplay{w: stderrOf(c), log: newLogger(c), terminal: showProgress(c), active: map[string]*tableBar{},
		started: time.Now(), lastLog: time.Now()}
	if tenants {
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

// event is the pgcopy progress callback.
func (d *copyDisplay) event(p pgcopy.Progress) {
	switch p.Kind {
	case pgcopy.EventPlanned:
		if d.total >= 0 {
			d.total += max(p.TotalRows, p.DoneRows)
		}
		d.rows += p.DoneRows
		d.bytes += p.DoneBytes
	case pgcopy.EventTruncating:
		d.say("restart: emptying " + strings.Join(p.Tables, ", "))
	case pgcopy.EventTableStarted:
		if d.terminal && d.overall == nil { // every table is planned by now
			d.overall = newBar(max(d.total, -1), "")
			d.overall.StartWithoutRender()
		}
		if d.terminal {
			tb := &tableBar{bar: newBar(max(p.TotalRows, 1), fmt.Sprintf("%-28s %9s", p.Table, fmtBytes(0)))}
			tb.bar.StartWithoutRender() // rates count from the table's start
			d.active[p.Table] = tb
		}
	case pgcopy.EventChunkDone:
		d.rows += p.Rows
		d.bytes += p.Bytes
		if tb := d.active[p.Table]; tb != nil {
			tb.rows += p.Rows
			tb.bytes += p.Bytes
			if tb.rows > tb.bar.GetMax64() {
				tb.bar.ChangeMax64(tb.rows)
			}
			tb.bar.Describe(fmt.Sprintf("%-28s %9s", p.Table, fmtBytes(tb.bytes)))
			_ = tb.bar.Add64(p.Rows)
		}
		d.tick()
	case pgcopy.EventRetry:
		d.sayLog(slog.LevelWarn, "retrying chunk", "table", p.Table, "chunk", p.Chunk, "attempt", p.Attempt, "error", p.Err)
	case pgcopy.EventTableFinished:
		delete(d.active, p.Table)
		d.sayLog(slog.LevelInfo, "table copied", "table", p.Table, "rows", p.Rows, "bytes", p.Bytes)
	}
}

// tick redraws the bars (at most 10 times a second) or logs the overall
// progress (at most every 10 seconds).
func (d *copyDisplay) tick() {
	if d.terminal {
		if time.Since(d.lastDraw) >= 100*time.Millisecond {
			d.draw()
		}
		return
	}
	if time.Since(d.lastLog) >= 10*time.Second {
		d.lastLog = time.Now()
		secs := time.Since(d.started).Seconds()
		d.log.Info("progress", "rows", d.rows, "of_about", d.total, "bytes", d.bytes,
			"rows_per_s", int64(float64(d.rows)/secs), "active", strings.Join(d.activeNames(), ","))
	}
}

func (d *copyDisplay) activeNames() []string {
	names := make([]string, 0, len(d.active))
	for n := range d.active {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// draw replaces the previously drawn lines with the overall bar and one
// line per active table.
func (d *copyDisplay) draw() {
	if d.total >= 0 && d.rows > d.overall.GetMax64() {
		d.overall.ChangeMax64(d.rows)
	}
	d.overall.Describe(fmt.Sprintf("%-28s %9s", "total", fmtBytes(d.bytes)))
	_ = d.overall.Set64(d.rows)
	lines := []string{d.overall.String()}
	for _, n := range d.activeNames() {
		if l := d.active[n].bar.String(); l != "" { // not rendered before its first chunk
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
func (d *copyDisplay) clear() {
	for ; d.drawn > 0; d.drawn-- {
		fmt.Fprint(d.w, "\x1b[1A\r\x1b[2K")
	}
}

// say prints a line above the bars.
func (d *copyDisplay) say(line string) {
	d.clear()
	fmt.Fprintln(d.w, line)
}

// sayLog logs a line above the bars.
func (d *copyDisplay) sayLog(level slog.Level, msg string, args ...any) {
	d.clear()
	d.log.Log(nil, level, msg, args...)
	if d.terminal && len(d.active) > 0 {
		d.draw()
	}
}

// close removes the bars before the summary is printed.
func (d *copyDisplay) close() { d.clear() }
