package pgcopy_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/sample"
)

// events collects progress events (the callback is serialized by Run).
type events struct {
	mu   sync.Mutex
	list []phase.Event
}

func (e *events) add(p phase.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, p)
}

func (e *events) of(kind phase.EventKind) []phase.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []phase.Event
	for _, p := range e.list {
		if p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

// The sample monolith, after backfill, arrives complete in a plain
// PostgreSQL target; a rerun copies nothing; sequences move past the
// copied ids.
func TestCopyMonolithIntoPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL, src, dst, p := monolithPair(t, sample.Small())

	var ev events
	rep, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{ChunkRows: 3000, Workers: 3}, ev.add)
	require.NoError(t, err)
	requireSame(t, src, dst, p)
	require.EqualValues(t, 20_000, tableReport(t, rep, "public.purchase").Rows)
	require.Greater(t, tableReport(t, rep, "public.purchase").ChunksCopied, 5)
	require.Zero(t, rep.ChunksSkipped)
	require.Greater(t, rep.Bytes, int64(1_000_000))
	require.Len(t, ev.of(phase.Finished), 8)

	// A table starts only after the tables it references are complete.
	var order []string
	for _, e := range ev.list {
		if e.Kind == phase.Started || e.Kind == phase.Finished {
			order = append(order, string(e.Kind)+" "+e.Table)
		}
	}
	for child, parents := range map[string][]string{
		"product": {"store"}, "purchase": {"product"}, "refund": {"purchase"},
		"campaign": {"company"}, "company_users": {"company", "auth_user"},
	} {
		for _, parent := range parents {
			require.Less(t, indexOf(order, "finished public."+parent), indexOf(order, "started public."+child), "%s before %s", parent, child)
		}
	}

	// Sequences are past the copied ids: the next insert does not collide.
	pgtest.Exec(t, dst, "INSERT INTO store (name) VALUES ('new')")
	require.EqualValues(t, 51, pgtest.Scalar[int64](t, dst, "SELECT max(id) FROM store"))

	again, err := copyRun(ctx, srcURL, dstURL, p, pgcopy.Config{}, nil)
	require.NoError(t, err)
	require.Zero(t, again.ChunksCopied)
	require.Equal(t, rep.ChunksCopied, again.ChunksSkipped)
	require.Zero(t, again.Rows)
}

func tableReport(t *testing.T, r *pgcopy.Report, name string) pgcopy.TableReport {
	t.Helper()
	for _, tr := range r.Tables {
		if tr.Table == name {
			return tr
		}
	}
	t.Fatalf("no report for %s", name)
	return pgcopy.TableReport{}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
