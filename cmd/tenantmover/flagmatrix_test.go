package main

// The flag matrix: every command and subcommand of the app with each of its
// flags, alone (on top of the flags the command requires) and in the
// combinations its help text mentions, run as the built binary against a
// small source and target. The commands, subcommands and flags come from
// newApp() itself, so a new flag is in the matrix as soon as it exists; a
// flag that takes a value needs a sample value in flagSamples, or the matrix
// fails. Every case checks the command line's contract:
//
//   - the exit status is 0, 1 or 2, and the one the case expects (0 unless
//     matrixExpect says otherwise); never a panic;
//   - a failure is one line, the last of stderr, starting "tenantmover: ",
//     and no other line starts so; a success prints no such line;
//   - stdout holds nothing but the document asked for: the JSON of --format
//     json (one document), the SQL of --format sql, the help, the demo's
//     exports;
//   - no output shows the password of the URLs;
//   - a case that must write nothing (--dry-run, --help, the commands that
//     only read, and every refused command) leaves the databases exactly as
//     they were: every relation's definition and content (the checkpoint
//     schema's included), the schemas, functions, replication slots and
//     publications, and on Citus the shards, placements and background jobs.
//
// Each plain case gets copies (CREATE DATABASE ... TEMPLATE) of the
// template databases it needs: the raw sample shop, the shop after
// backfill, an empty target, the target with the schema plan --apply made,
// and the target after a copy. A case that may write gets new copies; a case
// that must write nothing may get a copy an earlier such case proved it left
// as it was. A case refused on the command line (a value that does not
// parse, --help) gets URLs of a database that does not exist: it must not
// connect at all.
//
// A Citus database cannot be a template (the Citus maintenance daemon keeps
// a session on it) and takes seconds to make, so the Citus cases share two
// shops: the cases that must change nothing run on one, a few at a time,
// each proving it changed nothing; the isolations on the other, one at a
// time, each of a tenant of its own, each proving no row changed.
//
// The test's own parallelism is capped at GOMAXPROCS while the cases mostly
// wait on processes and servers, so they run in a pool of goroutines that
// only collect results; each case's checks then run as its subtest. (So
// -run with a case's name still runs every case, and checks that one.)

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/sample"
)

// ---- what the matrix needs to know that the app definition does not say ----

// matrixCommand is how to run one command of the app: the databases it
// works on, the flags it requires, and whether it only reads.
type matrixCommand struct {
	// src and dst name the templates a case's --source and --target are
	// copies of (see plainFixture); dst "citus" is a Citus shop (runCitus).
	src, dst string
	// required are the flags every case has, unless it is about one of them.
	required []flagArg
	// cheap are flags the command does not require that keep its runs
	// short; a case about one of them replaces it.
	cheap []flagArg
	// readOnly: the command never writes, unless given one of writers.
	readOnly bool
	writers  []string
	// sourceReadOnly: the command writes the target only; the source must
	// stay as it was even when the case may write.
	sourceReadOnly bool
	// together: the flags run in one case, all together, not each alone.
	together bool
	// expect is what the command's cases expect unless said otherwise
	// (default: success).
	expect *want
}

var (
	argSource      = flagArg{name: "source", value: "{source}"}
	argTarget      = flagArg{name: "target", value: "{target}"}
	argTenantTable = flagArg{name: "tenant-table", value: "store"}
)

// matrixCommands has an entry for every command of the app ("" is the app
// itself); the matrix fails on a command without one.
var matrixCommands = map[string]matrixCommand{
	"":         {readOnly: true},
	"plan":     {src: "raw", dst: "empty", required: []flagArg{argSource, argTenantTable}, readOnly: true, writers: []string{"apply"}, sourceReadOnly: true},
	"backfill": {src: "raw", required: []flagArg{argSource, argTenantTable}},
	"status":   {src: "filled", dst: "copied", required: []flagArg{argSource, argTarget}, readOnly: true},
	"copy":     {src: "filled", dst: "schema", required: []flagArg{argSource, argTarget, argTenantTable}, sourceReadOnly: true},
	"verify":   {src: "filled", dst: "copied", required: []flagArg{argSource, argTarget, argTenantTable}, readOnly: true},
	"migrate":  {src: "raw", dst: "empty", required: []flagArg{argSource, argTarget, argTenantTable}},
	// Every demo starts its own servers and runs a whole migration (five
	// seconds on an idle machine, far more on a busy one): its flags run
	// together, in one plain demo (two servers where the default starts
	// four; TestDemo runs the default). Their wrong values run alone.
	"demo":             {cheap: []flagArg{{name: "plain", bool: true}}, together: true},
	"rebalance":        {readOnly: true},
	"rebalance status": {dst: "citus", required: []flagArg{argTarget}, readOnly: true},
	"rebalance plan":   {dst: "citus", required: []flagArg{argTarget}, readOnly: true},
	// The shop is balanced, so start has nothing to move, and no job runs
	// for stop to cancel: both change nothing.
	"rebalance start": {dst: "citus", required: []flagArg{argTarget}, readOnly: true},
	"rebalance stop":  {dst: "citus", required: []flagArg{argTarget}, readOnly: true},
	// Isolations copy with block_writes unless the case is about
	// --transfer-mode: logical replication takes seconds more per move.
	// Without a followed run (copy --follow, TestCopyFollowCutoverCommands
	// runs them with one) both refuse, naming what to start first.
	"cutover": {src: "filled", dst: "copied", required: []flagArg{argSource, argTarget, argTenantTable}, readOnly: true, expect: &noStream},
	"cleanup": {src: "filled", dst: "copied", required: []flagArg{argSource, argTarget}, readOnly: true, expect: &noStream},
	"rebalance isolate": {dst: "citus", required: []flagArg{argTarget, argTenantTable, {name: "tenant", value: "{tenant}"}},
		cheap: []flagArg{{name: "transfer-mode", value: "block_writes"}}},
}

// noStream is what cutover and cleanup say on a target that has no
// followed run.
var noStream = want{code: exitError, msg: []string{"copy --follow or migrate --follow"}}

// flagSamples are the values a flag is run with, by flag name, or by
// "command flag" for one command's flag. Placeholders are filled in per
// case: {source} and {target} (the case's databases), {tenants-file} (lists
// tenants 1 and 2), {report} (a file in the case's directory), {tenant} (a
// tenant of the Citus shop no other case isolates) and {worker} (a Citus
// worker, host:port).
var flagSamples = map[string][]string{
	"source":          {"{source}"},
	"target":          {"{target}"},
	"log-format":      {"json"},
	"format":          {"json"},
	"plan format":     {"json", "sql"},
	"plan out":        {"{dir}"},
	"run":             {"matrix-run"},
	"tenant-table":    {"store"},
	"tenant-column":   {"store_id"},
	"relation":        {"refund.purchase_id=purchase.id"},
	"via":             {"refund.purchase_id"},
	"reference":       {"auth_user"},
	"exclude":         {"refund"},
	"schema":          {"public"},
	"workers":         {"3"},
	"batch-time":      {"50ms"},
	"max-replica-lag": {"1s"},
	"lock-timeout":    {"1s"},
	"batch-timeout":   {"2s"},
	"max-retries":     {"3"},
	"min-batch-rows":  {"10"},
	"max-batch-rows":  {"1000"},
	"tenants":         {"1,2"},
	"tenants-file":    {"{tenants-file}"},
	"chunk-rows":      {"50"},
	"tables":          {"purchase"},
	"max-samples":     {"3"},
	"report":          {"{report}"},
	"top":             {"3", "0"},
	"strategy":        {"by_shard_count"},
	"transfer-mode":   {"block_writes", "force_logical"},
	// isolate copies with block_writes unless asked (see matrixCommands):
	// auto, the default, is the one mode worth a logical-replication move
	// of its own (block_writes is there for the help, which names it).
	"rebalance isolate transfer-mode": {"auto", "block_writes"},
	"tenant":                          {"{tenant}"},
	"to":                              {"{worker}"},
	"retries":                         {"3"},
	"size":                            {"small"},
	"on-truncate":                     {"apply"},
	"lanes":                           {"2"},
	"part":                            {"1/1"},
	"until":                           {"23:59:59"},
	"for":                             {"1h"},
	"grace":                           {"5s"},
	"max-active-sessions":             {"1000"},
	"max-rows-per-second":             {"1000000"},
	"max-bytes-per-second":            {"1000000000"},
	"timeout":                         {"2s"},
	"verify":                          {"all"},
}

// runsElsewhere are flags the matrix does not run alone, with the test
// that runs them: copy --follow and migrate --follow follow the source
// until a cutover, so a case of their own would never end.
var runsElsewhere = map[string]string{
	"copy follow":    "TestCopyFollowCutoverCommands (cmd/tenantmover)",
	"migrate follow": "TestMigrateFollowCutoverWithWriter (follow) and TestDemo",
}

// badSample is a wrong value for a flag: the case expects exit 1 with an
// error naming msg (default: the value). early: the command refuses it
// before connecting to anything, so the case gets no databases (its URLs
// name a database that does not exist).
type badSample struct {
	value string
	msg   []string
	early bool
}

// badSamples are wrong values by flag name (or "command flag"); every flag
// of a numeric or duration type is also run with "x".
var badSamples = map[string][]badSample{
	"format":        {{value: "yaml", early: true}},
	"log-format":    {{value: "xml", early: true}},
	"transfer-mode": {{value: "sideways", early: true}},
	"size":          {{value: "huge", early: true}},
	"tenants":       {{value: "abc", msg: []string{`"abc"`, "bigint", "nothing was done"}}},
	"tenant":        {{value: "abc", msg: []string{`"abc"`, "bigint", "nothing was done"}}},
	"tenants-file":  {{value: "{dir}/no-such-file", msg: []string{"--tenants-file", "no-such-file"}, early: true}},
	"part": {{value: "0/3", msg: []string{"--part 0/3", "K must be between 1 and N"}, early: true},
		{value: "4/3", msg: []string{"--part 4/3", "K must be between 1 and N"}, early: true},
		{value: "2", msg: []string{`--part "2"`, "give K/N"}, early: true}},
}

// extraCombos are combinations the help does not spell out but users make
// (the ones the issue names among them), as flag names with their first
// sample value.
var extraCombos = map[string][][]string{
	"copy": {
		{"tenants", "format"}, {"tenants", "replace", "dry-run"}, {"tenants", "restart", "dry-run"},
		{"tenants-file", "replace"}, {"tenants", "replace", "format"},
	},
	"verify":   {{"tenants", "format"}, {"tenants", "checksum"}, {"tenants", "tables"}, {"tenants-file", "checksum"}},
	"backfill": {{"set-not-null", "keep-triggers", "dry-run"}},
}

// extraCases are command lines with values of their own.
var extraCases = map[string][][]flagArg{
	// Two mistakes at once: both are named, on the one error line.
	"copy": {{{name: "replace", bool: true}, {name: "chunk-rows", value: "-1"}}},
}

// want is what a case expects: the exit status, and words of the error
// line (or, for a success, of the output).
type want struct {
	code int
	msg  []string
}

// matrixExpect are the cases that do not simply succeed, by case name
// (see flagCase.name). A name that is no case of the matrix fails it.
var matrixExpect = map[string]want{
	"plan --apply":                                          {exitError, []string{"--apply needs --target"}},
	"plan --format sql --apply":                             {exitError, []string{"--apply needs --target"}},
	"plan --with-triggers":                                  {exitError, []string{"--with-triggers is for --apply"}},
	"plan --apply --with-triggers":                          {exitError, []string{"--apply needs --target"}},
	"plan --out {dir}":                                      {exitError, []string{"--out is for --format django"}},
	"plan --format json --out {dir}":                        {exitError, []string{"--out is for --format django"}},
	"backfill --set-not-null":                               {exitError, []string{"--set-not-null needs --keep-triggers"}},
	"status without --source":                               {exitOK, []string{"target: run"}},
	"status without --target":                               {exitOK, []string{"source: run"}},
	"copy --replace":                                        {exitError, []string{"--replace needs --tenants"}},
	"copy --tenants 1,2 --dry-run":                          {exitOK, []string{"tenant 1", "tenant 2", "nothing was written"}},
	"copy --replace --dry-run":                              {exitError, []string{"--replace needs --tenants"}},
	"rebalance start --verify":                              {exitError, []string{"--verify needs --wait"}},
	"rebalance start --transfer-mode block_writes --verify": {exitError, []string{"--verify needs --wait"}},
	"backfill --dry-run --set-not-null":                     {exitError, []string{"--set-not-null needs --keep-triggers"}},
	"copy --replace --chunk-rows -1":                        {exitError, []string{"chunk rows must be positive", "--replace needs --tenants"}},
	"rebalance isolate --to {worker} --stay":                {exitError, []string{"--stay and --to contradict each other"}},
	"rebalance isolate --dry-run --stay":                    {exitOK, []string{"Would call:", "isolate_tenant_to_new_shard"}},
	"copy --on-truncate apply":                              {exitError, []string{"--on-truncate needs --follow"}},
	"migrate --on-truncate apply":                           {exitError, []string{"--on-truncate needs --follow"}},
	"copy --dry-run --on-truncate apply":                    {exitError, []string{"--on-truncate needs --follow"}},
	"copy --lanes 2":                                        {exitError, []string{"--lanes needs --follow"}},
	"migrate --until 23:59:59 --for 1h":                     {exitError, []string{"--until and --for both set the window's end: give one"}},
	"migrate --lanes 2":                                     {exitError, []string{"--lanes needs --follow"}},
	"copy --dry-run --lanes 2":                              {exitError, []string{"--lanes needs --follow"}},
	"copy --tenants 1,2 --part 1/1":                         {exitError, []string{"--part cannot be used with --tenants"}},
	"copy --part 1/1":                                       {exitOK, []string{"part 1/1 completed the run"}},
}

// ---- the matrix ----

func TestFlagMatrix(t *testing.T) {
	t.Parallel()
	m := &matrix{dir: t.TempDir()}
	require.NoError(t, os.WriteFile(filepath.Join(m.dir, "tenants.txt"), []byte("# the tenants of the flag matrix\n1\n2\n"), 0o644))
	cases := m.cases(t, appCommands(t))
	if t.Failed() {
		return
	}
	m.tm = buildTenantmover(t)
	var plain, onCitus []*flagCase
	for _, c := range cases {
		if c.citus() {
			onCitus = append(onCitus, c)
		} else {
			plain = append(plain, c)
		}
	}
	t.Logf("%d cases: %d on plain PostgreSQL or none, %d on Citus", len(cases), len(plain), len(onCitus))
	t.Run("plain", func(t *testing.T) { t.Parallel(); m.runPlain(t, plain) })
	t.Run("citus", func(t *testing.T) { t.Parallel(); m.runCitus(t, onCitus) })
}

type matrix struct {
	tm  tmBinary
	dir string // per-case directories, the tenants file
	seq atomic.Int64
}

// commandSpec is one command of the app, as newApp() defines it.
type commandSpec struct {
	path  string // "copy", "rebalance isolate"; "" is the app itself
	cmd   *cli.Command
	flags []cli.Flag // --help included, as the help lists it
	// help is every text of its help that may name flags: the flags'
	// usages are read separately; these are its description's paragraphs
	// and its parents'.
	help []string
}

// appCommands walks the app newApp() builds.
func appCommands(t *testing.T) []commandSpec {
	app := newApp(io.Discard, io.Discard)
	app.Setup() // adds --help and --version, as the app's help lists them
	out := []commandSpec{{flags: app.Flags}}
	var walk func(prefix string, parentHelp []string, cmds []*cli.Command)
	walk = func(prefix string, parentHelp []string, cmds []*cli.Command) {
		for _, c := range cmds {
			path := strings.TrimSpace(prefix + " " + c.Name)
			flags := slices.Clone(c.Flags)
			if !c.HideHelp && cli.HelpFlag != nil {
				flags = append(flags, cli.HelpFlag)
			}
			help := append(slices.Clone(parentHelp), strings.Split(c.Description, "\n\n")...)
			out = append(out, commandSpec{path: path, cmd: c, flags: flags, help: help})
			walk(path, help, c.Subcommands)
		}
	}
	walk("", nil, app.Commands)
	require.Greater(t, len(out), 10, "the app's commands and subcommands")
	return out
}

// flagArg is one flag of a command line: --name value, or --name alone.
type flagArg struct {
	name  string
	value string
	bool  bool
	alias bool // spelt -name (the short aliases)
}

func (a flagArg) args() []string {
	dashes := "--"
	if a.alias {
		dashes = "-"
	}
	if a.bool {
		return []string{dashes + a.name}
	}
	return []string{dashes + a.name, a.value}
}

func (a flagArg) String() string { return strings.Join(a.args(), " ") }

// flagCase is one run of the binary.
type flagCase struct {
	name   string // the command, then what the case is about: "copy --tenants 1,2 --dry-run"
	spec   *commandSpec
	setup  matrixCommand
	args   []string // after the binary's name, with placeholders
	env    []string // NAME=value, with placeholders
	want   want
	strict bool // must write nothing
	early  bool // refused on the command line: no databases
	format string
	help   bool // prints help (or the version) on stdout
	keep   bool // demo --keep: servers to stop after
	dryRun bool
}

func (c *flagCase) uses(placeholder string) bool {
	return slices.ContainsFunc(append(slices.Clone(c.args), c.env...), func(s string) bool { return strings.Contains(s, placeholder) })
}

// citus: the case runs on a Citus shop.
func (c *flagCase) citus() bool { return c.setup.dst == "citus" && !c.early && c.uses("{target}") }

// cases builds the matrix from the app's commands.
func (m *matrix) cases(t *testing.T, specs []commandSpec) []*flagCase {
	var out []*flagCase
	byArgs := map[string]string{} // command line -> the case's name
	names := map[string]bool{}
	// same records a name that is the run of another case: an expectation
	// of its own would be ignored.
	same := func(name, as string) {
		names[name] = true
		if _, ok := matrixExpect[name]; ok && name != as {
			t.Errorf("matrixExpect names %q, which runs as %q: expect that one", name, as)
		}
	}
	for i := range specs {
		s := &specs[i]
		setup, ok := matrixCommands[s.path]
		if !ok {
			t.Errorf("command %q is not in matrixCommands: say which databases it works on and which flags it requires", s.path)
			continue
		}
		flags := map[string]cli.Flag{}
		for _, f := range s.flags {
			flags[f.Names()[0]] = f
		}
		for _, r := range append(slices.Clone(setup.required), setup.cheap...) {
			if flags[r.name] == nil {
				t.Errorf("matrixCommands: %q has no flag --%s", s.path, r.name)
			}
		}
		// add makes the case of flags given to the command; label names it
		// when it is not about flags alone.
		add := func(label string, caseFlags []flagArg, drop string, env []string, bad *badSample) {
			c := m.newCase(s, setup, label, caseFlags, drop, env, bad)
			key := strings.Join(append(slices.Clone(c.args), c.env...), "\x00")
			if first, dup := byArgs[key]; dup {
				same(c.name, first)
				return
			}
			byArgs[key] = c.name
			names[c.name] = true
			out = append(out, c)
		}
		inBase := map[string]bool{}
		for _, r := range append(slices.Clone(setup.required), setup.cheap...) {
			inBase[r.name] = true
		}
		var together []flagArg
		if !setup.together {
			add("", nil, "", nil, nil)
		}
		for _, r := range setup.required {
			add("without --"+r.name, nil, r.name, nil, nil)
		}
		for _, f := range s.flags {
			name := f.Names()[0]
			samples, err := samplesOf(s.path, f)
			if err != nil {
				t.Error(err)
				continue
			}
			for _, v := range samples {
				switch {
				case setup.together && name != "help":
					together = append(together, v)
				case !v.bool && !inBase[name] && v.value == f.(cli.DocGenerationFlag).GetValue():
					// The flag's default: the same run as without it.
					same(m.newCase(s, setup, "", []flagArg{v}, "", nil, nil).name, s.path)
				default:
					add("", []flagArg{v}, "", nil, nil)
				}
			}
			if isBool(f) {
				for _, alias := range f.Names()[1:] {
					add("", []flagArg{{name: alias, bool: true, alias: len(alias) == 1}}, "", nil, nil)
				}
			}
			for _, b := range badSamplesOf(s.path, f) {
				add("", []flagArg{{name: name, value: b.value}}, "", nil, &b)
			}
			if df, ok := f.(cli.DocGenerationFlag); ok && len(samples) > 0 {
				// The variable instead of the flag; as a dry run where there
				// is one: it reads the variable all the same.
				var dry []flagArg
				if flags["dry-run"] != nil {
					dry = []flagArg{{name: "dry-run", bool: true}}
				}
				for _, ev := range df.GetEnvVars() {
					add("with $"+ev, dry, name, []string{ev + "=" + samples[0].value}, nil)
				}
			}
		}
		if setup.together {
			add("(every flag together)", together, "", nil, nil)
			continue
		}
		for _, combo := range combos(t, s) {
			add("", combo, "", nil, nil)
		}
		for _, flags := range extraCases[s.path] {
			add("", slices.Clone(flags), "", nil, nil)
		}
	}
	for name := range matrixExpect {
		if !names[name] {
			t.Errorf("matrixExpect names %q, which is no case of the matrix", name)
		}
	}
	return out
}

// newCase assembles a case: caseFlags and the command's required and cheap
// flags (but drop, and those caseFlags replace), in the order the command
// defines its flags.
func (m *matrix) newCase(s *commandSpec, setup matrixCommand, label string, caseFlags []flagArg, drop string, env []string, bad *badSample) *flagCase {
	order := map[string]int{}
	for i, f := range s.flags {
		for _, n := range f.Names() {
			order[n] = i
		}
	}
	sort.SliceStable(caseFlags, func(i, j int) bool { return order[caseFlags[i].name] < order[caseFlags[j].name] })
	given := map[string]bool{drop: true}
	for _, f := range caseFlags {
		given[f.name] = true
	}
	c := &flagCase{spec: s, setup: setup, env: env}
	all := slices.Clone(caseFlags)
	for _, f := range append(slices.Clone(setup.required), setup.cheap...) {
		if !given[f.name] {
			all = append(all, f)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return order[all[i].name] < order[all[j].name] })
	c.args = strings.Fields(s.path)
	for _, f := range all {
		c.args = append(c.args, f.args()...)
	}
	nameParts := []string{s.path}
	if s.path == "" {
		nameParts = []string{"tenantmover"}
	}
	for _, f := range caseFlags {
		nameParts = append(nameParts, f.String())
	}
	if label != "" {
		nameParts = append(nameParts, label)
	}
	c.name = strings.Join(nameParts, " ")

	has := func(name string) bool {
		return slices.ContainsFunc(caseFlags, func(f flagArg) bool { return f.name == name })
	}
	c.format = "text"
	for _, f := range caseFlags {
		if f.name == "format" {
			c.format = f.value
		}
	}
	c.help = has("help") || has("h") || has("version") || has("v") ||
		(len(caseFlags) == 0 && label == "" && (s.path == "" || len(s.cmd.Subcommands) > 0))
	c.keep = has("keep")
	c.dryRun = has("dry-run")
	switch w, ok := matrixExpect[c.name]; {
	case ok:
		c.want = w
	case bad != nil:
		c.want = want{code: exitError, msg: bad.msg}
		if len(c.want.msg) == 0 {
			c.want.msg = []string{bad.value}
		}
		c.early = bad.early
	case drop != "" && env == nil:
		c.want = want{code: exitError, msg: []string{"--" + drop}}
	case setup.expect != nil && !c.help:
		c.want = *setup.expect
	}
	c.early = c.early || c.help // the help connects to nothing
	writes := !setup.readOnly || slices.ContainsFunc(setup.writers, has)
	c.strict = !writes || has("dry-run") || c.help || c.want.code != exitOK || c.early
	return c
}

func isBool(f cli.Flag) bool {
	df, ok := f.(cli.DocGenerationFlag)
	return !ok || !df.TakesValue()
}

// samplesOf is the flag with each of its sample values; a flag that takes
// a value and has none is an error.
func samplesOf(path string, f cli.Flag) ([]flagArg, error) {
	name := f.Names()[0]
	if runsElsewhere[path+" "+name] != "" {
		return nil, nil
	}
	if isBool(f) {
		return []flagArg{{name: name, bool: true}}, nil
	}
	vals, ok := flagSamples[path+" "+name]
	if !ok {
		vals, ok = flagSamples[name]
	}
	if !ok || len(vals) == 0 {
		return nil, fmt.Errorf("flag --%s of %q takes a value and has no sample in flagSamples: add one, so the matrix runs it", name, path)
	}
	out := make([]flagArg, len(vals))
	for i, v := range vals {
		out[i] = flagArg{name: name, value: v}
	}
	return out, nil
}

// badSamplesOf are a flag's wrong values: its entries in badSamples, and
// "x" for numbers and durations.
func badSamplesOf(path string, f cli.Flag) []badSample {
	name := f.Names()[0]
	bad, ok := badSamples[path+" "+name]
	if !ok {
		bad = badSamples[name]
	}
	bad = slices.Clone(bad)
	switch f.(type) {
	case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag, *cli.Float64Flag, *cli.DurationFlag:
		bad = append(bad, badSample{value: "x", msg: []string{`"x"`, name}, early: true})
	}
	return bad
}

// flagMention is a flag named in help text, with the word after it
// ("--format sql", "--transfer-mode block_writes").
var flagMention = regexp.MustCompile(`--([a-z][a-z0-9-]*)(?:[ =]([a-z_]+))?`)

// combos are the combinations the help mentions: a flag with each flag its
// usage names, and the flags named together in a paragraph of the
// command's description (or its parents'), with the value the help names
// when it is a sample; then extraCombos; then, for a command with
// --dry-run, every other flag with --dry-run.
func combos(t *testing.T, s *commandSpec) [][]flagArg {
	flags := map[string]cli.Flag{}
	for _, f := range s.flags {
		flags[f.Names()[0]] = f
	}
	arg := func(name, mentioned string) (flagArg, bool) {
		f := flags[name]
		if f == nil {
			return flagArg{}, false
		}
		samples, err := samplesOf(s.path, f)
		if err != nil || len(samples) == 0 {
			return flagArg{}, false // reported with the flag
		}
		for _, a := range samples {
			if a.value == mentioned {
				return a, true
			}
		}
		return samples[0], true
	}
	mentions := func(text string) []flagArg {
		var out []flagArg
		for _, m := range flagMention.FindAllStringSubmatch(text, -1) {
			if a, ok := arg(m[1], m[2]); ok && !slices.ContainsFunc(out, func(b flagArg) bool { return b.name == a.name }) {
				out = append(out, a)
			}
		}
		return out
	}
	var out [][]flagArg
	seen := map[string]bool{}
	addCombo := func(c []flagArg) {
		names := make([]string, len(c))
		for i, a := range c {
			names[i] = a.String()
		}
		sort.Strings(names)
		if key := strings.Join(names, " "); len(c) > 1 && !seen[key] {
			seen[key] = true
			out = append(out, c)
		}
	}
	for _, f := range s.flags {
		df, ok := f.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		self, ok := arg(f.Names()[0], "")
		if !ok {
			continue
		}
		for _, other := range mentions(df.GetUsage()) {
			if other.name != self.name {
				addCombo([]flagArg{self, other})
			}
		}
	}
	for _, para := range s.help {
		named := mentions(para)
		for i := range named {
			for j := i + 1; j < len(named); j++ {
				addCombo([]flagArg{named[i], named[j]})
			}
		}
	}
	for _, combo := range extraCombos[s.path] {
		var c []flagArg
		for _, name := range combo {
			a, ok := arg(name, "")
			require.True(t, ok, "extraCombos: %q has no flag --%s", s.path, name)
			c = append(c, a)
		}
		addCombo(c)
	}
	if dry, ok := arg("dry-run", ""); ok {
		for _, f := range s.flags {
			if a, ok := arg(f.Names()[0], ""); ok && a.name != dry.name && a.name != "help" {
				addCombo([]flagArg{a, dry})
			}
		}
	}
	return out
}

// ---- running cases ----

// caseResult is a case's run and what it changed.
type caseResult struct {
	result
	err     error    // setting the case up or checking the databases failed
	changed []string // differences in databases that had to stay unchanged
	took    time.Duration
}

// caseJob is a case waiting for its result.
type caseJob struct {
	c    *flagCase
	res  caseResult
	done chan struct{}
}

func newJobs(cases []*flagCase) []*caseJob {
	jobs := make([]*caseJob, len(cases))
	for i, c := range cases {
		jobs[i] = &caseJob{c: c, done: make(chan struct{})}
	}
	return jobs
}

// runPool runs do on every job, n at a time, the jobs in order given.
func runPool(n int, jobs []*caseJob, do func(*caseJob) caseResult) {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer close(j.done)
			start := time.Now()
			j.res = do(j)
			j.res.took = time.Since(start)
		}()
	}
	wg.Wait()
}

// checkJobs runs each job's checks as its subtest, as results come in.
func checkJobs(t *testing.T, jobs []*caseJob) {
	start := time.Now()
	defer func() { t.Logf("%d cases checked after %.1fs", len(jobs), time.Since(start).Seconds()) }()
	for _, j := range jobs {
		t.Run(j.c.name, func(t *testing.T) {
			<-j.done
			checkCase(t, j.c, j.res)
		})
	}
}

// vars fills in a case's placeholders.
func (m *matrix) vars(c *flagCase, dir string, more ...string) *strings.Replacer {
	pairs := []string{"{dir}", dir, "{tenants-file}", filepath.Join(m.dir, "tenants.txt"), "{report}", filepath.Join(dir, "report.json")}
	return strings.NewReplacer(append(pairs, more...)...)
}

// caseDir makes the case's own directory.
func (m *matrix) caseDir() (string, error) {
	dir := filepath.Join(m.dir, fmt.Sprintf("case%d", m.seq.Add(1)))
	return dir, os.Mkdir(dir, 0o755)
}

// exec runs the binary, its output going to files (a demo's servers must
// not hold a pipe open).
func (m *matrix) exec(ctx context.Context, dir string, r *strings.Replacer, c *flagCase) (result, error) {
	args := make([]string, len(c.args))
	for i, a := range c.args {
		args[i] = r.Replace(a)
	}
	var env []string
	for _, e := range c.env {
		env = append(env, r.Replace(e))
	}
	res := result{args: args}
	outF, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		return res, err
	}
	defer outF.Close()
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		return res, err
	}
	defer errF.Close()
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.tm.path, args...)
	cmd.Env = cleanEnv(env...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = outF, errF
	runErr := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &exitErr):
		res.code = exitErr.ExitCode()
	default:
		return res, runErr
	}
	stdout, err := os.ReadFile(outF.Name())
	if err != nil {
		return res, err
	}
	stderr, err := os.ReadFile(errF.Name())
	res.stdout, res.stderr = string(stdout), string(stderr)
	if ctx.Err() != nil {
		return res, fmt.Errorf("still running after four minutes, killed")
	}
	return res, err
}

// stopKeptServers stops the servers a demo --keep left running, with the
// commands it printed for that.
func stopKeptServers(stderr string) error {
	var errs []error
	for _, line := range strings.Split(stderr, "\n") {
		if cmd, ok := strings.CutPrefix(line, "demo: stop with: "); ok {
			if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w\n%s", cmd, err, out))
			}
		}
	}
	return errors.Join(errs...)
}

// ---- plain PostgreSQL ----

// plainFixture is the template databases plain cases get copies of.
//
// A case that had to write nothing and, its snapshot proves, wrote nothing
// leaves a database equal to a fresh copy of its template: it goes back as
// a spare, for the next such case (copying a template costs more than the
// case on a busy machine). A case that may write always gets a new copy.
type plainFixture struct {
	srv       *pgtest.Server
	templates map[string]string            // kind -> database name
	snapshots map[string]map[string]string // kind -> snapshot
	missing   string                       // URL of a database that does not exist
	seq       atomic.Int64
	mu        sync.Mutex
	spares    map[string][]string // kind -> databases equal to the template
}

// matrixShop is the sample shop of the plain cases: six stores, so tenants
// 1 and 2 exist, and a few hundred rows, so a case takes well under a second.
var matrixShop = sample.Params{Stores: 6, Products: 40, Purchases: 300, Refunds: 40,
	Companies: 3, Users: 12, CampaignsPerCompany: 2, MembershipsPerCompany: 3, Skew: 1, Seed: 0.42}

func (m *matrix) plainFixture(t *testing.T) *plainFixture {
	t.Helper()
	ctx := context.Background()
	fx := &plainFixture{srv: env.Server(), templates: map[string]string{}, snapshots: map[string]map[string]string{}, spares: map[string][]string{}}
	t.Cleanup(func() {
		for _, names := range fx.spares {
			for _, name := range names {
				fx.drop(name)
			}
		}
	})
	fx.missing = withSecret(fx.srv.URL("flagmatrix_no_such_database"))
	newTemplate := func(kind, from string) string {
		var name string
		if from == "" {
			name = dbNameOf(t, env.NewDB(t))
		} else {
			var err error
			name, _, err = fx.clone(ctx, from)
			require.NoError(t, err)
			t.Cleanup(func() { fx.drop(name) })
		}
		fx.templates[kind] = name
		return withSecret(fx.srv.URL(name))
	}
	raw := newTemplate("raw", "")
	pool, err := pgxpool.New(ctx, raw)
	require.NoError(t, err)
	require.NoError(t, sample.Generate(ctx, pool, matrixShop))
	pool.Close()
	filled := newTemplate("filled", "raw")
	m.tm.run(t, "backfill", "--source", filled, "--tenant-table", "store", "--no-progress").ok(t)
	newTemplate("empty", "")
	schemaDB := newTemplate("schema", "empty")
	m.tm.run(t, "plan", "--source", filled, "--tenant-table", "store", "--apply", "--target", schemaDB).ok(t)
	copied := newTemplate("copied", "schema")
	m.tm.run(t, "copy", "--source", filled, "--target", copied, "--tenant-table", "store", "--no-progress").ok(t)
	for kind, name := range fx.templates {
		snap, err := snapshot(ctx, withSecret(fx.srv.URL(name)), false)
		require.NoError(t, err)
		fx.snapshots[kind] = snap
	}
	return fx
}

// dbNameOf is the database of a URL.
func dbNameOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return strings.TrimPrefix(u.Path, "/")
}

// clone copies a template into a new database.
func (fx *plainFixture) clone(ctx context.Context, kind string) (name, url string, err error) {
	name = fmt.Sprintf("fm%d_%s", fx.seq.Add(1), kind)
	err = fx.srv.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{fx.templates[kind]}.Sanitize())
	return name, withSecret(fx.srv.URL(name)), err
}

// get is a database equal to the template kind: a spare one when spare
// and there is one, otherwise a new copy.
func (fx *plainFixture) get(ctx context.Context, kind string, spare bool) (name, url string, err error) {
	if spare {
		fx.mu.Lock()
		if n := len(fx.spares[kind]); n > 0 {
			name = fx.spares[kind][n-1]
			fx.spares[kind] = fx.spares[kind][:n-1]
		}
		fx.mu.Unlock()
		if name != "" {
			return name, withSecret(fx.srv.URL(name)), nil
		}
	}
	return fx.clone(ctx, kind)
}

// putBack keeps a database its case proved unchanged as a spare.
func (fx *plainFixture) putBack(kind, name string) {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	fx.spares[kind] = append(fx.spares[kind], name)
}

func (fx *plainFixture) drop(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = fx.srv.DropDatabase(ctx, name)
}

func (m *matrix) runPlain(t *testing.T, cases []*flagCase) {
	start := time.Now()
	fx := m.plainFixture(t)
	t.Logf("templates ready in %.1fs", time.Since(start).Seconds())
	jobs := newJobs(cases)
	// The demo takes longest: it starts first.
	order := slices.Clone(jobs)
	sort.SliceStable(order, func(i, j int) bool {
		return order[i].c.spec.path == "demo" && !order[i].c.early && !(order[j].c.spec.path == "demo" && !order[j].c.early)
	})
	go runPool(6, order, func(j *caseJob) caseResult { return m.runPlainCase(fx, j.c) })
	checkJobs(t, jobs)
}

func (m *matrix) runPlainCase(fx *plainFixture, c *flagCase) (res caseResult) {
	ctx := context.Background()
	dir, err := m.caseDir()
	if err != nil {
		return caseResult{err: err}
	}
	type side struct {
		placeholder, kind, name, url string
		strict                       bool // must stay as it was
		unchanged                    bool
	}
	var sides []*side
	defer func() {
		for _, s := range sides {
			if s.unchanged {
				fx.putBack(s.kind, s.name)
			} else {
				fx.drop(s.name)
			}
		}
	}()
	urls := map[string]string{"{source}": fx.missing, "{target}": fx.missing}
	for _, s := range []*side{
		{placeholder: "{source}", kind: c.setup.src, strict: c.strict || c.setup.sourceReadOnly},
		{placeholder: "{target}", kind: c.setup.dst, strict: c.strict},
	} {
		if !c.uses(s.placeholder) || c.early {
			continue // refused before connecting: it gets a database that does not exist
		}
		if fx.templates[s.kind] == "" {
			return caseResult{err: fmt.Errorf("no template %q for %s", s.kind, s.placeholder)}
		}
		if s.name, s.url, err = fx.get(ctx, s.kind, s.strict); err != nil {
			return caseResult{err: err}
		}
		urls[s.placeholder] = s.url
		sides = append(sides, s)
	}
	r := m.vars(c, dir, "{source}", urls["{source}"], "{target}", urls["{target}"])
	res.result, res.err = m.exec(ctx, dir, r, c)
	if c.keep {
		res.err = errors.Join(res.err, stopKeptServers(res.stderr))
	}
	if res.err != nil {
		return res
	}
	for _, s := range sides {
		if !s.strict {
			continue
		}
		after, err := snapshot(ctx, s.url, false)
		if err != nil {
			res.err = err
			return res
		}
		diff := diffSnapshots(s.placeholder, fx.snapshots[s.kind], after)
		s.unchanged = len(diff) == 0
		res.changed = append(res.changed, diff...)
	}
	return res
}

// ---- Citus ----

// runCitus runs the Citus cases on two shops: the isolations on one, one at
// a time, each of a tenant of its own, each proving no row changed; the
// cases that must change nothing on the other, four at a time, each proving
// the shop is as it was (one rebalance start at a time: Citus lets one
// rebalance be planned at once, and refuses the others).
func (m *matrix) runCitus(t *testing.T, cases []*flagCase) {
	ctx := context.Background()
	jobs := newJobs(cases)
	var readers, writers []*caseJob
	for _, j := range jobs {
		if j.c.strict {
			readers = append(readers, j)
		} else {
			writers = append(writers, j)
		}
	}
	run := func(j *caseJob, coordinator, tenant, worker string) caseResult {
		dir, err := m.caseDir()
		if err != nil {
			return caseResult{err: err}
		}
		r := m.vars(j.c, dir, "{target}", coordinator, "{tenant}", tenant, "{worker}", worker)
		var res caseResult
		res.result, res.err = m.exec(ctx, dir, r, j.c)
		return res
	}

	// Two shards per table, one on each worker: balanced by either
	// strategy, so start has nothing to move. The isolations, one after
	// the other, take longest: their shop is made first, the readers' while
	// they run.
	start := time.Now()
	if len(writers) > 0 {
		writeShop := newShop(t, shopOptions{Shards: 2})
		t.Logf("the isolations' shop ready in %.1fs", time.Since(start).Seconds())
		require.LessOrEqual(t, len(writers)+2, writeShop.stores, "a tenant of its own for each isolation")
		writeURL := withSecret(writeShop.cdb.Coordinator)
		tenant := 2 // 1 and 2 are the big ones
		// Each isolation's rows after are the next one's rows before.
		rows, err := readFingerprint(writeURL, fingerprintSkip)
		require.NoError(t, err)
		go runPool(1, writers, func(j *caseJob) caseResult {
			tenant++
			res := run(j, writeURL, strconv.Itoa(tenant), writeShop.workers[1])
			if res.err == nil {
				var after dbFP
				after, res.err = readFingerprint(writeURL, fingerprintSkip)
				if res.err == nil && !equalContents(rows, after) {
					res.changed = append(res.changed, fmt.Sprintf("rows changed: before %v, after %v", rows.contents(), after.contents()))
				}
				rows = after
			}
			return res
		})
	}

	readShop := newShop(t, shopOptions{Shards: 2})
	t.Logf("the readers' shop ready in %.1fs", time.Since(start).Seconds())
	readURL := withSecret(readShop.cdb.Coordinator)
	before, err := snapshot(ctx, readURL, true)
	require.NoError(t, err)
	var starting sync.Mutex
	go runPool(4, readers, func(j *caseJob) caseResult {
		if j.c.spec.path == "rebalance start" && !j.c.dryRun {
			starting.Lock()
			defer starting.Unlock()
		}
		res := run(j, readURL, "1", readShop.workers[1])
		if res.err == nil {
			var after map[string]string
			after, res.err = snapshot(ctx, readURL, true)
			res.changed = diffSnapshots("{target}", before, after)
		}
		return res
	})
	checkJobs(t, jobs)
}

func equalContents(a, b dbFP) bool {
	ac, bc := a.contents(), b.contents()
	if len(ac) != len(bc) {
		return false
	}
	for k, v := range ac {
		if bc[k] != v {
			return false
		}
	}
	return true
}

// ---- snapshots ----

// snapshot is what a case that must write nothing leaves as it was: every
// relation but the system's (tenantmover's checkpoint tables included),
// the schemas, functions, replication slots and publications, and on Citus
// the shards, their placements, the nodes and the background jobs.
func snapshot(ctx context.Context, url string, citus bool) (map[string]string, error) {
	fp, err := readFingerprint(url, []string{"pg_catalog", "information_schema", "pg_toast"})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for name, t := range fp {
		out["relation "+name] = fmt.Sprintf("%+v", t)
	}
	queries := map[string]string{
		"schemas": `SELECT coalesce(string_agg(nspname, ', ' ORDER BY nspname), '') FROM pg_namespace
			WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'`,
		"functions": `SELECT coalesce(string_agg(p.oid::regprocedure::text, ', ' ORDER BY 1), '') FROM pg_proc p
			JOIN pg_namespace n ON n.oid = p.pronamespace
			WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
			  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')`,
		"replication slots": `SELECT coalesce(string_agg(slot_name, ', ' ORDER BY 1), '') FROM pg_replication_slots WHERE database = current_database()`,
		"publications":      `SELECT coalesce(string_agg(pubname, ', ' ORDER BY 1), '') FROM pg_publication`,
	}
	if citus {
		queries["citus shards"] = `SELECT string_agg(format('%s %s %s..%s', logicalrelid, shardid, shardminvalue, shardmaxvalue), ', ' ORDER BY shardid) FROM pg_dist_shard`
		queries["citus placements"] = `SELECT string_agg(format('%s@%s', shardid, groupid), ', ' ORDER BY shardid, groupid) FROM pg_dist_placement`
		queries["citus nodes"] = `SELECT string_agg(format('%s %s:%s %s %s', nodeid, nodename, nodeport, isactive, shouldhaveshards), ', ' ORDER BY nodeid) FROM pg_dist_node`
		queries["citus background jobs"] = `SELECT count(*)::text FROM pg_dist_background_job`
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	for name, q := range queries {
		var v string
		if err := conn.QueryRow(ctx, q).Scan(&v); err != nil {
			return nil, fmt.Errorf("snapshot of %s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

// diffSnapshots lists what differs, one line per entry.
func diffSnapshots(side string, before, after map[string]string) []string {
	var out []string
	for k, v := range before {
		if a, ok := after[k]; !ok {
			out = append(out, fmt.Sprintf("%s: %s is gone", side, k))
		} else if a != v {
			out = append(out, fmt.Sprintf("%s: %s was\n    %s\n  is\n    %s", side, k, v, a))
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			out = append(out, fmt.Sprintf("%s: %s is new: %s", side, k, v))
		}
	}
	sort.Strings(out)
	return out
}

// ---- checks ----

func checkCase(t *testing.T, c *flagCase, r caseResult) {
	t.Helper()
	require.NoError(t, r.err, "running the case\n%s", r.result)
	t.Logf("exit %d in %.1fs: %s", r.code, r.took.Seconds(), r.lastLine())
	out := r.stdout + r.stderr
	for _, s := range []string{"panic:", "goroutine "} {
		require.NotContains(t, out, s, "a panic\n%s", r.result)
	}
	require.NotContains(t, out, secret, "the password shows\n%s", r.result)
	require.Contains(t, []int{exitOK, exitError, exitDifferences}, r.code, "exit status 0, 1 or 2\n%s", r.result)
	require.Equal(t, c.want.code, r.code, "exit status\n%s", r.result)

	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	var errLines []int
	for i, l := range lines {
		if strings.HasPrefix(l, "tenantmover:") {
			errLines = append(errLines, i)
		}
	}
	if r.code == exitOK {
		require.Empty(t, errLines, "a success prints no error line\n%s", r.result)
	} else {
		require.Len(t, errLines, 1, "one error line\n%s", r.result)
		require.Equal(t, len(lines)-1, errLines[0], "the error line is the last: nothing follows it\n%s", r.result)
		require.Regexp(t, `^tenantmover: \S`, lines[len(lines)-1], "the error line says something\n%s", r.result)
	}
	for _, msg := range c.want.msg {
		if r.code == exitOK {
			require.Contains(t, out, msg, "the output should say %q\n%s", msg, r.result)
		} else {
			require.Contains(t, r.lastLine(), msg, "the error line should say %q\n%s", msg, r.result)
		}
	}

	switch {
	case c.help:
		require.NotEmpty(t, r.stdout, "the help (or the version) on stdout\n%s", r.result)
	case c.keep && r.code == exitOK:
		require.Contains(t, r.stdout, "export TENANTMOVER_SOURCE=", "the demo's servers on stdout\n%s", r.result)
	case c.format == "json" && (r.code != exitError || r.stdout != ""):
		requireOneJSON(t, r.stdout, r.result)
	case c.format == "sql" && r.code == exitOK:
		require.Contains(t, r.stdout, "CREATE TABLE", "the target schema on stdout\n%s", r.result)
	default:
		require.Empty(t, r.stdout, "nothing on stdout but the document asked for\n%s", r.result)
	}
	require.Empty(t, r.changed, "the case had to write nothing\n%s", r.result)
}

// requireOneJSON: stdout is exactly one JSON document.
func requireOneJSON(t *testing.T, stdout string, r result) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var doc any
	require.NoError(t, dec.Decode(&doc), "stdout is a JSON document\n%s", r)
	var more any
	require.ErrorIs(t, dec.Decode(&more), io.EOF, "stdout is one JSON document, nothing after it\n%s", r)
	require.NotNil(t, doc, "a document, not null\n%s", r)
}
