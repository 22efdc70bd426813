package follow_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/follow"
	"github.com/tenantmover/tenantmover/internal/pgtest"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/migrate"
	"github.com/tenantmover/tenantmover/verify"
)

// followed is a migrate --follow of a source into a Citus target, running
// in the background until the test stops it.
type followed struct {
	srcURL, dstURL string
	src, dst       *pgxpool.Pool
	pcfg           plan.Config
	ended          chan error
	cancel         context.CancelFunc
	mu             sync.Mutex
	notes          []string // the notes the migration emitted
}

func (f *followed) progress(ev phase.Event) {
	if ev.Kind == phase.Note {
		f.mu.Lock()
		f.notes = append(f.notes, ev.Message)
		f.mu.Unlock()
	}
}

// noted says whether a note containing s was emitted.
func (f *followed) noted(s string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.notes {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// classSchema is the kind of schema real applications have: a uuid tenant
// key and a text key, mixed-case quoted names, a chain two hops deep, a
// generated column, a large (TOASTed) column, a table without a primary
// key, and a reference table.
const classSchema = `
CREATE TABLE "Store" (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE product (
    sku        text PRIMARY KEY,
    "Store_id" uuid NOT NULL REFERENCES "Store" (id),
    name       text,
    price      numeric(10,2),
    qty        int,
    total      numeric GENERATED ALWAYS AS (price * qty) STORED,
    notes      text
);
CREATE TABLE line (id bigserial PRIMARY KEY, sku text NOT NULL REFERENCES product (sku), n int);
CREATE TABLE country (code text PRIMARY KEY, name text UNIQUE);
CREATE TABLE event_log ("Store_id" uuid NOT NULL REFERENCES "Store" (id), msg text);
ALTER TABLE event_log REPLICA IDENTITY FULL;
INSERT INTO "Store" SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, 'store ' || i FROM generate_series(1, 4) i;
INSERT INTO product (sku, "Store_id", name, price, qty) SELECT 'sku-' || i, ('00000000-0000-0000-0000-' || lpad((1 + i % 4)::text, 12, '0'))::uuid, 'p' || i, i, 2 FROM generate_series(1, 200) i;
INSERT INTO line (sku, n) SELECT 'sku-' || (1 + i % 200), i FROM generate_series(1, 1000) i;
INSERT INTO country VALUES ('fr', 'France'), ('de', 'Germany');
INSERT INTO event_log SELECT ('00000000-0000-0000-0000-' || lpad((1 + i % 4)::text, 12, '0'))::uuid, 'same' FROM generate_series(1, 20) i;
`

// store is the uuid of sample store i (1..4).
func store(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", i) }

// startFollowing creates the source from schemaSQL and runs migrate
// --follow until it follows.
func startFollowing(t *testing.T, schemaSQL string, pcfg plan.Config, fcfg follow.Config) *followed {
	t.Helper()
	return startFollowingFrom(t, env.NewDB(t), schemaSQL, pcfg, fcfg)
}

// startFollowingFrom is startFollowing from the empty database at srcURL.
func startFollowingFrom(t *testing.T, srcURL, schemaSQL string, pcfg plan.Config, fcfg follow.Config) *followed {
	t.Helper()
	cdb := env.NewCitusDB(t)
	f := &followed{srcURL: srcURL, dstURL: cdb.Coordinator, src: pgtest.Pool(t, srcURL), dst: pgtest.Pool(t, cdb.Coordinator),
		pcfg: pcfg, ended: make(chan error, 1)}
	pgtest.Exec(t, f.src, schemaSQL)
	f.start(t, fcfg)
	waitFollowing(t, f.dst, migrate.DefaultRun, f.ended)
	return f
}

// start runs migrate --follow in the background.
func (f *followed) start(t *testing.T, fcfg follow.Config) {
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	f.cancel, f.ended = cancel, ended
	go func() {
		_, err := migrate.Run(ctx, migrate.Config{Source: f.srcURL, Target: f.dstURL, Plan: f.pcfg, Follow: &fcfg, Progress: f.progress})
		ended <- err
	}()
	t.Cleanup(func() {
		cancel()
		ended <- <-ended // left for a stop or failure that reads it too
	})
}

// stop interrupts the follower, as Ctrl-C does, and waits until it ended.
func (f *followed) stop(t *testing.T) {
	t.Helper()
	f.cancel()
	require.ErrorIs(t, f.failure(t), context.Canceled)
}

// sync waits until the follower applied every change the source committed
// so far: it writes a fence and waits until the slot confirms it (the
// follower confirms a position once its commit returned).
func (f *followed) sync(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var fence pglogrepl.LSN
	require.NoError(t, f.src.QueryRow(ctx, `SELECT pg_logical_emit_message(false, 'tenantmover.fence', $1)`, migrate.DefaultRun).Scan(&fence))
	st, err := checkpoints.Attach(f.dst).Stream(ctx, migrate.DefaultRun)
	require.NoError(t, err)
	confirmed := make(chan error, 1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { confirmed <- follow.AwaitConfirmed(sctx, f.src, st.Slot, fence) }()
	select {
	case err := <-confirmed:
		require.NoError(t, err)
	case err := <-f.ended:
		f.ended <- err
		t.Fatalf("the follower ended before applying up to %s: %v", fence, err)
	}
}

// failure waits for the follower to end and returns its error.
func (f *followed) failure(t *testing.T) error {
	t.Helper()
	select {
	case err := <-f.ended:
		f.ended <- err
		return err
	case <-time.After(2 * time.Minute):
		t.Fatal("the follower did not stop")
	}
	return nil
}

func (f *followed) plan(t *testing.T) *plan.Plan {
	t.Helper()
	p, err := plan.Build(context.Background(), f.src, f.pcfg)
	require.NoError(t, err)
	return p
}

// requireSame verifies every table of source and target with checksums.
func (f *followed) requireSame(t *testing.T) {
	t.Helper()
	res, err := verify.Run(context.Background(), &phase.Env{Source: f.srcURL, Target: f.dstURL, Plan: f.plan(t)}, verify.Config{Checksum: true})
	require.NoError(t, err)
	require.True(t, res.Match, "%+v", res.Differences)
}
