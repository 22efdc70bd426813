// Package monolith generates the sample multi-tenant monolith that the tests,
// the benchmarks and the demo migrate: the store/product/purchase/refund
// schema of the Citus Django migration guide (purchase reaches its store only
// through product, refund only through purchase: a three-hop chain) and the
// company/campaign/auth_user/company_users models from the Citus error notes
// (a many-to-many table between a tenant and a shared user table).
//
// Everything is generated server-side with generate_series and
// INSERT ... SELECT, so five million purchases take about a minute rather than
// the hours a row-by-row load would. Tables are normal logged tables; primary
// and unique keys exist while loading, foreign keys and the foreign-key
// indexes are added after (validating a foreign key once is far cheaper than
// checking it per row), and every table is vacuumed and analyzed at the end so
// planner estimates (reltuples) are right and the first reader does not pay
// for setting hint bits.
//
// # Tenant sizes
//
// Real tenants are not the same size: a few are huge and most are small. Each
// product picks its store with a bounded power law (Zipf-like) of exponent
// s = Params.Skew over N = Params.Stores stores. With u uniform in [0, 1):
//
//	s = 1:  x = (N+1)^u
//	s ≠ 1:  x = (1 + u·((N+1)^(1-s) - 1))^(1/(1-s))
//	store = min(N, floor(x))
//
// which is the inverse CDF of the density ∝ x^-s on [1, N+1), so store i gets
// the expected share
//
//	((i+1)^(1-s) - i^(1-s)) / ((N+1)^(1-s) - 1)      (ln((i+1)/i) / ln(N+1) for s = 1)
//
// of the products (Share computes it). Low store ids are the big tenants;
// s = 0 is uniform. Purchases pick their product uniformly and refunds their
// purchase uniformly, so a store's expected share of purchases and refunds is
// its share of products. Campaigns pick their company with the same law over
// Params.Companies; every company has exactly MembershipsPerCompany distinct
// users (a random run of consecutive user ids, wrapping around).
//
// # Determinism
//
// The same Params give the same data, byte for byte. Every table is generated
// in fixed chunks of ids; before each chunk the session calls setseed with a
// value derived from Params.Seed, the table and the chunk number, in the same
// transaction as the INSERT that calls random(). So a table's rows do not
// depend on how many connections generate them, and changing one table's size
// does not reshuffle the others.
//
// # Data
//
// The columns carry what a copy or checksum must round-trip: numeric,
// timestamptz with microseconds, jsonb (product.attrs), booleans, text with
// quotes, backslashes, tabs, newlines and non-ASCII characters, and NULLs in
// most nullable columns.
package sample
