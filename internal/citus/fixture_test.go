package citus_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/db"
)

// skew describes a skewed tenant population: a few huge stores and many
// small ones, as after a real move.
type skew struct {
	ShardCount   int   // shards per distributed table
	BigStores    []int // purchase rows of each big store (ids 1..len)
	SmallStores  int   // number of small stores after the big ones
	SmallRows    int   // purchase rows of each small store
	ProductRatio int   // purchases per product (default 10)
}

var defaultSkew = skew{ShardCount: 8, BigStores: []int{20000, 8000, 4000}, SmallStores: 40, SmallRows: 20}

// name is a table of the fixture.
func name(t string) db.QualifiedName { return db.QualifiedName{Schema: "public", Name: t} }

// createSkewedStores creates a reference table and the colocated
// store/product/purchase schema distributed by store id, and fills it.
func createSkewedStores(t *testing.T, pool *pgxpool.Pool, s skew) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if s.ProductRatio == 0 {
		s.ProductRatio = 10
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := pool.Exec(ctx, sql, args...)
		require.NoError(t, err, sql)
	}
	exec(`CREATE TABLE country (code text PRIMARY KEY, name text)`)
	exec(`CREATE TABLE store (id bigint PRIMARY KEY, name text NOT NULL, country text REFERENCES country)`)
	exec(`CREATE TABLE product (store_id bigint NOT NULL, id bigint NOT NULL, name text, price numeric(10,2),
		PRIMARY KEY (store_id, id))`)
	exec(`CREATE TABLE purchase (store_id bigint NOT NULL, id bigint NOT NULL, product_id bigint NOT NULL,
		amount numeric(12,2), billing_address text, PRIMARY KEY (store_id, id))`)
	exec(`SELECT create_reference_table('country')`)
	exec(`SELECT create_distributed_table('store', 'id', shard_count => $1)`, s.ShardCount)
	exec(`SELECT create_distributed_table('product', 'store_id', colocate_with => 'store')`)
	exec(`SELECT create_distributed_table('purchase', 'store_id', colocate_with => 'store')`)
	// Foreign keys between distributed tables once both are distributed.
	exec(`ALTER TABLE product ADD FOREIGN KEY (store_id) REFERENCES store`)
	exec(`ALTER TABLE purchase ADD FOREIGN KEY (store_id, product_id) REFERENCES product (store_id, id)`)
	exec(`INSERT INTO country VALUES ('nl', 'Netherlands'), ('fr', 'France')`)

	sizes := append([]int{}, s.BigStores...)
	for i := 0; i < s.SmallStores; i++ {
		sizes = append(sizes, s.SmallRows)
	}
	for i, rows := range sizes {
		id := i + 1
		products := max(rows/s.ProductRatio, 1)
		exec(`INSERT INTO store VALUES ($1::bigint, 'store ' || $1::bigint, 'nl')`, id)
		exec(`INSERT INTO product SELECT $1, p, 'product ' || p, p % 100 FROM generate_series(1, $2::int) p`, id, products)
		exec(`INSERT INTO purchase SELECT $1, n, 1 + n % $2::int, n % 1000, repeat('address ', 8)
			FROM generate_series(1, $3::int) n`, id, products, rows)
	}
}

// openPool opens a pool as the tool does (db.Open: its application name,
// timeouts and keepalives), where pgtest.Pool would use pgx's defaults.
func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := db.Open(context.Background(), url, db.Options{})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func quote(s string) string { return db.Ident(s) }

func itoa(i int) string { return strconv.Itoa(i) }
