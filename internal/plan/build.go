package plan

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// Build reads the source catalog and plans every table; see FromCatalog.
func Build(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Plan, error) {
	cat, err := schema.Load(ctx, pool, cfg.Schemas)
	if err != nil {
		return nil, err
	}
	return FromCatalog(cat, cfg)
}

// FromCatalog plans every table of cat. It returns an error for a mistake
// in cfg (an unknown table, a malformed --relation, a root without a
// single-column primary key); everything about the tables themselves is
// reported as Problems on the plan, so the user sees all of them at once.
// cat is not modified: declared relations go into a copy.
func FromCatalog(cat *schema.Catalog, cfg Config) (*Plan, error) {
	b := &builder{cfg: cfg, cat: cat.Clone(), byName: map[schema.Name]*Table{}}
	phases := []func() error{
		b.declareRelations,
		b.resolveRoot,
		b.applyOverrides,
		b.markDjangoTables,
		b.resolvePins,
		b.classify,
		b.chooseTenantColumn,
		b.order,
		b.checkRules,
		b.checkObjects,
	}
	for _, phase := range phases {
		if err := phase(); err != nil {
			return nil, err
		}
	}
	return b.plan, nil
}

// builder holds one FromCatalog in progress.
type builder struct {
	cfg    Config
	cat    *schema.Catalog
	plan   *Plan
	tables []*Table // by name
	byName map[schema.Name]*Table
	pins   map[*Table]*pin
}

// declareRelations adds the user's --relation edges to the catalog copy.
// Two branches of one polymorphic association may not name the same type.
func (b *builder) declareRelations() error {
	types := map[string]string{}
	for _, raw := range b.cfg.Relations {
		fk, err := declare(b.cat, raw)
		if err != nil {
			return err
		}
		if fk.When != nil {
			k := fk.Table.String() + "\x00" + polymorphicBranchKey(fk) + "\x00" + fk.When.Value
			if prev, dup := types[k]; dup {
				return fmt.Errorf("--relation %q: type %s of %s already goes to another table (--relation %q)", raw, fk.When.Value, fk.Table, prev)
			}
			types[k] = raw
		}
		t := b.cat.Table(fk.Table)
		t.ForeignKeys = append(t.ForeignKeys, fk)
	}
	return nil
}

// resolveRoot finds the tenant table and its key.
func (b *builder) resolveRoot() error {
	if b.cfg.TenantTable == "" {
		return fmt.Errorf("no tenant table: name the table whose rows are the tenants")
	}
	root, err := b.cat.Resolve(b.cfg.TenantTable)
	if err != nil {
		return fmt.Errorf("tenant table: %w", err)
	}
	pk := root.PrimaryKey
	if pk == nil || len(pk.Columns) != 1 {
		what := "no primary key"
		if pk != nil {
			what = fmt.Sprintf("a primary key of %d columns (%s)", len(pk.Columns), db.Idents(pk.Columns))
		}
		return fmt.Errorf("tenant table %s has %s: Citus distributes it by one column, so it needs a single-column primary key (its tenant id)", root.Name, what)
	}
	for _, t := range b.cat.Tables {
		pt := &Table{Source: t}
		b.tables = append(b.tables, pt)
		b.byName[t.Name] = pt
	}
	key := root.Column(pk.Columns[0])
	b.plan = &Plan{Config: b.cfg, Catalog: b.cat, RootKey: key.Name, KeyType: key.Type}
	b.plan.Root = b.byName[root.Name]
	b.plan.Root.Kind = Root
	b.plan.Root.TenantColumn = key.Name
	b.plan.Root.HasTenantColumn = true
	return nil
}

// applyOverrides marks --exclude and --reference tables.
func (b *builder) applyOverrides() error {
	for _, o := range []struct {
		flag  string
		names []string
		kind  Kind
	}{{"--exclude", b.cfg.Excludes, Excluded}, {"--reference", b.cfg.References, Reference}} {
		for _, n := range o.names {
			t, err := b.cat.Resolve(n)
			if err != nil {
				return fmt.Errorf("%s: %w", o.flag, err)
			}
			pt := b.byName[t.Name]
			if pt.Kind == Root {
				return fmt.Errorf("%s %s: that is the tenant table", o.flag, n)
			}
			if pt.Kind != "" && pt.Kind != o.kind {
				return fmt.Errorf("%s %s: the table is already named by another flag", o.flag, n)
			}
			pt.Kind = o.kind
			pt.Forced = true
		}
	}
	return nil
}

// chooseTenantColumn settles the name of new tenant columns: the user's,
// else the most common name of the existing columns that reference the
// root (ties by name), else "<root>_id"; then gives it to nested tables.
func (b *builder) chooseTenantColumn() error {
	name := b.cfg.TenantColumn
	if name == "" {
		count := map[string]int{}
		for _, t := range b.tables {
			if t.Kind == Direct {
				count[t.TenantColumn]++
			}
		}
		for n, c := range count {
			if name == "" || c > count[name] || c == count[name] && n < name {
				name = n
			}
		}
	}
	if name == "" {
		name = b.plan.Root.Name().Name + "_id"
	}
	b.plan.TenantColumn = name
	for _, t := range b.tables {
		if t.Kind != Nested {
			continue
		}
		t.TenantColumn = name
		if c := t.Source.Column(name); c != nil {
			t.HasTenantColumn = true
			if c.Type != b.plan.KeyType {
				t.problem(tenantColumnConflict(t, c, b.plan.KeyType))
			}
		}
	}
	return nil
}

// order sorts the tables parents first. Tenant path hops are never the
// keys set aside to break a cycle: a child is backfilled from its parent.
func (b *builder) order() error {
	onPath := map[string]bool{}
	for _, t := range b.tables {
		for _, h := range t.FirstHops() {
			onPath[hopKey(h)] = true
		}
	}
	keep := func(fk schema.ForeignKey) bool { return onPath[hopKey(hopOf(fk))] }
	ordered, cycles := schema.OrderTablesKeeping(b.cat.Tables, keep)
	for _, t := range ordered {
		b.plan.Tables = append(b.plan.Tables, b.byName[t.Name])
	}
	b.plan.Cycles = cycles
	return nil
}

func hopKey(h Hop) string {
	when := ""
	if h.When != nil {
		when = h.When.Column + "=" + h.When.Value
	}
	return fmt.Sprintf("%s|%q|%s|%q|%s|%v|%q", h.From, h.FromColumns, h.To, h.ToColumns, h.Constraint, h.Declared, when)
}

// problem records a problem on the table.
func (t *Table) problem(p Problem) { t.Problems = append(t.Problems, p) }
