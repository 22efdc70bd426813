package sample

import "strings"

// Tables lists the monolith's tables, parents before children.
func Tables() []string {
	return []string{"store", "product", "purchase", "refund", "auth_user", "company", "campaign", "company_users"}
}

// createTables has the tables with their primary and unique keys: what must
// exist while loading.
const createTables = `CREATE TABLE store (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    url        text,
    created_at timestamptz
);

CREATE TABLE product (
    id          bigserial PRIMARY KEY,
    store_id    bigint NOT NULL,
    name        text,
    description text,
    price       numeric(10,2),
    quantity    int,
    attrs       jsonb
);

CREATE TABLE purchase (
    id               bigserial PRIMARY KEY,
    product_id       bigint NOT NULL,
    ordered_at       timestamptz,
    billing_address  text,
    shipping_address text,
    amount           numeric(12,2)
);

CREATE TABLE refund (
    id          bigserial PRIMARY KEY,
    purchase_id bigint NOT NULL,
    amount      numeric(12,2),
    reason      text,
    created_at  timestamptz
);

CREATE TABLE auth_user (
    id          serial PRIMARY KEY,
    username    varchar(150) UNIQUE NOT NULL,
    email       text,
    is_active   boolean NOT NULL DEFAULT true,
    date_joined timestamptz
);

CREATE TABLE company (
    id         bigserial PRIMARY KEY,
    name       varchar(512),
    created_at timestamptz,
    updated_at timestamptz
);

CREATE TABLE campaign (
    id         bigserial PRIMARY KEY,
    company_id bigint NOT NULL,
    name       varchar(512),
    budget     numeric(12,2),
    created_at timestamptz,
    updated_at timestamptz,
    UNIQUE (id, company_id)
);

CREATE TABLE company_users (
    id         serial PRIMARY KEY,
    company_id bigint NOT NULL,
    user_id    int NOT NULL,
    UNIQUE (company_id, user_id)
);
`

// addConstraints has the foreign keys and the indexes on foreign-key columns
// (which Django creates for every ForeignKey): added after loading.
var addConstraints = []string{
	`ALTER TABLE product ADD CONSTRAINT product_store_id_fkey FOREIGN KEY (store_id) REFERENCES store (id)`,
	`ALTER TABLE purchase ADD CONSTRAINT purchase_product_id_fkey FOREIGN KEY (product_id) REFERENCES product (id)`,
	`ALTER TABLE refund ADD CONSTRAINT refund_purchase_id_fkey FOREIGN KEY (purchase_id) REFERENCES purchase (id)`,
	`ALTER TABLE campaign ADD CONSTRAINT campaign_company_id_fkey FOREIGN KEY (company_id) REFERENCES company (id) ON DELETE CASCADE`,
	`ALTER TABLE company_users ADD CONSTRAINT company_users_company_id_fkey FOREIGN KEY (company_id) REFERENCES company (id)`,
	`ALTER TABLE company_users ADD CONSTRAINT company_users_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth_user (id)`,
	`CREATE INDEX product_store_id_idx ON product (store_id)`,
	`CREATE INDEX purchase_product_id_idx ON purchase (product_id)`,
	`CREATE INDEX refund_purchase_id_idx ON refund (purchase_id)`,
	`CREATE INDEX campaign_company_id_idx ON campaign (company_id)`,
	`CREATE INDEX company_users_user_id_idx ON company_users (user_id)`,
}

// TablesSQL is the tables with their primary and unique keys only: what a
// target whose foreign keys come later starts from.
func TablesSQL() string { return createTables }

// Schema is the monolith's complete DDL (tables, keys, foreign keys and
// indexes), as Generate leaves it; running it creates the empty monolith.
func Schema() string {
	return createTables + "\n" + strings.Join(addConstraints, ";\n") + ";\n"
}

// dropTables drops the monolith; children first is not needed because one
// DROP TABLE removes the foreign keys among the tables it drops.
const dropTables = `DROP TABLE IF EXISTS company_users, campaign, company, auth_user, refund, purchase, product, store`
