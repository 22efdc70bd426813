package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// Flags shared by every command, defined once so every command accepts them
// after its name, where users type them.
var (
	sourceFlag = &cli.StringFlag{Name: "source", Usage: "source database (libpq URL or key=value string)", EnvVars: []string{"TENANTMOVER_SOURCE"}}
	targetFlag = &cli.StringFlag{Name: "target", Usage: "target database, the Citus coordinator (libpq URL or key=value string)", EnvVars: []string{"TENANTMOVER_TARGET"}}
	logFormat  = &cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format on stderr: text or json", Action: checkLogFormat}
	noProgress = &cli.BoolFlag{Name: "no-progress", Usage: "no progress bars, periodic log lines instead"}
	runFlag    = &cli.StringFlag{Name: "run", Usage: "run name: checkpoints are kept under it and a rerun with the same name resumes (default: the command name)"}
	formatFlag = &cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text or json"}
)

// checkLogFormat refuses a --log-format other than text or json (anything
// else used to mean text, silently).
func checkLogFormat(_ *cli.Context, v string) error {
	if v != "text" && v != "json" {
		return usageError(fmt.Sprintf("--log-format %q: use text or json", v))
	}
	return nil
}

// commonFlags are attached to every command.
func commonFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{logFormat, noProgress}, extra...)
}

// tenantFlags are plan's flags, which every command that needs the plan takes.
func tenantFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "tenant-table", Usage: "the tenant root table, as in SQL: store, app.store, '\"Sales Ops\".\"Tenant\"'"},
		&cli.StringFlag{Name: "tenant-column", Usage: "name of the tenant column added to nested tables (default: the most common existing FK column name to the root)"},
		&cli.StringSliceFlag{Name: "relation", Usage: "a foreign key missing from the catalog: child.col=parent.col; a polymorphic association's branch, one per type: 'comments.commentable_id=posts.id when commentable_type=Post' (Django: '... when content_type_id=blog.post'); the table is filled through its declared keys (repeatable)"},
		&cli.StringSliceFlag{Name: "via", Usage: "fill this table through this foreign-key column, whatever other paths exist: child.column (the key must be in the catalog or a --relation; repeatable)"},
		&cli.StringSliceFlag{Name: "reference", Usage: "make this table a reference table (repeatable)"},
		&cli.StringSliceFlag{Name: "exclude", Usage: "leave this table out (repeatable)"},
		&cli.StringSliceFlag{Name: "schema", Usage: "only read these schemas (default: every non-system schema; repeatable)"},
	}
}

// planConfig reads the tenant flags.
func planConfig(c *cli.Context) (plan.Config, error) {
	cfg := plan.Config{
		TenantTable:  c.String("tenant-table"),
		TenantColumn: c.String("tenant-column"),
		Relations:    c.StringSlice("relation"),
		Via:          c.StringSlice("via"),
		References:   c.StringSlice("reference"),
		Excludes:     c.StringSlice("exclude"),
		Schemas:      c.StringSlice("schema"),
	}
	if cfg.TenantTable == "" {
		return cfg, usageError("--tenant-table is required: name the table whose rows are the tenants (for example --tenant-table store)")
	}
	return cfg, nil
}

// requireURL returns a connection flag's value or a usage error naming it.
func requireURL(c *cli.Context, flag string) (string, error) {
	v := c.String(flag)
	if v == "" {
		env := "TENANTMOVER_" + strings.ToUpper(flag)
		return "", usageError(fmt.Sprintf("--%s is required (or set %s)", flag, env))
	}
	return v, nil
}

// runName is --run or the command's default.
func runName(c *cli.Context, def string) string {
	if n := c.String("run"); n != "" {
		return n
	}
	return def
}

// newLogger builds the stderr logger from --log-format.
func newLogger(c *cli.Context) *slog.Logger {
	w := c.App.ErrWriter
	if c.String("log-format") == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: dropTime}))
}

// dropTime keeps human logs short; JSON logs keep the time.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// showProgress reports whether to draw bars: stderr is a terminal and
// --no-progress was not given.
func showProgress(c *cli.Context) bool {
	if c.Bool("no-progress") {
		return false
	}
	f, ok := c.App.ErrWriter.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// validateFormat checks --format against the allowed values.
func validateFormat(c *cli.Context, allowed ...string) (string, error) {
	f := c.String("format")
	for _, a := range allowed {
		if f == a {
			return f, nil
		}
	}
	return "", usageError(fmt.Sprintf("--format %q: use one of %s", f, strings.Join(allowed, ", ")))
}

// stdoutOf is where JSON documents go.
func stdoutOf(c *cli.Context) io.Writer { return c.App.Writer }

// stderrOf is where human output goes.
func stderrOf(c *cli.Context) io.Writer { return c.App.ErrWriter }

// commandInputs are what the commands built on the tenant plan read first: the
// output format, the tenant flags and the connection URLs.
type commandInputs struct {
	format string
	plan   plan.Config
	source string
	target string // "" unless asked for
}

// readCommandInputs validates --format against formats, reads the tenant
// flags and --source, and --target when withTarget.
func readCommandInputs(c *cli.Context, withTarget bool, formats ...string) (in commandInputs, err error) {
	if in.format, err = validateFormat(c, formats...); err != nil {
		return in, err
	}
	if in.plan, err = planConfig(c); err != nil {
		return in, err
	}
	if in.source, err = requireURL(c, "source"); err != nil {
		return in, err
	}
	if withTarget {
		in.target, err = requireURL(c, "target")
	}
	return in, err
}

// phaseEnv plans from the source as it is now and returns the environment a
// command runs its phase in: the run is --run or def, --restart starts it
// over, progress goes to the command's view (close removes its bars).
func (in commandInputs) phaseEnv(c *cli.Context, def string) (env *phase.Env, close func(), err error) {
	w, err := windowOf(c, time.Now())
	if err != nil {
		return nil, nil, err
	}
	p, err := buildPlan(c, in.source, in.plan)
	if err != nil {
		return nil, nil, err
	}
	progress, closeProgress := newProgress(c)
	progress = (&phase.Estimator{Window: w}).Wrap(progress)
	closeWatch, err := watchSource(c.Context, w, in.source, c.Int("max-active-sessions"), func(why string) {
		progress(phase.Event{Phase: def, Kind: phase.Note, Message: "paused: " + why})
	})
	if err != nil {
		closeProgress()
		return nil, nil, err
	}
	env = &phase.Env{Source: in.source, Target: in.target, Plan: p, Run: runName(c, def), Restart: c.Bool("restart"), Progress: progress, Window: w}
	return env, func() { closeWatch(); closeProgress() }, nil
}

// runPhase is what every command that runs one phase does first: it reads
// the command's inputs (see readCommandInputs; --format is text or json),
// its own flags with config, plans, and calls run in the phase's
// environment (see phaseEnv), removing the progress view before it returns.
// rep is nil when the phase could not start.
func runPhase[C, R any](c *cli.Context, name string, withTarget bool, config func(*cli.Context) (C, error),
	run func(context.Context, *phase.Env, C) (*R, error)) (format string, rep *R, err error) {
	in, err := readCommandInputs(c, withTarget, "text", "json")
	if err != nil {
		return "", nil, err
	}
	cfg, err := config(c)
	if err != nil {
		return "", nil, err
	}
	env, closeProgress, err := in.phaseEnv(c, name)
	if err != nil {
		return "", nil, err
	}
	defer closeProgress()
	ctx, cancel := env.Window.Context(c.Context)
	defer cancel()
	rep, err = run(ctx, env, cfg)
	return in.format, rep, env.Window.Explain(ctx, err)
}
