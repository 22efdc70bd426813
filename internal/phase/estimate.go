package phase

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Estimator tells, from a phase's own progress events, when the phase will
// end: after a short calibration (CalibrateFor of work in this process,
// and some work done) it emits a note with the expected finish, the
// remaining work and the rate, and whether that fits the window; it
// repeats the note every RepeatEvery while the estimate holds the attention
// of someone watching. It counts what each phase counts (rows for backfill
// and copy, a step's units for verify), from Planned totals minus what
// earlier runs did, so a resumed run estimates what is left.
//
// Where a phase's events also count bytes (copy), the time left is bytes
// left over bytes per second: each table's rows left weighed by the bytes
// per row it has shown so far (a table not started yet, by the average),
// since tables differ in row width and a copy costs by the byte (and a
// --max-bytes-per-second limit binds bytes, not rows). Rows per second
// alone would take a calibration spent on wide rows for the rate of the
// narrow ones left.
type Estimator struct {
	// Window, when it has a deadline, is what the estimate is measured
	// against.
	Window *Window
	// CalibrateFor is how long a phase works before its first estimate.
	// Default 15s.
	CalibrateFor time.Duration
	// RepeatEvery spaces later estimates. Default 5 minutes.
	RepeatEvery time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time

	mu     sync.Mutex
	phases map[string]*progressOf
}

// progressOf is one phase's work as its events tell it.
type progressOf struct {
	total, before map[string]int64 // by table or step: planned work, done by earlier runs
	done          int64            // done in this process
	bytes         int64            // bytes of that work, when the events count them
	rowsOf        map[string]int64 // done in this process, by table or step
	bytesOf       map[string]int64 // their bytes
	started       time.Time        // first event of this process
	noted         time.Time        // last estimate emitted
}

// Estimate is a phase's expected end.
type Estimate struct {
	Phase      string
	Left       int64   // work left (rows, or a step's units)
	Rate       float64 // work per second in this process so far
	LeftBytes  float64 // bytes left, when the phase counts bytes (else 0)
	ByteRate   float64 // bytes per second in this process so far
	SecondsTo  float64 // to the end: at ByteRate when bytes are counted, else at Rate
	Finish     time.Time
	Fits       bool // the window's end is after Finish (or there is none)
	Windows    int  // windows of this length the work left needs at Rate
	WindowSize time.Duration
}

func (e *Estimator) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Wrap returns a progress callback that feeds e and passes every event on
// to next, adding a Note event for each estimate.
func (e *Estimator) Wrap(next func(Event)) func(Event) {
	return func(ev Event) {
		if next != nil {
			next(ev)
		}
		if est, ok := e.observe(ev); ok && next != nil {
			next(Event{Phase: ev.Phase, Kind: Note, Message: est.String()})
		}
	}
}

// observe takes ev into its phase's progress and says whether an estimate
// is due.
func (e *Estimator) observe(ev Event) (Estimate, bool) {
	key := ev.Table
	if key == "" {
		key = ev.Step
	}
	if ev.Phase == "" || key == "" || (ev.Kind != Planned && ev.Kind != Advanced) {
		return Estimate{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.progress(ev.Phase)
	switch ev.Kind {
	case Planned:
		p.total[key], p.before[key] = max(ev.Total, 0), max(ev.Done, 0)
		return Estimate{}, false
	case Advanced:
		p.done += ev.Done
		p.bytes += max(ev.Bytes, 0)
		p.rowsOf[key] += ev.Done
		p.bytesOf[key] += max(ev.Bytes, 0)
	}
	return e.due(ev.Phase, p)
}

func (e *Estimator) progress(name string) *progressOf {
	if e.phases == nil {
		e.phases = map[string]*progressOf{}
	}
	p := e.phases[name]
	if p == nil {
		p = &progressOf{total: map[string]int64{}, before: map[string]int64{}, rowsOf: map[string]int64{}, bytesOf: map[string]int64{}, started: e.now()}
		e.phases[name] = p
	}
	return p
}

// due computes the estimate of a phase when the calibration is over and
// the last estimate is old enough.
func (e *Estimator) due(name string, p *progressOf) (Estimate, bool) {
	now := e.now()
	calibrate, repeat := e.CalibrateFor, e.RepeatEvery
	if calibrate <= 0 {
		calibrate = 15 * time.Second
	}
	if repeat <= 0 {
		repeat = 5 * time.Minute
	}
	elapsed := now.Sub(p.started)
	if elapsed < calibrate || p.done <= 0 || (!p.noted.IsZero() && now.Sub(p.noted) < repeat) {
		return Estimate{}, false
	}
	var total, before int64
	for k, t := range p.total {
		total, before = total+t, before+p.before[k]
	}
	left := total - before - p.done
	if total <= 0 || left <= 0 {
		return Estimate{}, false
	}
	p.noted = now
	est := Estimate{Phase: name, Left: left, Rate: float64(p.done) / elapsed.Seconds(), Fits: true}
	est.SecondsTo = float64(left) / est.Rate
	if p.bytes > 0 {
		est.LeftBytes, est.ByteRate = p.bytesLeft(), float64(p.bytes)/elapsed.Seconds()
		est.SecondsTo = est.LeftBytes / est.ByteRate
	}
	est.Finish = now.Add(time.Duration(est.SecondsTo * float64(time.Second)))
	if w := e.Window; w != nil && !w.Deadline.IsZero() {
		est.Fits = !est.Finish.After(w.Deadline)
		// The window's length as this process saw it: from its start to
		// the deadline.
		est.WindowSize = w.Deadline.Sub(now.Add(-elapsed))
		if est.WindowSize > 0 {
			est.Windows = int(math.Ceil((est.SecondsTo + elapsed.Seconds()) / est.WindowSize.Seconds()))
		}
	}
	return est, true
}

// bytesLeft weighs each table's rows left by its bytes per row so far, or
// by the phase's average for a table with none done in this process.
func (p *progressOf) bytesLeft() float64 {
	avg := float64(p.bytes) / float64(p.done)
	var left float64
	for k, t := range p.total {
		rows := t - p.before[k] - p.rowsOf[k]
		if rows <= 0 {
			continue
		}
		perRow := avg
		if p.rowsOf[k] > 0 {
			perRow = float64(p.bytesOf[k]) / float64(p.rowsOf[k])
		}
		left += float64(rows) * perRow
	}
	return left
}

func (est Estimate) String() string {
	rate := fmt.Sprintf("%.0f/s", est.Rate)
	if est.ByteRate > 0 {
		rate += fmt.Sprintf(" (~%s left at %s/s)", FormatBytes(int64(est.LeftBytes)), FormatBytes(int64(est.ByteRate)))
	}
	s := fmt.Sprintf("estimate: %d left at %s, ends about %s (in %s)", est.Left, rate,
		est.Finish.Format("15:04"), roundDuration(time.Duration(est.SecondsTo*float64(time.Second))))
	switch {
	case est.WindowSize == 0:
	case est.Fits:
		s += ", within the window"
	default:
		s += fmt.Sprintf("; WARNING: it does not fit in the window: at this rate it needs %d windows of %s", est.Windows, roundDuration(est.WindowSize))
	}
	return s
}

// FormatBytes is n in binary units, to one decimal ("60.1 MiB").
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// roundDuration rounds d to the minute, or the second below ten minutes.
func roundDuration(d time.Duration) time.Duration {
	if d < 10*time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}
