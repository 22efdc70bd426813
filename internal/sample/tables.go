package sample

import "fmt"

// fill is how one table is generated: units of work (rows, or companies for
// company_users), in chunks of ids $1..$2, by one INSERT ... SELECT whose
// other bind parameters are args.
type fill struct {
	table string
	units int64
	sql   string
	args  []any // args[0] and args[1] are placeholders for the chunk range
}

// fills lists every table's generation statement for p.
func fills(p Params) []fill {
	return []fill{
		build("store", p.Stores, storeSQL),
		build("product", p.Products, func(b *binder) string { return productSQL(b, p) }),
		build("purchase", p.Purchases, func(b *binder) string { return purchaseSQL(b, p) }),
		build("refund", p.Refunds, func(b *binder) string { return refundSQL(b, p) }),
		build("auth_user", p.Users, authUserSQL),
		build("company", p.Companies, companySQL),
		build("campaign", p.Companies*p.CampaignsPerCompany, func(b *binder) string { return campaignSQL(b, p) }),
		build("company_users", p.Companies*min(p.MembershipsPerCompany, 1), func(b *binder) string { return companyUsersSQL(b, p) }),
	}
}

func build(table string, units int, sql func(*binder) string) fill {
	b := newBinder()
	s := sql(b)
	return fill{table: table, units: int64(units), sql: s, args: b.args}
}

const series = "generate_series($1::bigint, $2::bigint) AS g"

func storeSQL(b *binder) string {
	return fmt.Sprintf(`INSERT INTO store (id, name, url, created_at)
SELECT g, %s || ' #' || g, %s, %s
FROM %s`,
		b.pick(storeNames),
		orNull(10, "'https://shop' || g || '.example.com/'"),
		orNull(5, timestamp("2015-01-01", 3000)),
		series)
}

func productSQL(b *binder, p Params) string {
	attrs := fmt.Sprintf(`jsonb_build_object('color', %s, 'weight_g', floor(random() * 5000)::int,
        'fragile', random() < 0.2,
        'dimensions', jsonb_build_array(round((random() * 100)::numeric, 1), round((random() * 100)::numeric, 1)),
        'note', %s)`,
		b.pick(colors), orNull(50, b.pick(texts)))
	return fmt.Sprintf(`INSERT INTO product (id, store_id, name, description, price, quantity, attrs)
SELECT g, %s, %s || ' ' || %s, %s, %s, %s, %s
FROM %s`,
		b.zipf(p.Stores, p.Skew),
		b.pick(adjectives), b.pick(nouns),
		orNull(10, b.pick(texts)),
		orNull(2, money(1, 1000)),
		orNull(3, "floor(random() * 1000)::int"),
		orNull(5, attrs),
		series)
}

// purchaseSQL draws both addresses in a subquery (OFFSET 0 keeps it from
// being flattened) so the shipping address can repeat the billing one.
func purchaseSQL(b *binder, p Params) string {
	return fmt.Sprintf(`INSERT INTO purchase (id, product_id, ordered_at, billing_address, shipping_address, amount)
SELECT g, product_id, ordered_at, billing,
       CASE WHEN r < 0.1 THEN NULL WHEN r < 0.7 THEN billing ELSE shipping END, amount
FROM (SELECT g, %s AS product_id, %s AS ordered_at, %s AS billing, %s AS shipping,
             %s AS amount, random() AS r
      FROM %s OFFSET 0) AS s`,
		b.uniform(p.Products), timestamp("2019-01-01", 1800), b.address(), b.address(), money(1, 2000), series)
}

func refundSQL(b *binder, p Params) string {
	return fmt.Sprintf(`INSERT INTO refund (id, purchase_id, amount, reason, created_at)
SELECT g, %s, %s, %s, %s
FROM %s`,
		b.uniform(p.Purchases), money(0, 500), orNull(20, b.pick(reasons)), timestamp("2019-02-01", 1800), series)
}

func authUserSQL(b *binder) string {
	return fmt.Sprintf(`INSERT INTO auth_user (id, username, email, is_active, date_joined)
SELECT g::int, %s || '_' || g, %s, random() < 0.9, %s
FROM %s`,
		b.pick(userPrefixes), orNull(10, "'user' || g || '@example.com'"), timestamp("2016-01-01", 2500), series)
}

func companySQL(b *binder) string {
	return fmt.Sprintf(`INSERT INTO company (id, name, created_at, updated_at)
SELECT g, name, created_at, CASE WHEN r < 0.05 THEN NULL ELSE created_at + r * interval '400 days' END
FROM (SELECT g, %s || ' ' || g AS name, %s AS created_at, random() AS r
      FROM %s OFFSET 0) AS s`,
		b.pick(companyNames), timestamp("2016-01-01", 2000), series)
}

func campaignSQL(b *binder, p Params) string {
	return fmt.Sprintf(`INSERT INTO campaign (id, company_id, name, budget, created_at, updated_at)
SELECT g, company_id, name, budget, created_at, created_at + r * interval '90 days'
FROM (SELECT g, %s AS company_id, %s || ' ' || g AS name, %s AS budget, %s AS created_at, random() AS r
      FROM %s OFFSET 0) AS s`,
		b.zipf(p.Companies, p.Skew), b.pick(campaignNames), orNull(10, money(100, 100000)),
		timestamp("2018-01-01", 2000), series)
}

// companyUsersSQL works per company ($1..$2 are company ids): each company
// gets MembershipsPerCompany consecutive user ids from a random offset,
// wrapping around, so they are distinct.
func companyUsersSQL(b *binder, p Params) string {
	m := b.bind(int64(p.MembershipsPerCompany))
	u := b.bind(int64(p.Users))
	return fmt.Sprintf(`INSERT INTO company_users (id, company_id, user_id)
SELECT ((g - 1) * %[1]s::bigint + j + 1)::int, g, (1 + (off + j) %% %[2]s::bigint)::int
FROM (SELECT g, floor(random() * %[2]s::bigint)::bigint AS off FROM %[3]s OFFSET 0) AS s
CROSS JOIN generate_series(0, %[1]s::bigint - 1) AS j`, m, u, series)
}
