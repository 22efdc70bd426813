package main

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
)

// meter shows progress of one counted task: a bar on a terminal, otherwise a
// log line at most every interval.
type meter struct {
	mu       sync.Mutex
	bar      *progressbar.ProgressBar
	log      *slog.Logger
	desc     string
	total    int64
	done     int64
	last     time.Time
	interval time.Duration
	started  time.Time
}

// newMeter makes a meter for total units (rows, tenants...) named desc.
func newMeter(c *cli.Context, desc string, total int64, unit string) *meter {
	m := &meter{log: newLogger(c), desc: desc, total: total, interval: 10 * time.Second, started: time.Now(), last: time.Now()}
	if showProgress(c) {
		m.bar = progressbar.NewOptions64(max(total, 1),
			progressbar.OptionSetWriter(stderrOf(c)),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderrOf(c)) }),
		)
	}
	return m
}

// Add records n more units done.
func (m *meter) Add(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done += n
	if m.bar != nil {
		_ = m.bar.Add64(n)
		return
	}
	if time.Since(m.last) >= m.interval {
		m.last = time.Now()
		m.log.Info("progress", "task", m.desc, "done", m.done, "total", m.total, "rate_per_s", m.rate())
	}
}

// Finish closes the bar or logs the final line.
func (m *meter) Finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bar != nil {
		_ = m.bar.Finish()
		return
	}
	m.log.Info("done", "task", m.desc, "done", m.done, "seconds", time.Since(m.started).Round(time.Millisecond).Seconds())
}

func (m *meter) rate() int64 {
	s := time.Since(m.started).Seconds()
	if s <= 0 {
		return 0
	}
	return int64(float64(m.done) / s)
}
