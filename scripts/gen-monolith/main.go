// Command gen-monolith fills a database with the sample multi-tenant
// monolith (see package internal/sample):
//
//	gen-monolith --url URL [--size small|medium|large] [--drop]
//	             [--stores N --products N --purchases N --refunds N
//	              --companies N --users N --campaigns-per-company N
//	              --memberships-per-company N --skew X --seed S] [--workers N]
//
// A size preset gives every parameter; the other flags override single
// ones. Row counts and timings go to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/sample"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "gen-monolith:", db.RedactError(err))
		if ctx.Err() != nil {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

type config struct {
	url     string
	size    string
	drop    bool
	workers int
	p       sample.Params
}

func parse(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("gen-monolith", flag.ContinueOnError)
	fs.StringVar(&c.url, "url", os.Getenv("TENANTMOVER_SOURCE"), "database to fill (default $TENANTMOVER_SOURCE, else the PG* variables)")
	fs.StringVar(&c.size, "size", "small", "preset: "+strings.Join(sample.SizeNames(), ", "))
	fs.BoolVar(&c.drop, "drop", false, "drop existing monolith tables first")
	fs.IntVar(&c.workers, "workers", 2, "chunks generated at once (the data does not depend on it)")
	defineParams(fs, &sample.Params{}) // the preset is known only once parsed
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.p, err = sample.Size(c.size); err != nil {
		return c, err
	}
	if err := override(&c.p, fs); err != nil {
		return c, err
	}
	return c, c.p.Validate()
}

// override sets in p, a preset, only the parameters whose flags were given
// to fs: each given one is set again, from its parsed value, on a flag set
// bound to p's fields.
func override(p *sample.Params, fs *flag.FlagSet) error {
	preset := *p
	onP := flag.NewFlagSet("override", flag.ContinueOnError)
	defineParams(onP, p) // defining a flag stores its zero default in p
	*p = preset
	var err error
	fs.Visit(func(f *flag.Flag) {
		if onP.Lookup(f.Name) != nil {
			err = errors.Join(err, onP.Set(f.Name, f.Value.String()))
		}
	})
	return err
}

// defineParams defines on fs the flags that set single parameters, each
// bound to its field of p.
func defineParams(fs *flag.FlagSet, p *sample.Params) {
	fs.IntVar(&p.Stores, "stores", 0, "stores (tenants)")
	fs.IntVar(&p.Products, "products", 0, "products")
	fs.IntVar(&p.Purchases, "purchases", 0, "purchases")
	fs.IntVar(&p.Refunds, "refunds", 0, "refunds")
	fs.IntVar(&p.Companies, "companies", 0, "companies")
	fs.IntVar(&p.Users, "users", 0, "auth_user rows")
	fs.IntVar(&p.CampaignsPerCompany, "campaigns-per-company", 0, "campaigns per company, on average")
	fs.IntVar(&p.MembershipsPerCompany, "memberships-per-company", 0, "company_users rows per company")
	fs.Float64Var(&p.Skew, "skew", 0, "tenant size skew exponent: 0 uniform, 1 Zipf")
	fs.Float64Var(&p.Seed, "seed", 0, "random seed: the same parameters give the same data")
}

func run(ctx context.Context, args []string) error {
	c, err := parse(args)
	if err != nil {
		return err
	}
	pool, err := db.Open(ctx, c.url, db.Options{ApplicationName: "gen-monolith", MaxConns: int32(c.workers) + 1})
	if err != nil {
		return err
	}
	defer pool.Close()
	if c.drop {
		if err := sample.Drop(ctx, pool); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "generating into %s: %+v\n", db.Redact(c.url), c.p)
	start := time.Now()
	progress := func(step string, took time.Duration) {
		fmt.Fprintf(os.Stderr, "  %-14s %8.1fs\n", step, took.Seconds())
	}
	if err := sample.Generate(ctx, pool, c.p, sample.WithWorkers(c.workers), sample.WithProgress(progress)); err != nil {
		return err
	}
	elapsed := time.Since(start)
	counts, err := sample.Counts(ctx, pool)
	if err != nil {
		return err
	}
	for _, t := range sample.Tables() {
		fmt.Fprintf(os.Stderr, "  %-14s %10d rows\n", t, counts[t])
	}
	fmt.Fprintf(os.Stderr, "generated in %.1fs\n", elapsed.Seconds())
	return nil
}
