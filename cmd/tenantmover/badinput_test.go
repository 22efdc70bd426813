package main

// The bad-input suite: the built binary run the way users run it, on the
// mistakes they make and the accidents that happen to them. Every case
// checks three things: the message names what to fix (and never the
// password), the exit status is the documented one, and the databases are
// unchanged (a fingerprint of every user table's definition and content,
// before and after), or, for the accidents, consistent and resumable.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/localpg"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/sample"
)

// secret is the password put in every URL the suite passes (the test
// servers trust local connections and ignore it): no output may show it.
const secret = "Sekr1t-pw-4711"

// withSecret adds the password to a pgtest URL.
func withSecret(url string) string {
	return strings.Replace(url, "postgres://postgres@", "postgres://postgres:"+secret+"@", 1)
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	tm := buildTenantmover(t)
	// The parent returns before its parallel subtests run; its cleanup
	// (the binary's directory) waits for all of them.
	t.Run("wrong password", func(t *testing.T) { t.Parallel(); wrongPassword(t, tm) })
	t.Run("unreachable or missing database", func(t *testing.T) { t.Parallel(); unreachable(t, tm) })
	t.Run("plan inputs", func(t *testing.T) { t.Parallel(); planInputs(t, tm) })
	t.Run("plain target for a Citus command", func(t *testing.T) { t.Parallel(); notCitus(t, tm) })
	t.Run("target schema differs", func(t *testing.T) { t.Parallel(); targetSchemaDiffers(t, tm) })
	t.Run("resumed with other options", func(t *testing.T) { t.Parallel(); resumedWithOtherOptions(t, tm) })
	t.Run("two processes on one run: copy", func(t *testing.T) { t.Parallel(); twoProcesses(t, tm, "copy") })
	t.Run("two processes on one run: backfill", func(t *testing.T) { t.Parallel(); twoProcesses(t, tm, "backfill") })
	t.Run("ctrl-c in a batch", func(t *testing.T) { t.Parallel(); interruptBackfill(t, tm) })
	t.Run("source table dropped mid-run", func(t *testing.T) { t.Parallel(); droppedMidRun(t, tm) })
	t.Run("odd names and values: plain target", func(t *testing.T) { t.Parallel(); oddNames(t, tm, false) })
	t.Run("odd names and values: Citus target", func(t *testing.T) { t.Parallel(); oddNames(t, tm, true) })
}

// ---- the binary ----

type tmBinary struct{ path string }

// buildTenantmover builds the command once for the suite.
func buildTenantmover(t *testing.T) tmBinary {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tenantmover")
	out, err := exec.Command("go", "build", "-o", path, "github.com/tenantmover/tenantmover/cmd/tenantmover").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return tmBinary{path: path}
}

// result is one finished run of the binary.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("tenantmover %s\nexit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// lastLine is the error line run() prints, "tenantmover: ...".
func (r result) lastLine() string {
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	return lines[len(lines)-1]
}

// expect checks the exit status (one of codes), that stderr holds every
// word of msg, and that no output shows a password.
func (r result) expect(t *testing.T, codes []int, msg ...string) {
	t.Helper()
	t.Logf("%s: exit %d: %s", r.args[0], r.code, r.lastLine())
	require.Contains(t, codes, r.code, "exit status\n%s", r)
	for _, m := range msg {
		require.Contains(t, r.stderr, m, "the message should say %q\n%s", m, r)
	}
	for _, pw := range []string{secret, "wrong-pw", "right-pw"} {
		require.NotContains(t, r.stdout+r.stderr, pw, "the password shows\n%s", r)
	}
}

func (r result) ok(t *testing.T) {
	t.Helper()
	r.expect(t, []int{exitOK})
}

// cleanEnv is the test's environment without connection settings, so a
// developer's PGHOST or TENANTMOVER_SOURCE cannot change a case.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "TENANTMOVER_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// tmProc is a running tenantmover process.
type tmProc struct {
	cmd            *exec.Cmd
	args           []string
	stdout, stderr bytes.Buffer
	done           chan struct{}
	res            result
}

// start runs the binary in the background; the test's cleanup kills it if
// it is still running (resuming it first if it was stopped).
func (b tmBinary) start(t *testing.T, env []string, args ...string) *tmProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	p := &tmProc{args: args, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, b.path, args...)
	p.cmd.Env = cleanEnv(env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		defer cancel()
		err := p.cmd.Wait()
		p.res = result{args: args, stdout: p.stdout.String(), stderr: p.stderr.String()}
		var exitErr *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exitErr):
			p.res.code = exitErr.ExitCode()
		default:
			p.res.code = -1
			p.res.stderr += "\n[test: " + err.Error() + "]"
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait returns the process's result once it ended.
func (p *tmProc) wait() result {
	<-p.done
	return p.res
}

func (p *tmProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
}

// run runs the binary to its end.
func (b tmBinary) run(t *testing.T, args ...string) result {
	t.Helper()
	return b.start(t, nil, args...).wait()
}

// runEnv runs the binary with extra environment variables.
func (b tmBinary) runEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return b.start(t, env, args...).wait()
}

// await polls query (a boolean) on pool until it is true. It fails when p
// ends first or nothing happens within two minutes. Query errors count as
// false: the checkpoint schema appears only once the run has started.
func await(t *testing.T, p *tmProc, pool *pgxpool.Pool, what, query string, args ...any) {
	t.Helper()
	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var ok bool
		if err := pool.QueryRow(context.Background(), query, args...).Scan(&ok); err == nil && ok {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("waiting for %s: the process ended first\n%s", what, p.res)
		case <-deadline.C:
			t.Fatalf("waiting for %s: nothing within two minutes", what)
		case <-tick.C:
		}
	}
}

// ---- fixtures ----

// sampleMonolith fills a new database with the sample monolith; purchases
// sets its size.
func sampleMonolith(t *testing.T, purchases int) (string, *pgxpool.Pool) {
	t.Helper()
	url := env.NewDB(t)
	pool := pgtest.Pool(t, url)
	require.NoError(t, sample.Generate(context.Background(), pool, sample.Params{
		Stores: 12, Products: 200, Purchases: purchases, Refunds: purchases / 10,
		Companies: 3, Users: 20, CampaignsPerCompany: 2, MembershipsPerCompany: 4, Skew: 1, Seed: 0.42}))
	return withSecret(url), pool
}

// migrated is a backfilled sample monolith and a plain target whose schema
// 'plan --apply' created, empty.
func migrated(t *testing.T, tm tmBinary, purchases int) (src, dst string, srcPool, dstPool *pgxpool.Pool) {
	t.Helper()
	src, srcPool = sampleMonolith(t, purchases)
	dstURL := env.NewDB(t)
	dst, dstPool = withSecret(dstURL), pgtest.Pool(t, dstURL)
	tm.run(t, "backfill", "--source", src, "--tenant-table", "store", "--no-progress").ok(t)
	tm.run(t, "plan", "--source", src, "--tenant-table", "store", "--apply", "--target", dst).ok(t)
	return src, dst, srcPool, dstPool
}

var (
	exit1 = []int{exitError}
	exit2 = []int{exitDifferences}
)

// ---- 1. wrong password ----

// wrongPassword runs a private server where role app needs a password
// (scram-sha-256 over TCP), since the shared test server trusts everyone.
func wrongPassword(t *testing.T, tm tmBinary) {
	srv, err := localpg.Start(localpg.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	ctx := context.Background()
	require.NoError(t, srv.Exec(ctx, "postgres", `CREATE ROLE app WITH LOGIN PASSWORD 'right-pw'`))
	require.NoError(t, srv.Exec(ctx, "postgres", `CREATE DATABASE shop OWNER app`))
	require.NoError(t, srv.Exec(ctx, "shop", `SET ROLE app; CREATE TABLE store (id bigint PRIMARY KEY, name text);
		CREATE TABLE product (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store, name text)`))
	require.NoError(t, srv.WriteConfigFile("pg_hba.conf", `# written by the bad-input test
local all postgres trust
host  all postgres 127.0.0.1/32 trust
host  all app      127.0.0.1/32 scram-sha-256
`))
	require.NoError(t, srv.Exec(ctx, "postgres", `SELECT pg_reload_conf()`))
	before := fingerprint(t, srv.URL("shop"))

	host := fmt.Sprintf("127.0.0.1:%d", srv.Port)
	good := fmt.Sprintf("postgres://app:right-pw@%s/shop?sslmode=disable", host)
	// The right password works: the failures below are the password's.
	tm.run(t, "plan", "--source", good, "--tenant-table", "store").ok(t)

	cases := []struct {
		name string
		env  []string
		url  string
	}{
		{"URI", nil, fmt.Sprintf("postgres://app:wrong-pw@%s/shop?sslmode=disable", host)},
		{"keyword/value", nil, fmt.Sprintf("host=127.0.0.1 port=%d user=app password='wrong-pw' dbname=shop sslmode=disable", srv.Port)},
		{"PGPASSWORD", []string{"PGPASSWORD=wrong-pw"}, fmt.Sprintf("postgres://app@%s/shop?sslmode=disable", host)},
	}
	for _, c := range cases {
		for _, args := range [][]string{
			{"plan", "--source", c.url, "--tenant-table", "store"},
			{"backfill", "--source", c.url, "--tenant-table", "store"},
			{"copy", "--source", good, "--target", c.url, "--tenant-table", "store"},
			{"status", "--target", c.url},
		} {
			t.Run(c.name+" "+args[0], func(t *testing.T) {
				r := tm.runEnv(t, c.env, args...)
				r.expect(t, exit1, `password authentication failed for user "app"`, "127.0.0.1")
				require.NotContains(t, strings.TrimSpace(r.stderr), "\n", "one line\n%s", r)
			})
		}
	}
	requireUnchanged(t, before, srv.URL("shop"), "the database")
}

// ---- 2, 3. unreachable host, missing database ----

func unreachable(t *testing.T, tm tmBinary) {
	src, _ := sampleMonolith(t, 300)
	dst := withSecret(env.NewDB(t))
	srcBefore, dstBefore := fingerprint(t, src), fingerprint(t, dst)
	missingDB := withSecret(env.Server().URL("no_such_db_4711"))
	bad := []struct {
		name string
		url  string
		msg  []string
	}{
		{"port 1", "postgres://postgres:" + secret + "@127.0.0.1:1/shop?connect_timeout=10", []string{"127.0.0.1:1"}},
		{"port 1, keyword/value", "host=127.0.0.1 port=1 user=postgres password=" + secret + " dbname=shop connect_timeout=10", []string{"127.0.0.1:1"}},
		{"unknown host", "postgres://postgres:" + secret + "@nohost.invalid:5432/shop?connect_timeout=10", []string{"nohost.invalid"}},
		{"missing database", missingDB, []string{`database "no_such_db_4711" does not exist`}},
	}
	// Every command that connects, with the bad URL as source, then as target.
	commands := func(src, dst string) [][]string {
		return [][]string{
			{"plan", "--source", src, "--tenant-table", "store"},
			{"plan", "--source", src, "--tenant-table", "store", "--apply", "--target", dst},
			{"backfill", "--source", src, "--tenant-table", "store"},
			{"copy", "--source", src, "--target", dst, "--tenant-table", "store"},
			{"verify", "--source", src, "--target", dst, "--tenant-table", "store"},
			{"migrate", "--source", src, "--target", dst, "--tenant-table", "store"},
			{"status", "--source", src, "--target", dst},
			{"rebalance", "status", "--target", dst},
		}
	}
	for _, b := range bad {
		for side, cmds := range map[string][][]string{"source": commands(b.url, dst), "target": commands(src, b.url)} {
			for _, args := range cmds {
				if !strings.Contains(strings.Join(args, " "), b.url) {
					continue // the command has no such side
				}
				label := args[0]
				switch {
				case args[0] == "rebalance":
					label += " " + args[1]
				case slices.Contains(args, "--apply"):
					label += " --apply"
				}
				t.Run(fmt.Sprintf("%s as %s: %s", b.name, side, label), func(t *testing.T) {
					r := tm.run(t, append(args, "--no-progress")...)
					r.expect(t, exit1, b.msg...)
					require.NotContains(t, strings.TrimSpace(r.stderr), "\n", "one line\n%s", r)
				})
			}
		}
	}
	requireUnchanged(t, srcBefore, src, "the source")
	requireUnchanged(t, dstBefore, dst, "the target")
}

// ---- 4, 5, 6. tenant table and --relation mistakes ----

func planInputs(t *testing.T, tm tmBinary) {
	src, pool := sampleMonolith(t, 300)
	pgtest.Exec(t, pool, `CREATE TABLE loose (id bigint PRIMARY KEY, store_ref text NOT NULL, note text);
		INSERT INTO loose VALUES (1, '1', 'a'), (2, '2', 'b')`)
	// The table without a key lives apart: in the monolith it would be a
	// blocking problem of every plan.
	nopkURL := env.NewDB(t)
	nopk := withSecret(nopkURL)
	pgtest.Exec(t, pgtest.Pool(t, nopkURL), `CREATE TABLE shop_nopk (id bigint NOT NULL, name text);
		CREATE TABLE item (id bigint PRIMARY KEY, shop_id bigint NOT NULL, name text);
		INSERT INTO shop_nopk VALUES (1, 'a'); INSERT INTO item VALUES (1, 1, 'x')`)
	dst := withSecret(env.NewDB(t))
	srcBefore, nopkBefore, dstBefore := fingerprint(t, src), fingerprint(t, nopk), fingerprint(t, dst)
	// The monolith plans without problems: the failures below are the flags'.
	tm.run(t, "plan", "--source", src, "--tenant-table", "store").ok(t)

	every := []string{"plan", "backfill", "copy", "verify", "migrate"}
	cases := []struct {
		name     string
		src      string // default: the monolith
		flags    []string
		commands []string
		codes    []int
		msg      []string
	}{
		{"unknown tenant table", "", []string{"--tenant-table", "nosuch"}, every, exit1,
			[]string{"table nosuch not found"}},
		{"tenant table in the wrong case suggests the right name", "", []string{"--tenant-table", `"Store"`}, every, exit1,
			[]string{`table "Store" not found`, "did you mean public.store"}},
		{"unknown schema", "", []string{"--tenant-table", "nope.store"}, every, exit1,
			[]string{"nope.store", "not found"}},
		{"tenant table without a primary key", nopk, []string{"--tenant-table", "shop_nopk"}, every, exit1,
			[]string{"public.shop_nopk", "primary key"}},
		{"--relation names a missing child column", "", []string{"--tenant-table", "store", "--relation", "refund.nosuch=purchase.id"}, every, exit1,
			[]string{"--relation", "refund.nosuch=purchase.id", "public.refund has no column nosuch"}},
		{"--relation names a missing parent column", "", []string{"--tenant-table", "store", "--relation", "loose.store_ref=store.nocol"}, every, exit1,
			[]string{"public.store has no column nocol"}},
		{"--relation names a missing table", "", []string{"--tenant-table", "store", "--relation", "nosuch.store_id=store.id"}, every, exit1,
			[]string{"--relation", "nosuch"}},
		// loose reaches store only through the declared relation, whose
		// types cannot be joined: a bad --relation, refused like a missing
		// column (exit 1), naming both columns and types.
		{"--relation with mismatched types on the tenant path", "", []string{"--tenant-table", "store", "--relation", "loose.store_ref=store.id"},
			[]string{"plan", "migrate"}, []int{exitError}, []string{"public.loose", "store_ref", "text", "bigint"}},
		// refund.reason (text) cannot reference purchase.id (bigint): a
		// declared relation PostgreSQL would refuse as a foreign key must be
		// refused, not silently ignored because a catalog path exists.
		{"--relation with mismatched types beside a catalog path", "", []string{"--tenant-table", "store", "--relation", "refund.reason=purchase.id"},
			[]string{"plan"}, []int{exitError, exitDifferences}, []string{"reason", "text", "bigint"}},
	}
	for i, c := range cases {
		for _, cmd := range c.commands {
			t.Run(c.name+": "+cmd, func(t *testing.T) {
				from := c.src
				if from == "" {
					from = src
				}
				args := []string{cmd, "--source", from, "--no-progress"}
				if cmd != "plan" && cmd != "backfill" {
					args = append(args, "--target", dst)
				}
				if cmd == "migrate" {
					// Each its own run: see resumedWithOtherOptions for a
					// failed migrate followed by a corrected one.
					args = append(args, "--run", fmt.Sprintf("m%d", i))
				}
				r := tm.run(t, append(args, c.flags...)...)
				r.expect(t, c.codes, c.msg...)
			})
		}
	}
	requireUnchanged(t, srcBefore, src, "the source")
	requireUnchanged(t, nopkBefore, nopk, "the source without a key")
	requireUnchanged(t, dstBefore, dst, "the target")
}

// ---- 7. a plain PostgreSQL target for a Citus-only command ----

func notCitus(t *testing.T, tm tmBinary) {
	dstURL := env.NewDB(t)
	dst := withSecret(dstURL)
	pgtest.Exec(t, pgtest.Pool(t, dstURL), `CREATE TABLE store (id bigint PRIMARY KEY, name text); INSERT INTO store VALUES (1, 'a')`)
	before := fingerprint(t, dst)
	for _, args := range [][]string{
		{"status"}, {"plan"}, {"start"}, {"start", "--dry-run"}, {"stop"},
		{"isolate", "--tenant-table", "store", "--tenant", "1"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := tm.run(t, append([]string{"rebalance", args[0], "--target", dst, "--no-progress"}, args[1:]...)...)
			r.expect(t, exit1, "not a Citus coordinator")
		})
	}
	requireUnchanged(t, before, dst, "the target")
}

// ---- 8. the target schema differs from the source ----

func targetSchemaDiffers(t *testing.T, tm tmBinary) {
	cases := []struct {
		name  string
		alter string
		msg   []string
	}{
		{"missing column", `ALTER TABLE refund DROP COLUMN reason`, []string{"public.refund", "reason"}},
		{"column of another type", `ALTER TABLE purchase ALTER COLUMN amount TYPE text`, []string{"public.purchase", "amount", "text", "numeric(12,2)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			src, dst, _, dstPool := migrated(t, tm, 300)
			pgtest.Exec(t, dstPool, c.alter)
			srcBefore, dstBefore := fingerprint(t, src), fingerprint(t, dst)
			for _, cmd := range []string{"copy", "migrate"} {
				r := tm.run(t, cmd, "--source", src, "--target", dst, "--tenant-table", "store", "--no-progress")
				r.expect(t, exit1, c.msg...)
				requireUnchanged(t, dstBefore, dst, "the target (nothing may be copied)")
			}
			requireUnchanged(t, srcBefore, src, "the source")
		})
	}
}

// ---- 9. a run resumed with other options ----

func resumedWithOtherOptions(t *testing.T, tm tmBinary) {
	src, dst, _, _ := migrated(t, tm, 300)
	copyArgs := []string{"copy", "--source", src, "--target", dst, "--tenant-table", "store", "--no-progress", "--run", "r"}
	tm.run(t, copyArgs...).ok(t)
	srcBefore, dstBefore := fingerprint(t, src), fingerprint(t, dst)

	r := tm.run(t, append(copyArgs, "--tenants", "1")...)
	r.expect(t, exit1, `run "r"`, "other options", "--restart")
	r = tm.run(t, "backfill", "--source", src, "--tenant-table", "store", "--tenant-column", "tenant_id", "--no-progress")
	r.expect(t, exit1, `run "backfill"`, "other options", "--restart")
	requireUnchanged(t, srcBefore, src, "the source")
	requireUnchanged(t, dstBefore, dst, "the target")

	// migrate keeps its options on the target too. A first attempt that
	// failed on a typo, before any work, does not count: the corrected
	// command runs.
	src2, _ := sampleMonolith(t, 300)
	dst2 := withSecret(env.NewDB(t))
	r = tm.run(t, "migrate", "--source", src2, "--target", dst2, "--tenant-table", "stor", "--no-progress", "--run", "m")
	r.expect(t, exit1, "table stor not found")
	tm.run(t, "migrate", "--source", src2, "--target", dst2, "--tenant-table", "store", "--no-progress", "--run", "m").ok(t)
	srcBefore, dstBefore = fingerprint(t, src2), fingerprint(t, dst2)
	r = tm.run(t, "migrate", "--source", src2, "--target", dst2, "--tenant-table", "store", "--no-progress", "--run", "m", "--exclude", "refund")
	r.expect(t, exit1, `run "m"`, "--restart")
	requireUnchanged(t, srcBefore, src2, "the source")
	requireUnchanged(t, dstBefore, dst2, "the target")
}

// ---- 10. two processes on one run ----

// runLockHolder is the backend pid holding run $1's lock in the pool's
// database: an advisory lock on (0x746d "tm", fnv32a of the run name).
const runLockHolder = `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
	AND classid = 29805 AND objid = $1::int::oid
	AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`

func runLockKey(run string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(run))
	return int32(h.Sum32())
}

// twoProcesses starts process A, freezes it with SIGSTOP while it holds
// its run lock, runs B on the same run (refused, naming A's session), then
// lets A finish: its result is complete.
func twoProcesses(t *testing.T, tm tmBinary, command string) {
	var (
		src, dst         string
		srcPool, dstPool *pgxpool.Pool
		args             []string
		ckpt             *pgxpool.Pool // where the run's checkpoints and lock live
	)
	switch command {
	case "copy":
		src, dst, srcPool, dstPool = migrated(t, tm, 30000)
		args = []string{"copy", "--source", src, "--target", dst, "--tenant-table", "store", "--no-progress",
			"--run", "busy", "--workers", "1", "--chunk-rows", "300"}
		ckpt = dstPool
	case "backfill":
		src, srcPool = sampleMonolith(t, 30000)
		args = []string{"backfill", "--source", src, "--tenant-table", "store", "--no-progress", "--run", "busy",
			"--workers", "1", "--batch-time", "5ms", "--min-batch-rows", "10", "--max-batch-rows", "100"}
		ckpt = srcPool
	}
	a := tm.start(t, nil, args...)
	await(t, a, ckpt, "A's first committed unit", `SELECT EXISTS (SELECT FROM tenantmover.units WHERE run = 'busy' AND rows > 0)`)
	a.signal(t, syscall.SIGSTOP)
	holder := pgtest.Scalar[int32](t, ckpt, runLockHolder, runLockKey("busy"))
	require.Positive(t, pgtest.Scalar[int64](t, ckpt, `SELECT count(*) FROM tenantmover.units WHERE run = 'busy' AND state <> 'done'`),
		"A must be stopped halfway (make the data bigger if it finished)")
	srcBefore := fingerprint(t, src)
	var dstBefore dbFP
	if dst != "" {
		dstBefore = fingerprint(t, dst)
	}

	started := time.Now()
	b := tm.run(t, args...)
	t.Logf("B was refused after %s", time.Since(started).Round(100*time.Millisecond))
	b.expect(t, exit1, `run "busy" is being worked on by another tenantmover process`, fmt.Sprintf("pid %d", holder))
	requireUnchanged(t, srcBefore, src, "the source (B must not touch it)")
	if dst != "" {
		requireUnchanged(t, dstBefore, dst, "the target (B must not touch it)")
	}

	a.signal(t, syscall.SIGCONT)
	a.wait().ok(t)
	require.Zero(t, pgtest.Scalar[int64](t, ckpt, `SELECT count(*) FROM tenantmover.units WHERE run = 'busy' AND state <> 'done'`))
	if command == "backfill" {
		requireBackfilled(t, srcPool)
		return
	}
	tm.run(t, "verify", "--source", src, "--target", dst, "--tenant-table", "store", "--checksum", "--no-progress").ok(t)
}

// requireBackfilled checks every nested row carries its parent's tenant.
func requireBackfilled(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM purchase p JOIN product pr ON pr.id = p.product_id
		WHERE p.store_id IS DISTINCT FROM pr.store_id`), "purchase rows without their product's store")
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM refund r JOIN purchase p ON p.id = r.purchase_id
		WHERE r.store_id IS DISTINCT FROM p.store_id`), "refund rows without their purchase's store")
}

// ---- 11. Ctrl-C in the middle of a batch ----

func interruptBackfill(t *testing.T, tm tmBinary) {
	src, pool := sampleMonolith(t, 30000)
	before := fingerprint(t, src)
	args := []string{"backfill", "--source", src, "--tenant-table", "store", "--no-progress",
		"--workers", "2", "--batch-time", "5ms", "--min-batch-rows", "10", "--max-batch-rows", "100"}
	p := tm.start(t, nil, args...)
	await(t, p, pool, "committed purchase batches", `SELECT coalesce(sum(rows), 0) > 0 FROM tenantmover.units WHERE table_name = 'public.purchase'`)
	p.signal(t, syscall.SIGINT)
	r := p.wait()
	r.expect(t, []int{exitInterrupted}, "interrupted", "rerun the same command to resume")

	// No half batch: the rows filled are exactly the rows the committed
	// checkpoints walked (no orphans here), each with the right value.
	walked := pgtest.Scalar[int64](t, pool, `SELECT coalesce(sum(rows), 0) FROM tenantmover.units WHERE table_name = 'public.purchase'`)
	filled := pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM purchase WHERE store_id IS NOT NULL`)
	require.Equal(t, walked, filled, "filled purchase rows = rows of committed batches")
	require.Less(t, filled, int64(30000), "interrupted halfway")
	require.Zero(t, pgtest.Scalar[int64](t, pool, `SELECT count(*) FROM purchase p JOIN product pr ON pr.id = p.product_id
		WHERE p.store_id IS NOT NULL AND p.store_id <> pr.store_id`))
	st := tm.run(t, "status", "--source", src)
	st.expect(t, []int{exitOK}, `run "backfill"`, "status=interrupted", "public.purchase")

	rerun := tm.run(t, args...)
	rerun.ok(t)
	require.Contains(t, rerun.stderr, `run "backfill" resumed`)
	requireBackfilled(t, pool)
	// Nothing else changed: the other tables whole, these two but for the
	// new column (and its index).
	after := fingerprint(t, src, "public.purchase.store_id", "public.refund.store_id")
	requireSameFP(t, before.without(`public.purchase`, `public.refund`), after.without(`public.purchase`, `public.refund`), "tables backfill does not fill")
	for _, tbl := range []string{"public.purchase", "public.refund"} {
		require.Equal(t, before[tbl].Content, after[tbl].Content, "%s content besides store_id", tbl)
	}
}

// ---- 12. a source table dropped mid-run ----

func droppedMidRun(t *testing.T, tm tmBinary) {
	src, dst, srcPool, dstPool := migrated(t, tm, 30000)
	srcBefore := fingerprint(t, src)
	args := []string{"copy", "--source", src, "--target", dst, "--tenant-table", "store", "--no-progress",
		"--workers", "1", "--chunk-rows", "300"}
	p := tm.start(t, nil, args...)
	await(t, p, dstPool, "a committed purchase chunk",
		`SELECT EXISTS (SELECT FROM tenantmover.units WHERE table_name = 'public.purchase' AND state = 'done')`)
	// DROP TABLE refund also locks purchase (refund's foreign key points
	// at it), which the running copy reads chunk by chunk: the DROP queues
	// behind the chunk in flight and goes through between two chunks, while
	// the copy keeps running. refund's own copy waits for purchase to finish
	// (the target has the foreign key), so it has not started yet.
	pgtest.Exec(t, srcPool, `SET lock_timeout = '20s'; DROP TABLE refund`)
	require.Zero(t, pgtest.Scalar[int64](t, dstPool, `SELECT count(*) FROM tenantmover.units WHERE table_name = 'public.refund' AND state = 'done'`),
		"refund must still be pending when it is dropped")
	r := p.wait()
	r.expect(t, exit1, "refund")
	require.Contains(t, r.lastLine(), "refund", "the error line names the table\n%s", r)

	// The target holds whole committed chunks only: each table's rows are
	// the rows its done chunks recorded.
	for _, table := range []string{"auth_user", "company", "campaign", "company_users", "store", "product", "purchase", "refund"} {
		inDone := pgtest.Scalar[int64](t, dstPool, `SELECT coalesce(sum(rows), 0) FROM tenantmover.units
			WHERE run = 'copy' AND table_name = $1 AND state = 'done'`, "public."+table)
		n := pgtest.Scalar[int64](t, dstPool, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize())
		require.Equal(t, inDone, n, "%s: target rows = rows of its done chunks", table)
	}
	require.Zero(t, pgtest.Scalar[int64](t, dstPool, `SELECT count(*) FROM refund`))
	requireSameFP(t, srcBefore.without("public.refund", "public.refund_id_seq"), fingerprint(t, src), "the source lost refund only")
}

// ---- 13. names and tenant values with quotes, semicolons, newlines ----

// oddSchema names every object the hard way, and its tenant keys are text
// values that break naive quoting. Table y is the bait of the SQL in one
// of the values.
const oddSchema = `
CREATE SCHEMA "we;ird";
CREATE TABLE "we;ird"."Tenant ""T""" (k text PRIMARY KEY, name text NOT NULL);
CREATE TABLE "we;ird"."child; x" (id bigint PRIMARY KEY, "Tenant Key" text NOT NULL REFERENCES "we;ird"."Tenant ""T""",
	"v a l" text, "amount;" numeric(10,2));
CREATE TABLE "we;ird"."grand child" (id bigint PRIMARY KEY, "parent id" bigint NOT NULL REFERENCES "we;ird"."child; x" (id),
	"note'" text);
CREATE TABLE public."look up" (id int PRIMARY KEY, "la bel" text);
CREATE TABLE public.y (id int PRIMARY KEY);
INSERT INTO public.y VALUES (1);
INSERT INTO public."look up" VALUES (1, 'x;y'), (2, E'two\nlines');
INSERT INTO "we;ird"."Tenant ""T""" SELECT v, 'tenant ' || v FROM unnest($1::text[]) v;
INSERT INTO "we;ird"."child; x" SELECT g, ($1::text[])[1 + g % cardinality($1::text[])], E'v\t' || g || ';', g / 7.0
	FROM generate_series(1, 60) g;
INSERT INTO "we;ird"."grand child" SELECT g, 1 + g % 60, E'n;\n''' || g FROM generate_series(1, 240) g;
`

var oddTenants = []string{"a'b", "x; DROP TABLE y; --", "line1\nline2", "a,b", `"dq"`, "plain"}

func oddNames(t *testing.T, tm tmBinary, citus bool) {
	srcURL := env.NewDB(t)
	src, srcPool := withSecret(srcURL), pgtest.Pool(t, srcURL)
	for _, stmt := range strings.SplitAfter(oddSchema, ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		var args []any
		if strings.Contains(stmt, "$1") {
			args = append(args, oddTenants)
		}
		pgtest.Exec(t, srcPool, stmt, args...)
	}
	var dst string
	var dstPool *pgxpool.Pool
	if citus {
		cdb := env.NewCitusDB(t)
		dst, dstPool = withSecret(cdb.Coordinator), pgtest.Pool(t, cdb.Coordinator)
	} else {
		dstURL := env.NewDB(t)
		dst, dstPool = withSecret(dstURL), pgtest.Pool(t, dstURL)
	}
	tenant := []string{"--tenant-table", `"we;ird"."Tenant ""T"""`, "--no-progress"}
	both := append([]string{"--source", src, "--target", dst}, tenant...)

	r := tm.run(t, append([]string{"plan", "--source", src}, tenant...)...)
	r.ok(t)
	require.Contains(t, r.stderr, `"we;ird"."grand child" -> "we;ird"."child; x" -> "we;ird"."Tenant ""T"""`)
	tm.run(t, append([]string{"backfill", "--source", src}, tenant...)...).ok(t)
	require.Zero(t, pgtest.Scalar[int64](t, srcPool, `SELECT count(*) FROM "we;ird"."grand child" g JOIN "we;ird"."child; x" c ON c.id = g."parent id"
		WHERE g."Tenant Key" IS DISTINCT FROM c."Tenant Key"`))
	tm.run(t, append([]string{"plan", "--source", src, "--apply", "--target", dst}, tenant...)...).ok(t)
	tm.run(t, append([]string{"copy"}, both...)...).ok(t)
	tm.run(t, append([]string{"verify", "--checksum"}, both...)...).ok(t)
	requireSameData(t, src, dst)

	// Damage three tenants on the target; verify names one of them, copy
	// --tenants --replace repairs them (the comma one through a file).
	pgtest.Exec(t, dstPool, `DELETE FROM "we;ird"."grand child" WHERE "Tenant Key" = ANY ($1)`, []string{"a'b", "line1\nline2", "a,b"})
	r = tm.run(t, append([]string{"verify", "--tenants", "a'b", "--tenants", "line1\nline2"}, both...)...)
	r.expect(t, exit2, `"we;ird"."grand child"`, "a'b", "line1", "line2")
	requireEscaped(t, r)
	file := filepath.Join(t.TempDir(), "tenants")
	require.NoError(t, os.WriteFile(file, []byte("# tenants with commas need the file\na,b\n"), 0o644))
	tm.run(t, append([]string{"copy", "--run", "repair", "--replace", "--tenants", "a'b", "--tenants", "line1\nline2", "--tenants-file", file}, both...)...).ok(t)
	tm.run(t, append([]string{"verify", "--checksum", "--tenants", "a'b", "--tenants", "line1\nline2", "--tenants", "x; DROP TABLE y; --", "--tenants-file", file}, both...)...).ok(t)
	tm.run(t, append([]string{"verify", "--checksum"}, both...)...).ok(t)
	requireSameData(t, src, dst)
	if citus {
		r = tm.run(t, "rebalance", "status", "--target", dst, "--no-progress")
		r.ok(t)
		require.Contains(t, r.stderr, `"we;ird"."Tenant ""T"""`)
		require.Contains(t, r.stderr, "x; DROP TABLE y; --")
		requireEscaped(t, r)
	}
	require.EqualValues(t, 1, pgtest.Scalar[int64](t, srcPool, `SELECT count(*) FROM public.y`), "the bait table is still there")
}

// requireEscaped fails when a tenant value's newline reaches the output
// raw: it breaks the table it is printed in, and the user cannot tell the
// value from two rows. It lets the test go on, to check the data too.
func requireEscaped(t *testing.T, r result) {
	t.Helper()
	assert.NotContains(t, r.stderr, "line1\nline2", "a newline in a tenant value must be shown escaped\n%s", r)
}

// requireSameData compares every table's rows on both sides (columns by
// name, so the tenant column's position does not matter).
func requireSameData(t *testing.T, src, dst string) {
	t.Helper()
	require.Equal(t, fingerprint(t, src).contents(), fingerprint(t, dst).contents(), "source and target data")
}
