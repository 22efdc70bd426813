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
	"regexp"
	"strings"
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
	app := &cli.App{
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
problems (plan), 3 stopped at the end of its time window (--until, --for;
rerun to continue), 130 interrupted (rerun the same command to resume).`,
		Writer:          stdout,
		ErrWriter:       stderr,
		Commands:        commands(),
		ExitErrHandler:  func(*cli.Context, error) {}, // run() maps errors to exit codes
		HideHelpCommand: true,
		Suggest:         true,
	}
	app.OnUsageError = onUsageError(app.Name, app.Flags)
	setUsageErrors(app.Name, app.Commands)
	return app
}

// setUsageErrors gives every command the one-line usage errors of
// onUsageError (urfave/cli uses a command's own handler only).
func setUsageErrors(parent string, cmds []*cli.Command) {
	for _, c := range cmds {
		name := parent + " " + c.Name
		c.OnUsageError = onUsageError(name, c.Flags)
		setUsageErrors(name, c.Subcommands)
	}
}

// goFlag is how the flag package names a flag in its errors: -workers.
var goFlag = regexp.MustCompile(`(flag|defined:) -([a-z])`)

// onUsageError turns a mistake urfave/cli finds on the command line (an
// unknown flag, a value that does not parse) into a usage error like the
// commands' own: run() prints it as the one error line. Left to itself,
// urfave/cli prints "Incorrect Usage" and the whole help to stdout, which
// is the JSON document's.
func onUsageError(command string, flags []cli.Flag) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		msg := goFlag.ReplaceAllString(err.Error(), "$1 --$2")
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok && cli.SuggestFlag != nil {
			if s := cli.SuggestFlag(flags, strings.TrimLeft(name, "-"), false); s != "" {
				msg += "; did you mean " + s + "?"
			}
		}
		return usageError(fmt.Sprintf("%s (see '%s --help')", msg, command))
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
