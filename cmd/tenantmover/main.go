// Command tenantmover moves a multi-tenant PostgreSQL database onto Citus
// while the application keeps running: plan, backfill, copy, verify and
// rebalance, each resumable and checked.
//
// This package is the only one that prints, draws progress bars or picks exit
// codes; the feature packages report through callbacks and return errors.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the process exit code. It never
// calls os.Exit, so tests can run commands in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, args)
	code := exitCode(ctx, err)
	if err != nil {
		fmt.Fprintln(stderr, "tenantmover:", errorMessage(ctx, err))
	}
	return code
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:    "tenantmover",
		Usage:   "move a multi-tenant PostgreSQL database onto Citus, online, resumably and verifiably",
		Version: version,
		Description: `Five steps, each resumable after a crash and safe to rerun:

   plan       read the source schema and decide how every table belongs to a tenant
   backfill   add and fill the tenant column on nested tables, online, in small batches
   copy       stream every table into Citus with COPY, exactly once per chunk
   verify     compare per tenant: counts, checksums, shard placements
   rebalance  spread tenants over the Citus workers and isolate big ones

migrate runs plan, backfill, copy and verify as one resumable run; with
--follow (copy or migrate) the application keeps writing until cutover
switches it to Citus; demo shows a whole migration on throwaway local
databases.

Exit codes: 0 success, 1 error, 2 differences found (verify) or blocking
problems (plan), 130 interrupted (rerun the same command to resume).`,
		Writer:          stdout,
		ErrWriter:       stderr,
		Commands:        commands(),
		ExitErrHandler:  func(*cli.Context, error) {}, // run() maps errors to exit codes
		HideHelpCommand: true,
		Suggest:         true,
	}
}

// commands lists every command; each lives in its own file.
func commands() []*cli.Command {
	return []*cli.Command{
		planCommand(),
		backfillCommand(),
		statusCommand(),
		copyCommand(),
		verifyCommand(),
		rebalanceCommand(),
		migrateCommand(),
		cutoverCommand(),
		cleanupCommand(),
		demoCommand(),
	}
}
