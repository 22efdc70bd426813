// Package verifytest builds what verify's tests compare: the sample
// monolith on a plain PostgreSQL source, and the same rows on a Citus
// target distributed by store (product, purchase and refund carry store_id
// and are colocated with store; the company group are reference tables).
//
// The target schema is written by hand here rather than produced by the
// plan package, so verify's tests do not depend on the DDL generator they
// would be checking the output of.
package verifytest

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/sample"
)

// Params is a small monolith: a dozen tenants, every table populated.
func Params() sample.Params {
	return sample.Params{Stores: 12, Products: 120, Purchases: 1200, Refunds: 150, Companies: 4, Users: 30,
		CampaignsPerCompany: 3, MembershipsPerCompany: 5, Skew: 1, Seed: 0.42}
}

// CitusSchema is the distributed target schema. replication is
// citus.shard_replication_factor (1, or 2 to give every shard two
// placements).
func CitusSchema(replication int) string {
	return sample.TablesSQL() + fmt.Sprintf(`
ALTER TABLE purchase ADD COLUMN store_id bigint NOT NULL;
ALTER TABLE refund ADD COLUMN store_id bigint NOT NULL;
ALTER TABLE product DROP CONSTRAINT product_pkey, ADD PRIMARY KEY (store_id, id);
ALTER TABLE purchase DROP CONSTRAINT purchase_pkey, ADD PRIMARY KEY (store_id, id);
ALTER TABLE refund DROP CONSTRAINT refund_pkey, ADD PRIMARY KEY (store_id, id);
SET citus.shard_replication_factor = %d;
SELECT create_distributed_table('store', 'id');
SELECT create_distributed_table('product', 'store_id', colocate_with => 'store');
SELECT create_distributed_table('purchase', 'store_id', colocate_with => 'store');
SELECT create_distributed_table('refund', 'store_id', colocate_with => 'store');
SELECT create_reference_table('auth_user');
SELECT create_reference_table('company');
SELECT create_reference_table('campaign');
SELECT create_reference_table('company_users');
`, replication)
}

// copies are the queries reading each table's rows on the source in the
// target's column order (nested tables get store_id through their parents).
var copies = map[string]string{
	"store":         `SELECT * FROM store`,
	"product":       `SELECT * FROM product`,
	"purchase":      `SELECT p.*, pr.store_id FROM purchase p JOIN product pr ON pr.id = p.product_id`,
	"refund":        `SELECT r.*, pr.store_id FROM refund r JOIN purchase p ON p.id = r.purchase_id JOIN product pr ON pr.id = p.product_id`,
	"auth_user":     `SELECT * FROM auth_user`,
	"company":       `SELECT * FROM company`,
	"campaign":      `SELECT * FROM campaign`,
	"company_users": `SELECT * FROM company_users`,
}

// LoadCitus generates the monolith on the source, creates the distributed
// schema on the target coordinator and copies every row over with COPY.
func LoadCitus(t testing.TB, srcURL, coordinatorURL string, replication int) {
	t.Helper()
	Source(t, srcURL)
	CitusTarget(t, coordinatorURL, replication)
	ctx := context.Background()
	src, err := pgx.Connect(ctx, srcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	dst, err := pgx.Connect(ctx, coordinatorURL)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close(ctx)
	for _, table := range sample.Tables() {
		if err := copyTable(ctx, src, dst, table); err != nil {
			t.Fatalf("copying %s: %v", table, err)
		}
	}
}

// Source generates the monolith (Params) in the database at url.
func Source(t testing.TB, url string) {
	t.Helper()
	if err := generate(context.Background(), url); err != nil {
		t.Fatal(err)
	}
}

// CitusTarget creates the distributed schema, empty, on the coordinator.
func CitusTarget(t testing.TB, coordinatorURL string, replication int) {
	t.Helper()
	execAll(t, coordinatorURL, CitusSchema(replication))
}

// Backfill adds and fills store_id on purchase and refund, as the backfill
// phase leaves the source.
func Backfill(t testing.TB, url string) {
	t.Helper()
	execAll(t, url, `ALTER TABLE purchase ADD COLUMN store_id bigint;
		UPDATE purchase p SET store_id = pr.store_id FROM product pr WHERE pr.id = p.product_id;
		ALTER TABLE refund ADD COLUMN store_id bigint;
		UPDATE refund r SET store_id = p.store_id FROM purchase p WHERE p.id = r.purchase_id`)
}

func execAll(t testing.TB, url, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
}

func generate(ctx context.Context, url string) error {
	pool, err := db.Open(ctx, url, db.Options{})
	if err != nil {
		return err
	}
	defer pool.Close()
	return sample.Generate(ctx, pool, Params())
}

// copyTable pipes COPY TO STDOUT on the source into COPY FROM STDIN on the
// target: text format, so every value arrives exactly as the source has it.
func copyTable(ctx context.Context, src, dst *pgx.Conn, table string) error {
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := src.PgConn().CopyTo(ctx, w, "COPY ("+copies[table]+") TO STDOUT")
		w.CloseWithError(err)
		done <- err
	}()
	_, err := dst.PgConn().CopyFrom(ctx, r, "COPY "+db.Ident(table)+" FROM STDIN")
	r.CloseWithError(err)
	if serr := <-done; serr != nil && err == nil {
		err = serr
	}
	return err
}
