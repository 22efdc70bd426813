package main

import (
	"fmt"
	"time"

	"github.com/tenantmover/tenantmover/scripts/benchkit"
)

// report prints the figures to stdout: each round's, then the medians and
// their ratios.
func report(c config, purchases int64, plains, tools []*result, first *result) {
	fmt.Printf("\nbench-backfill: %d purchases, --workers %d, --batch-time %s, writer %d/s, %d rounds\n\n", purchases, c.workers, c.batchTime, c.writeRate, c.rounds)
	fmt.Printf("%-34s %10s %9s   %s\n", "", "time", "cpu", "concurrent single-row writer: p50 / p99 / max (writes due, errors)")
	line := func(name string, took time.Duration, r *result) {
		fmt.Printf("%-34s %9.1fs %8.1fs   %s / %s / %s (%d, %d)\n", name, took.Seconds(), r.cpu.Seconds(),
			r.writes.pct(0.5).Round(100*time.Microsecond), r.writes.pct(0.99).Round(100*time.Microsecond),
			r.writes.pct(1).Round(time.Millisecond), len(r.writes), r.writeErrors)
	}
	var maxBatch time.Duration
	for i := range plains {
		fmt.Printf("round %d\n", i+1)
		line("  "+plains[i].name, plains[i].took, plains[i])
		line("  "+tools[i].name, tools[i].took, tools[i])
		fmt.Printf("%-34s %9.1fs\n", "    of which the fill phase", tools[i].fill.Seconds())
		fmt.Printf("%-34s %9.1fs\n", "  plain UPDATE + CREATE INDEX", (plains[i].took + plains[i].index).Seconds())
		fmt.Printf("  ratio backfill / plain UPDATE: %.2fx\n", benchkit.Ratio(tools[i].took, plains[i].took))
		maxBatch = max(maxBatch, tools[i].maxBatch)
	}
	if first != nil {
		line(first.name, first.took, first)
		fmt.Printf("%-34s %9.1fs\n", "  of which the fill phase", first.fill.Seconds())
	}
	plain, tool := median(plains, func(r *result) time.Duration { return r.took }), median(tools, func(r *result) time.Duration { return r.took })
	fill := median(tools, func(r *result) time.Duration { return r.fill })
	withIndex := median(plains, func(r *result) time.Duration { return r.took + r.index })
	fmt.Println()
	fmt.Printf("median plain UPDATE %.1fs, backfill %.1fs (fill phase %.1fs)\n", plain.Seconds(), tool.Seconds(), fill.Seconds())
	fmt.Printf("ratio backfill / plain UPDATE:                  %.2fx (target <= 1.3x)\n", benchkit.Ratio(tool, plain))
	cpuPlain, cpuTool := median(plains, func(r *result) time.Duration { return r.cpu }), median(tools, func(r *result) time.Duration { return r.cpu })
	fmt.Printf("ratio of server CPU time, backfill / plain:     %.2fx (%.1fs / %.1fs: what the wall-time ratio tends to on a\n", benchkit.Ratio(cpuTool, cpuPlain), cpuTool.Seconds(), cpuPlain.Seconds())
	fmt.Printf("                                                  busy machine; with %d free cores it is about that / %d)\n", c.workers, c.workers)
	fmt.Printf("ratio backfill fill phase / plain UPDATE:       %.2fx\n", benchkit.Ratio(fill, plain))
	fmt.Printf("ratio backfill / (plain UPDATE + CREATE INDEX): %.2fx\n", benchkit.Ratio(tool, withIndex))
	if first != nil {
		fmt.Printf("ratio fill with index first / fill without:     %.2fx\n", benchkit.Ratio(first.fill, fill))
	}
	fmt.Printf("longest batch lock hold: %s (limit about 4 x --batch-time = %s)\n", maxBatch, 4*c.batchTime)
	fmt.Printf("writer p99 over all rounds: plain UPDATE %s, backfill %s\n", pooled(plains).pct(0.99).Round(time.Millisecond), pooled(tools).pct(0.99).Round(time.Millisecond))
}

// median is the median of one figure of the rounds' results.
func median(rs []*result, f func(*result) time.Duration) time.Duration {
	ds := make([]time.Duration, len(rs))
	for i, r := range rs {
		ds[i] = f(r)
	}
	return benchkit.Median(ds)
}

func pooled(rs []*result) latencies {
	var all latencies
	for _, r := range rs {
		all = append(all, r.writes...)
	}
	return all
}
