package pgcopy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	osexec "os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/tenantmover/tenantmover/checkpoints"
	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/sample"
)

// copyParts runs the n parts of run "copy" at once, one goroutine each, and
// returns their reports by part (index K-1) and the notes they emitted.
func copyParts(t *testing.T, srcURL, dstURL string, p *plan.Plan, n int, cfg pgcopy.Config) ([]*pgcopy.Report, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var notes []string
	progress := func(ev phase.Event) {
		if ev.Kind == phase.Note {
			mu.Lock()
			notes = append(notes, ev.Message)
			mu.Unlock()
		}
	}
	reps := make([]*pgcopy.Report, n)
	var g errgroup.Group
	for k := 1; k <= n; k++ {
		g.Go(func() error {
			c := cfg
			c.Part = checkpoints.Part{K: k, N: n}
			rep, err := copyRun(ctx, srcURL, dstURL, p, c, progress)
			reps[k-1] = rep
			return err
		})
	}
	require.NoError(t, g.Wait())
	return reps, notes
}

// requirePartsCoverRun checks that the parts' reports copied every unit of
// the run once, each part exactly the units its assignment gives it, and
// that the checkpoints count every source row once.
func requirePartsCoverRun(t *testing.T, src, dst *pgxpool.Pool, reps []*pgcopy.Report) {
	t.Helper()
	n := len(reps)
	type key struct {
		table string
		part  int
	}
	owned := map[key]int{}
	rows, err := dst.Query(context.Background(), `SELECT table_name, unit FROM tenantmover.units WHERE run = 'copy' AND phase = 'copy'`)
	require.NoError(t, err)
	total := 0
	for rows.Next() {
		var table string
		var id int
		require.NoError(t, rows.Scan(&table, &id))
		owned[key{table, checkpoints.PartOf(table, id, n)}]++
		total++
	}
	require.NoError(t, rows.Err())
	copied, completed := 0, 0
	for k, rep := range reps {
		require.Equal(t, checkpoints.Part{K: k + 1, N: n}.String(), rep.Part)
		for _, tr := range rep.Tables {
			require.Equal(t, owned[key{tr.Table, k + 1}], tr.Chunks, "part %d, %s: the chunks it owns", k+1, tr.Table)
			require.Equal(t, tr.Chunks, tr.ChunksCopied+tr.ChunksSkipped, "part %d, %s", k+1, tr.Table)
			copied += tr.ChunksCopied
		}
		if rep.CompletedRun {
			completed++
			require.NotEmpty(t, rep.Sequences, "the part completing the run sets the sequences")
		}
	}
	require.Equal(t, total, copied, "the parts copied every unit of the run once between them")
	for _, rep := range reps {
		t.Logf("part %s: %d chunks, %d rows; completed the run: %v", rep.Part, rep.ChunksCopied, rep.Rows, rep.CompletedRun)
	}
	require.Equal(t, 1, completed, "exactly one part completes the run")
	require.Zero(t, pgtest.Scalar[int64](t, dst, "SELECT count(*) FROM tenantmover.units WHERE state <> 'done'"))
	for _, table := range []string{"store", "product", "purchase", "refund"} {
		require.Equal(t,
			pgtest.Scalar[int64](t, src, "SELECT count(*) FROM "+table),
			pgtest.Scalar[int64](t, dst, "SELECT sum(rows)::bigint FROM tenantmover.units WHERE table_name = $1", "public."+table), table)
	}
}

// Three parts of one copy, run together into a plain target with its
// foreign keys: every table arrives equal to the source (counts and a hash
// of every row), the parts' chunks are disjoint and cover the run, one part
// completes it, and status lists the three parts done with no lock held.
func TestThreePartsCopyOneRun(t *testing.T) {
	t.Parallel()
	srcURL, dstURL, src, dst, p := monolithPair(t, sample.Small())
	reps, notes := copyParts(t, srcURL, dstURL, p, 3, pgcopy.Config{ChunkRows: 700, Workers: 2})
	t.Logf("notes: %s", strings.Join(notes, "\n"))
	requireSame(t, src, dst, p)
	requirePartsCoverRun(t, src, dst, reps)
	for _, rep := range reps {
		require.Positive(t, rep.ChunksCopied, "part %s copied nothing", rep.Part)
	}

	runs, err := checkpoints.Attach(dst).Status(context.Background(), "copy")
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, checkpoints.Done, runs[0].Status)
	require.Len(t, runs[0].Parts, 3)
	for i, ps := range runs[0].Parts {
		require.Equal(t, i+1, ps.Part)
		require.Equal(t, checkpoints.Done, ps.State)
		require.Equal(t, ps.Units, ps.UnitsDone)
		require.Positive(t, ps.Units)
		require.False(t, ps.Locked)
	}

	pgtest.Exec(t, dst, "INSERT INTO store (name) VALUES ('after the copy')")
	require.EqualValues(t, 51, pgtest.Scalar[int64](t, dst, "SELECT max(id) FROM store"), "sequence set past the copied ids")

	// A part with other plan options, or another number of parts, is
	// refused, naming what must agree.
	ctx := context.Background()
	other, err := plan.Build(ctx, src, plan.Config{TenantTable: "store", Excludes: []string{"refund"}})
	require.NoError(t, err)
	_, err = copyRun(ctx, srcURL, dstURL, other, pgcopy.Config{Part: checkpoints.Part{K: 1, N: 3}}, nil)
	var changed *checkpoints.ErrOptionsChanged
	require.ErrorAs(t, err, &changed)
	require.ErrorContains(t, err, "every part of a run is started with the same tenant flags")
	_, err = copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{Part: checkpoints.Part{K: 1, N: 2}}, nil)
	require.ErrorAs(t, err, &changed)
	// A rerun of a part is a resume with nothing left: it copies nothing.
	again, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{Part: checkpoints.Part{K: 2, N: 3}}, nil)
	require.NoError(t, err)
	require.Zero(t, again.ChunksCopied)
	require.Empty(t, again.PartsLeft)
}

// While part 1/2 copies, a second process of part 1/2 is refused (the
// part's lock names the part) and status shows part 1 held and part 2
// pending. Part 1 alone then waits, saying so, for the parent tables'
// chunks that are part 2's; once part 2 runs both end, one completing the
// run, and the target equals the source.
func TestSamePartTwiceRefused(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srcURL, dstURL, src, dst, p := monolithPair(t, tinyMonolith())
	var once sync.Once
	var second, statusErr error
	var during []checkpoints.RunStatus
	hooked := make(chan struct{})
	cfg := pgcopy.WithMidChunkHook(pgcopy.Config{ChunkRows: 400, Workers: 1, Part: checkpoints.Part{K: 1, N: 2}}, func(string, int, uint32) {
		once.Do(func() {
			_, second = copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{Part: checkpoints.Part{K: 1, N: 2}}, nil)
			during, statusErr = checkpoints.Attach(dst).Status(ctx, "copy")
			close(hooked)
		})
	})
	waiting := make(chan string, 1)
	progress := func(ev phase.Event) {
		if ev.Kind == phase.Note && strings.Contains(ev.Message, "which other parts are still copying") {
			select {
			case waiting <- ev.Message:
			default:
			}
		}
	}
	reps := make([]*pgcopy.Report, 2)
	var g errgroup.Group
	g.Go(func() (err error) {
		reps[0], err = copyRun(ctx, srcURL, dstURL, p, cfg, progress)
		return err
	})
	select {
	case <-hooked:
	case <-ctx.Done():
		t.Fatal("part 1 copied no chunk")
	}
	select {
	case msg := <-waiting:
		t.Logf("part 1 alone: %s", msg)
		require.Contains(t, msg, "part 1/2: ")
	case <-ctx.Done():
		t.Fatal("part 1 never said it waits for part 2")
	}
	var locked *checkpoints.ErrRunLocked
	require.ErrorAs(t, second, &locked)
	require.ErrorContains(t, second, `part 1/2 of run "copy" is being worked on by another tenantmover process`)
	require.NoError(t, statusErr)
	require.Len(t, during, 1)
	require.Len(t, during[0].Parts, 2)
	require.True(t, during[0].Parts[0].Locked)
	require.Equal(t, checkpoints.Running, during[0].Parts[0].State)
	require.False(t, during[0].Parts[1].Locked)
	require.Equal(t, checkpoints.Pending, during[0].Parts[1].State)

	g.Go(func() (err error) {
		reps[1], err = copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{ChunkRows: 400, Workers: 1, Part: checkpoints.Part{K: 2, N: 2}}, nil)
		return err
	})
	require.NoError(t, g.Wait())
	requireSame(t, src, dst, p)
	requirePartsCoverRun(t, src, dst, reps)
}

// The test: three parts in three processes copy one run into a
// target whose foreign keys come after the copy. Part 2 is killed with
// SIGKILL once it committed a chunk; parts 1 and 3 finish, exit 0 and say
// part 2 still has chunks; status shows part 2 not done and not held; part
// 2 rerun alone completes the run (sequences, foreign keys), and verify
// --checksum finds the target equal to the source.
func TestPartsKillOneThenRerunIt(t *testing.T) {
	t.Parallel()
	bin := buildTool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srcURL, src := monolithSource(t, sample.Small())
	p := storePlan(t, src)
	dstURL := env.NewDB(t)
	dst := pgtest.Pool(t, dstURL)
	require.NoError(t, ddl.Apply(ctx, dst, p, ddl.WithoutForeignKeys()))
	args := func(part string) []string {
		return []string{"copy", "--source", srcURL, "--target", dstURL, "--tenant-table", "store",
			"--chunk-rows", "200", "--workers", "1", "--no-progress", "--part", part}
	}
	type proc struct {
		cmd    *osexec.Cmd
		stderr *bytes.Buffer
	}
	procs := make([]proc, 3)
	for k := 1; k <= 3; k++ {
		cmd := osexec.Command(bin, args(fmt.Sprintf("%d/3", k))...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		procs[k-1] = proc{cmd, &stderr}
	}
	// Kill part 2 once one of its chunks committed.
	victim := procs[1]
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		rows, err := dst.Query(ctx, `SELECT table_name, unit FROM tenantmover.units WHERE state = 'done'`)
		if err == nil {
			for rows.Next() {
				var table string
				var id int
				require.NoError(t, rows.Scan(&table, &id))
				done = done || checkpoints.PartOf(table, id, 3) == 2
			}
			rows.Close()
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("part 2 committed no chunk\n%s", victim.stderr)
		case <-tick.C:
		}
	}
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	err := victim.cmd.Wait()
	var exit *osexec.ExitError
	require.ErrorAs(t, err, &exit, "part 2 must die by the kill, not finish\n%s", victim.stderr)
	require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())

	for _, k := range []int{0, 2} {
		require.NoError(t, procs[k].cmd.Wait(), "part %d/3\n%s", k+1, procs[k].stderr)
		out := procs[k].stderr.String()
		require.Contains(t, out, fmt.Sprintf("part %d/3 is done; the other parts are still copying:", k+1), out)
		require.Contains(t, out, "  part 2/3: ", out)
	}
	left := pgtest.Scalar[int64](t, dst, `SELECT count(*) FROM tenantmover.units WHERE state <> 'done'`)
	require.Positive(t, left, "part 2 was killed with chunks left")
	require.Zero(t, pgtest.Scalar[int64](t, dst, `SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace`),
		"no foreign key before the run is complete")

	out, err := osexec.Command(bin, "status", "--target", dstURL, "--format", "json").Output()
	require.NoError(t, err)
	var status struct {
		Target []checkpoints.RunStatus `json:"target"`
	}
	require.NoError(t, json.Unmarshal(out, &status))
	require.Len(t, status.Target, 1)
	parts := status.Target[0].Parts
	require.Len(t, parts, 3)
	for i, ps := range parts {
		require.False(t, ps.Locked, "part %d: no process holds it", i+1)
		if i == 1 {
			require.Equal(t, checkpoints.Running, ps.State, "killed: its last record is running")
			require.Less(t, ps.UnitsDone, ps.Units)
			require.Positive(t, ps.UnitsDone)
		} else {
			require.Equal(t, checkpoints.Done, ps.State)
			require.Equal(t, ps.Units, ps.UnitsDone)
		}
	}
	text, err := osexec.Command(bin, "status", "--target", dstURL).CombinedOutput()
	require.NoError(t, err, "%s", text)
	require.Regexp(t, `copy 2/3\s+running\s+\d+/\d+\s+no`, string(text))

	var rerun bytes.Buffer
	cmd := osexec.Command(bin, args("2/3")...)
	cmd.Stderr = &rerun
	require.NoError(t, cmd.Run(), "%s", rerun.String())
	t.Logf("parts 1 and 3 left %d chunks to part 2; its rerun:\n%s\nstatus before it:\n%s", left, rerun.String(), text)
	require.Contains(t, rerun.String(), "part 2/3 completed the run: every part is done", rerun.String())
	require.Contains(t, rerun.String(), "after the data:", rerun.String())
	require.Positive(t, pgtest.Scalar[int64](t, dst, `SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace`),
		"the part completing the run added the foreign keys")

	verifyOut, err := osexec.Command(bin, "verify", "--source", srcURL, "--target", dstURL, "--tenant-table", "store", "--checksum", "--no-progress").CombinedOutput()
	require.NoError(t, err, "verify --checksum: %s", verifyOut)
	requireSame(t, src, dst, p)
	pgtest.Exec(t, dst, "INSERT INTO store (name) VALUES ('after the copy')")
	require.EqualValues(t, 51, pgtest.Scalar[int64](t, dst, "SELECT max(id) FROM store"), "sequence set past the copied ids")
	require.Equal(t, checkpoints.Done, pgtest.Scalar[string](t, dst, "SELECT status FROM tenantmover.runs WHERE name = 'copy'"))
}
