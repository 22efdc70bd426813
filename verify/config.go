package verify

import (
	"fmt"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// Config says what to compare. The zero value is valid: counts only, every
// tenant of every table, the defaults documented on each field.
type Config struct {
	// Checksum also compares a content hash per tenant per table, and per
	// shard placement on Citus. It reads every row's content, so it costs
	// more than counting.
	Checksum bool
	// SkipInvariant skips the tenant invariant check (a nested row's tenant
	// equals its parent's), which joins every nested table with its parent
	// on the target where no foreign key holds it.
	SkipInvariant bool
	// RecheckForeignKeys runs the invariant checks that a foreign key of the
	// target holds, too. By default such a check is not run: a validated
	// composite foreign key (tenant column and key) whose triggers are
	// enabled, on a NOT NULL tenant column (and, on Citus, on every shard
	// placement), means the database refused every row that would break
	// it. The catalog shows the key enforced now, not that it always was:
	// rows written under session_replication_role = replica (which skips
	// the foreign keys' triggers), or while its triggers were disabled and
	// enabled again, were never checked. This flag scans them anyway.
	RecheckForeignKeys bool
	// Tenants limits the comparison to these tenants (tenant key values as
	// text). Empty means every tenant. Reference tables are compared whole
	// regardless.
	Tenants []string
	// Tables limits the comparison to these tables, named as in SQL
	// ("store", "app.store", `"Sales Ops"."Tenant"`). Empty means every
	// table of the plan that is not excluded.
	Tables []string
	// MaxSamples is how many keys of differing rows each difference lists,
	// and how many differing tenants per table are narrowed down to keys.
	// Default 10.
	MaxSamples int
	// Workers is how many tables (and shards) are compared at the same
	// time; each uses one connection per side. Default 2.
	Workers int
}

// Default values of Config.
const (
	DefaultMaxSamples = 10
	DefaultWorkers    = 2
)

// prepare validates the config, fills in defaults and selects p's tables.
func (c Config) prepare(p *plan.Plan) (Config, []*plan.Table, error) {
	c, err := c.withDefaults()
	if err != nil {
		return c, nil, err
	}
	tables, err := c.selectTables(p)
	return c, tables, err
}

// withDefaults validates the config and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.MaxSamples < 0 {
		return c, fmt.Errorf("max samples must be 0 (default %d) or more, got %d", DefaultMaxSamples, c.MaxSamples)
	}
	if c.Workers < 0 {
		return c, fmt.Errorf("workers must be 0 (default %d) or more, got %d", DefaultWorkers, c.Workers)
	}
	if c.MaxSamples == 0 {
		c.MaxSamples = DefaultMaxSamples
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	for _, t := range c.Tenants {
		if t == "" {
			return c, fmt.Errorf("empty tenant in the tenant list")
		}
	}
	return c, nil
}

// selectTables returns the plan's tables to compare, in plan order:
// everything not excluded, or only cfg.Tables when given (each must be a
// table of the plan).
func (c Config) selectTables(p *plan.Plan) ([]*plan.Table, error) {
	want := map[schema.Name]bool{}
	for _, name := range c.Tables {
		q, err := db.ParseQualifiedName(name, "public")
		if err != nil {
			return nil, fmt.Errorf("table %q: %w", name, err)
		}
		t := p.Table(q)
		if t == nil {
			return nil, fmt.Errorf("table %s is not in the source catalog", q)
		}
		if t.Kind == plan.Excluded {
			return nil, fmt.Errorf("table %s is excluded from the migration: nothing to verify", q)
		}
		want[q] = true
	}
	var out []*plan.Table
	for _, t := range p.Tables {
		if t.Kind == plan.Excluded || (len(want) > 0 && !want[t.Name()]) {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}
