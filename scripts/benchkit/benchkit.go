// Package benchkit is the scaffolding the benchmark programs under scripts/
// share, so that each of them holds only what it measures: the program's
// main (a context ended by Ctrl-C, errors printed with passwords redacted),
// the --url, --size and --reuse flags, the server the databases live on (the
// one --url names, or a throwaway one started with internal/localpg and
// removed at the end), generating the sample monolith, and the arithmetic
// of the figures (time, median, tool / baseline ratio).
//
// Printing stays with each program: their output formats differ and are
// quoted in the README.
package benchkit

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/tenantmover/tenantmover/internal/db"
)

// Program is a benchmark command's name: it starts the command's log lines
// and its error message.
type Program string

// Main runs the benchmark with a context that ends on Ctrl-C. An error is
// printed after the program's name, passwords redacted, and exits 1.
func (p Program) Main(run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, string(p)+":", db.RedactError(err))
		os.Exit(1)
	}
}

// Logf prints a progress line to stderr, after the program's name; stdout
// carries only the figures.
func (p Program) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, string(p)+": "+format+"\n", args...)
}

// Flags are the options every benchmark takes.
type Flags struct {
	URL   string // --url: a server to use; "" starts a throwaway one
	Size  string // --size: the sample monolith's size preset
	Reuse bool   // --reuse: keep what a previous run generated
}

// AddFlags registers --url, --size and --reuse on the command line's flag
// set; reuseUsage says which databases --reuse keeps.
func AddFlags(reuseUsage string) *Flags {
	f := &Flags{}
	flag.StringVar(&f.URL, "url", "", "a server to use: URL of any database on it, as a superuser (default: start a throwaway server)")
	flag.StringVar(&f.Size, "size", "large", "monolith size preset: small, medium, large")
	flag.BoolVar(&f.Reuse, "reuse", false, reuseUsage)
	return f
}
