package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/follow"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/migrate"
)

// demoApp is the demo's application: it writes to the source in small
// transactions (a purchase inserted, a product's price changed) from
// before the migration until the source refuses writes at the cutover.
type demoApp struct {
	pool    *pgxpool.Pool
	mu      sync.Mutex
	acked   []int64 // purchases whose insert the source committed
	writes  int
	refusal error
	stop    chan struct{}
	done    chan struct{}
}

func startDemoApp(ctx context.Context, url string) (*demoApp, error) {
	pool, err := db.Open(ctx, url, db.Options{MaxConns: 2})
	if err != nil {
		return nil, err
	}
	a := &demoApp{pool: pool, stop: make(chan struct{}), done: make(chan struct{})}
	go a.run(ctx)
	return a, nil
}

func (a *demoApp) run(ctx context.Context) {
	defer close(a.done)
	for ctx.Err() == nil {
		select {
		case <-a.stop:
			return
		default:
		}
		var id int64
		err := a.pool.QueryRow(ctx, `INSERT INTO purchase (product_id, ordered_at, amount)
			VALUES ((SELECT floor(random() * (SELECT max(id) FROM product))::bigint + 1), now(), 19.99) RETURNING id`).Scan(&id)
		if err == nil {
			_, err = a.pool.Exec(ctx, `UPDATE product SET price = price + 0.01 WHERE id = (SELECT floor(random() * (SELECT max(id) FROM product))::bigint + 1)`)
		}
		a.mu.Lock()
		if err != nil {
			if strings.Contains(err.Error(), "cut over") {
				a.refusal = err
				a.mu.Unlock()
				return
			}
		} else {
			a.acked = append(a.acked, id)
			a.writes += 2
		}
		a.mu.Unlock()
		if err != nil {
			time.Sleep(10 * time.Millisecond) // an error other than the refusal: back off a little
		}
	}
}

// end stops the application and returns what the source acknowledged.
func (a *demoApp) end() (acked []int64, writes int, refusal error) {
	close(a.stop)
	<-a.done
	a.pool.Close()
	return a.acked, a.writes, a.refusal
}

// migrateFollowing runs migrate --follow with the application writing,
// cuts over once the follower caught up, and checks every acknowledged
// write on the target.
func (d *demo) migrateFollowing(cfg migrate.Config) error {
	ctx := d.c.Context
	app, err := startDemoApp(ctx, d.srcURL)
	if err != nil {
		return err
	}
	d.say("the application writes to the source from now on (purchases inserted, prices changed), until the cutover")
	d.say("running: tenantmover migrate --follow --source %s --target %s --tenant-table store", d.srcURL, d.dstURL)
	cfg.Follow = &follow.Config{}
	migrated := make(chan error, 1)
	go func() { migrated <- runMigration(d.c, cfg) }()
	if err := d.awaitFollowing(ctx, migrated); err != nil {
		app.end()
		return err
	}
	d.say("running: tenantmover cutover --source %s --target %s --tenant-table store", d.srcURL, d.dstURL)
	rep, err := d.cutover(ctx)
	if err != nil {
		app.end()
		<-migrated
		return err
	}
	printCutover(stderrOf(d.c), rep)
	if err := <-migrated; err != nil {
		app.end()
		return err
	}
	return d.checkAcknowledged(ctx, app)
}

// awaitFollowing waits until the follower streams and applied some of the
// application's changes.
func (d *demo) awaitFollowing(ctx context.Context, migrated <-chan error) error {
	pool, err := db.Open(ctx, d.dstURL, db.ForProfile(db.ProfileCatalog))
	if err != nil {
		return err
	}
	defer pool.Close()
	store := checkpoints.Attach(pool)
	for {
		select {
		case err := <-migrated:
			if err == nil {
				err = errors.New("migrate ended before following")
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if st, err := store.Stream(ctx, migrate.DefaultRun); err == nil && st.Counts.Total() >= 500 {
			return nil
		}
	}
}

func (d *demo) cutover(ctx context.Context) (*follow.CutoverReport, error) {
	pool, err := db.Open(ctx, d.srcURL, db.ForProfile(db.ProfileCatalog))
	if err != nil {
		return nil, err
	}
	p, err := plan.Build(ctx, pool, plan.Config{TenantTable: "store"})
	pool.Close()
	if err != nil {
		return nil, err
	}
	progress, closeProgress := newProgress(d.c)
	defer closeProgress()
	return follow.Cutover(ctx, follow.CutoverConfig{Source: d.srcURL, Target: d.dstURL, Plan: p, Stream: migrate.DefaultRun, Progress: progress,
		Finish: finishTarget(p)})
}

// checkAcknowledged stops the application and looks up, on the target,
// every purchase whose insert the source acknowledged.
func (d *demo) checkAcknowledged(ctx context.Context, app *demoApp) error {
	acked, writes, refusal := app.end()
	pool, err := db.Open(ctx, d.dstURL, db.ForProfile(db.ProfileCatalog))
	if err != nil {
		return err
	}
	defer pool.Close()
	var found int
	if err := pool.QueryRow(ctx, `SELECT count(*)::int FROM purchase WHERE id = ANY($1)`, acked).Scan(&found); err != nil {
		return err
	}
	if found != len(acked) {
		return fmt.Errorf("%d of the %d purchases the source acknowledged are missing on the target", len(acked)-found, len(acked))
	}
	d.say("the application made %d writes; all %d purchases the source acknowledged are on the target", writes, found)
	if refusal != nil {
		d.say("after the cutover the source refused the application's next write: %s", firstLine(refusal.Error()))
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
