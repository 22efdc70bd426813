package follow

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/checkpoints"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// row is one row image as the source sent it: a text value per column of
// its table (nil for NULL); unchanged marks TOASTed values the source left
// out because the update did not change them (nil when it sent them all).
type row struct {
	vals      []*string
	unchanged []bool
}

// size is about what r takes in memory.
func (r *row) size() int {
	n := 64
	for _, v := range r.vals {
		n += 25 // the pointer, the string header, the unchanged flag
		if v != nil {
			n += len(*v)
		}
	}
	return n
}

func (r *row) partial() bool {
	for _, u := range r.unchanged {
		if u {
			return true
		}
	}
	return false
}

// op is the net effect of a batch's changes on one key of one table: the
// row it ends as (upsert, or an update of the columns sent), or gone.
type op struct {
	del bool
	row *row
}

// pending are the changes of one table not yet written, by key: only the
// last one of each key matters (the batch's net effect), so a row updated
// a hundred times in a batch is written once.
type pending struct {
	t    *table
	keys map[string]*op
	seq  []string // keys in first-seen order, for a stable statement
}

// batch is the open target transaction of a follower: the changes of
// whole source transactions, written in groups, committed with the source
// position they reach.
type batch struct {
	dst     *pgxpool.Pool
	stream  string
	tx      pgx.Tx
	tables  map[*table]*pending
	held    int // changes held in memory
	bytes   int // their size, roughly
	written int // changes in the open transaction
	counts  checkpoints.ChangeCount
	tenants map[string]bool
	shards  shardCache // kept from one transaction to the next
	// commutative: other lanes write at the same time (other tenants'
	// rows), see begin.
	commutative bool
}

func newBatch(dst *pgxpool.Pool, stream string, commutative bool) *batch {
	return &batch{dst: dst, stream: stream, tables: map[*table]*pending{}, tenants: map[string]bool{}, commutative: commutative}
}

// busy says the lane has something to commit.
func (b *batch) busy() bool { return b.tx != nil || b.held > 0 }

// size is the number of changes since the transaction began.
func (b *batch) size() int { return b.held + b.written }

func keyOf(t *table, r *row) string {
	var sb strings.Builder
	for _, i := range t.key {
		if v := r.vals[i]; v == nil {
			sb.WriteString("\x00N")
		} else {
			sb.WriteString("\x00V")
			sb.WriteString(*v)
		}
	}
	return sb.String()
}

func (b *batch) pendingOf(t *table) *pending {
	p := b.tables[t]
	if p == nil {
		p = &pending{t: t, keys: map[string]*op{}}
		b.tables[t] = p
	}
	return p
}

// putChange records the net effect of a change of t from old to cur: an
// update that moves a row to another key (another tenant, on Citus
// another shard) deletes the old key and writes the new one.
func (b *batch) putChange(t *table, old, cur *row) {
	switch {
	case cur == nil:
		b.put(t, keyOf(t, old), &op{del: true, row: old})
	case old != nil && keyOf(t, old) != keyOf(t, cur):
		b.put(t, keyOf(t, old), &op{del: true, row: old})
		if cur.partial() && !lacksUnchanged(old, cur) {
			cur = merge(old, cur)
		}
		b.put(t, keyOf(t, cur), &op{row: cur}) // still partial: see completeMove
	default:
		b.put(t, keyOf(t, cur), &op{row: cur})
	}
}

// lacksUnchanged says whether old, the image of a row before an update,
// lacks a value the new image cur left unchanged: the source sent only the
// old key (REPLICA IDENTITY DEFAULT), whose other columns come as NULL.
func lacksUnchanged(old, cur *row) bool {
	for i, u := range cur.unchanged {
		if u && old.vals[i] == nil && (old.unchanged == nil || !old.unchanged[i]) {
			return true
		}
	}
	return false
}

// completeMove fills in c.old the values c.cur left unchanged (TOASTed
// values pgoutput does not resend) when c moves a row to another key and
// the source sent only the old key: the target's row, read once the
// batch's earlier changes are written, holds them. The new key's row is
// then written whole. A row already moved (a replay) is not found: the
// new image stays partial and updates, at the new key, the columns sent.
func (b *batch) completeMove(ctx context.Context, t *table, c *change) error {
	if c.old == nil || c.cur == nil || !c.cur.partial() || keyOf(t, c.old) == keyOf(t, c.cur) || !lacksUnchanged(c.old, c.cur) {
		return nil
	}
	if err := b.flush(ctx); err != nil {
		return err
	}
	if err := b.begin(ctx); err != nil {
		return err
	}
	var want, where []string
	var idx []int
	for i, u := range c.cur.unchanged {
		if u {
			want, idx = append(want, db.Ident(t.cols[i])+"::text"), append(idx, i)
		}
	}
	args := make([]any, len(t.key))
	for j, i := range t.key {
		where = append(where, fmt.Sprintf("%s = $%d::text::%s", db.Ident(t.cols[i]), j+1, t.types[i]))
		args[j] = c.old.vals[i]
	}
	vals := make([]*string, len(idx))
	dest := make([]any, len(idx))
	for j := range vals {
		dest[j] = &vals[j]
	}
	err := b.tx.QueryRow(ctx, "SELECT "+strings.Join(want, ", ")+" FROM "+t.name.Quoted()+" WHERE "+strings.Join(where, " AND "), args...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("target: reading the unchanged values of a row of %s that moved to another key: %w", t.name, err)
	}
	old := &row{vals: append([]*string{}, c.old.vals...)}
	for j, i := range idx {
		old.vals[i] = vals[j]
	}
	c.old = old
	return nil
}

// put records the net effect of a change on key.
func (b *batch) put(t *table, key string, o *op) {
	p := b.pendingOf(t)
	prev, seen := p.keys[key]
	if !seen {
		p.seq = append(p.seq, key)
		b.held++
	}
	b.bytes += o.row.size() + len(key)
	if !o.del && o.row.partial() && seen && !prev.del {
		o.row = merge(prev.row, o.row)
	}
	p.keys[key] = o
}

// merge fills the unchanged values of next from prev, which holds the
// same row's earlier image in the batch.
func merge(prev, next *row) *row {
	out := &row{vals: append([]*string{}, next.vals...), unchanged: append([]bool{}, next.unchanged...)}
	for i, u := range out.unchanged {
		if u && (prev.unchanged == nil || !prev.unchanged[i]) {
			out.vals[i], out.unchanged[i] = prev.vals[i], false
		}
	}
	return out
}

// tenant records the tenant of r (cutover verifies the changed tenants);
// a new row image without one cannot be placed (required).
func (b *batch) tenant(t *table, r *row, required bool) error {
	if t.tenant < 0 || r == nil {
		return nil
	}
	v := r.vals[t.tenant]
	if v == nil {
		if !required {
			return nil
		}
		return fmt.Errorf("a row of %s changed on the source has no tenant (%s is NULL): the fill trigger is missing, or the row is an orphan; fix the row on the source, then rerun", t.name, t.cols[t.tenant])
	}
	b.tenants[*v] = true
	return nil
}

// begin opens the target transaction.
func (b *batch) begin(ctx context.Context) error {
	if b.tx != nil {
		return nil
	}
	tx, err := b.dst.Begin(ctx)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	// The position record is a reference table on Citus, which a
	// transaction may not write after a parallel multi-shard statement:
	// one connection per worker keeps both legal (plain PostgreSQL takes
	// the setting as an inert placeholder).
	//
	// Lanes write different tenants' rows, so their writes commute; Citus
	// would otherwise serialize the lanes' writes of the position records
	// (a reference table: an exclusive lock on its shard to the end of the
	// transaction, distributed_execution_locks.c).
	set := "SET LOCAL citus.multi_shard_modify_mode = 'sequential'"
	if b.commutative {
		set += "; SET LOCAL citus.all_modifications_commutative = on"
	}
	if _, err := tx.Exec(ctx, set); err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("target: %w", err)
	}
	b.tx = tx
	return nil
}

// flush writes the held changes into the open transaction: upserts parents
// first, partial updates, then deletes children first, so the foreign keys
// between the tables hold after each statement in the usual case; a
// constraint the reordering breaks sends the follower back to strict mode.
func (b *batch) flush(ctx context.Context) error {
	if b.held == 0 {
		return nil
	}
	if err := b.begin(ctx); err != nil {
		return err
	}
	ts := make([]*table, 0, len(b.tables))
	for t := range b.tables {
		ts = append(ts, t)
	}
	byOrder(ts)
	for _, t := range ts {
		if err := b.writeUpserts(ctx, b.tables[t]); err != nil {
			return err
		}
	}
	for i := len(ts) - 1; i >= 0; i-- {
		if err := b.writeDeletes(ctx, b.tables[ts[i]]); err != nil {
			return err
		}
	}
	b.written += b.held
	b.held, b.bytes = 0, 0
	b.tables = map[*table]*pending{}
	return nil
}

func (b *batch) writeUpserts(ctx context.Context, p *pending) error {
	t := p.t
	full := columnsOf(len(t.cols), 0)
	partial := map[string]*partialGroup{}
	var order []string
	for _, k := range p.seq {
		o := p.keys[k]
		if o.del {
			continue
		}
		if !o.row.partial() {
			full.add(o.row, nil)
			continue
		}
		set, sig := sentColumns(t, o.row)
		g := partial[sig]
		if g == nil {
			g = &partialGroup{set: set, cols: columnsOf(len(t.key)+len(set), 0)}
			partial[sig] = g
			order = append(order, sig)
		}
		g.cols.add(o.row, append(append([]int{}, t.key...), set...))
	}
	if full.n > 0 {
		if _, err := b.tx.Exec(ctx, t.upsert, full.args()...); err != nil {
			return fmt.Errorf("target: writing %d rows of %s: %w", full.n, t.name, err)
		}
	}
	for _, sig := range order {
		g := partial[sig]
		if len(g.set) == 0 {
			continue // only unchanged values beyond the key: nothing to write
		}
		if t.routed {
			if err := b.perShard(ctx, t, g.cols, t.update(g.set, true), "updating"); err != nil {
				return err
			}
			continue
		}
		if _, err := b.tx.Exec(ctx, t.update(g.set, false), g.cols.args()...); err != nil {
			return fmt.Errorf("target: updating %d rows of %s: %w", g.cols.n, t.name, err)
		}
	}
	return nil
}

type partialGroup struct {
	set  []int
	cols *columns
}

// sentColumns are the non-key columns a partial row carries, and a
// signature grouping rows that carry the same ones.
func sentColumns(t *table, r *row) ([]int, string) {
	var set []int
	var sig strings.Builder
	for i := range t.cols {
		if !t.isKey(i) && !r.unchanged[i] {
			set = append(set, i)
			fmt.Fprintf(&sig, "%d,", i)
		}
	}
	return set, sig.String()
}

func (b *batch) writeDeletes(ctx context.Context, p *pending) error {
	t := p.t
	keys := columnsOf(len(t.key), 0)
	for _, k := range p.seq {
		if o := p.keys[k]; o.del {
			keys.add(o.row, t.key)
		}
	}
	if keys.n == 0 {
		return nil
	}
	if t.routed {
		return b.perShard(ctx, t, keys, t.removeRouted, "deleting")
	}
	if _, err := b.tx.Exec(ctx, t.remove, keys.args()...); err != nil {
		return fmt.Errorf("target: deleting %d rows of %s: %w", keys.n, t.name, err)
	}
	return nil
}

// perShard writes the rows of c, whose first len(t.key) columns are the
// key, with stmt (a routed statement: the rows' tenants are its last
// parameter), one statement per Citus shard the rows are in, sent at
// once. Each shard then looks up its own rows only.
func (b *batch) perShard(ctx context.Context, t *table, c *columns, stmt, what string) error {
	groups, err := b.shards.split(ctx, b.tx, t, c)
	if err != nil {
		return err
	}
	q := &pgx.Batch{}
	for _, g := range groups {
		q.Queue(stmt, append(g.rows.args(), g.tenants)...)
	}
	res := b.tx.SendBatch(ctx, q)
	for _, g := range groups {
		if _, err := res.Exec(); err != nil {
			_ = res.Close()
			return fmt.Errorf("target: %s %d rows of %s: %w", what, g.rows.n, t.name, err)
		}
	}
	if err := res.Close(); err != nil {
		return fmt.Errorf("target: %s rows of %s: %w", what, t.name, err)
	}
	return nil
}

// maxCachedTenants bounds the tenants whose shard a follower remembers per
// table (past it, it forgets them all and asks again).
const maxCachedTenants = 100_000

// shardCache remembers which Citus shard each tenant's rows are in, per
// table, as the target said when first asked. A shard move or a tenant
// isolation since does not make a statement wrong, only slower: each
// statement names its tenants, and Citus routes it by its own, current
// metadata.
type shardCache struct {
	ids map[schema.Name]map[string]int64
}

// shardGroup is the rows of one shard and their distinct tenants.
type shardGroup struct {
	shard   int64
	rows    *columns
	tenants []*string
}

// split groups the rows of c by the shard of their tenant (column
// t.tenantKey of c), asking the target for the tenants it has not seen.
// Rows without a tenant are left out: a distributed table cannot hold
// them.
func (s *shardCache) split(ctx context.Context, tx pgx.Tx, t *table, c *columns) ([]*shardGroup, error) {
	if s.ids == nil {
		s.ids = map[schema.Name]map[string]int64{}
	}
	ids := s.ids[t.name]
	if ids == nil {
		ids = map[string]int64{}
		s.ids[t.name] = ids
	}
	tenants := c.vals[t.tenantKey]
	var unknown []string
	asked := map[string]bool{}
	for _, v := range tenants {
		if v != nil && !asked[*v] {
			if _, ok := ids[*v]; !ok {
				unknown = append(unknown, *v)
			}
			asked[*v] = true
		}
	}
	if len(unknown) > 0 {
		if len(ids)+len(unknown) > maxCachedTenants {
			clear(ids)
		}
		rows, err := tx.Query(ctx, `SELECT v, pg_catalog.get_shard_id_for_distribution_column($1::regclass, v) FROM unnest($2::text[]) AS v`,
			t.name.Quoted(), unknown)
		if err != nil {
			return nil, fmt.Errorf("target: finding the shards of %d tenants of %s: %w", len(unknown), t.name, err)
		}
		var v string
		var id int64
		if _, err := pgx.ForEachRow(rows, []any{&v, &id}, func() error { ids[v] = id; return nil }); err != nil {
			return nil, fmt.Errorf("target: finding the shards of %d tenants of %s: %w", len(unknown), t.name, err)
		}
	}
	byShard := map[int64]*shardGroup{}
	var groups []*shardGroup
	for r, v := range tenants {
		if v == nil {
			continue
		}
		id := ids[*v]
		g := byShard[id]
		if g == nil {
			g = &shardGroup{shard: id, rows: columnsOf(len(c.vals), 0)}
			byShard[id] = g
			groups = append(groups, g)
		}
		for j := range c.vals {
			g.rows.vals[j] = append(g.rows.vals[j], c.vals[j][r])
		}
		g.rows.n++
	}
	for _, g := range groups {
		seen := map[string]bool{}
		for _, v := range g.rows.vals[t.tenantKey] {
			if !seen[*v] {
				seen[*v] = true
				g.tenants = append(g.tenants, v)
			}
		}
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].shard < groups[j].shard })
	return groups, nil
}

// columns are the parameters of one statement: a text array per column.
type columns struct {
	vals [][]*string
	n    int
}

func columnsOf(n, capacity int) *columns {
	c := &columns{vals: make([][]*string, n)}
	for i := range c.vals {
		c.vals[i] = make([]*string, 0, capacity)
	}
	return c
}

// add appends r's values of the columns idx (every column when nil).
func (c *columns) add(r *row, idx []int) {
	if idx == nil {
		for i := range c.vals {
			c.vals[i] = append(c.vals[i], r.vals[i])
		}
	} else {
		for j, i := range idx {
			c.vals[j] = append(c.vals[j], r.vals[i])
		}
	}
	c.n++
}

func (c *columns) args() []any {
	out := make([]any, len(c.vals))
	for i, v := range c.vals {
		out[i] = v
	}
	return out
}

// direct writes one change of a table without a key, in source order:
// identical rows are interchangeable, so a delete removes one of them.
func (b *batch) direct(ctx context.Context, t *table, old, new *row) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	if err := b.begin(ctx); err != nil {
		return err
	}
	if old != nil {
		if err := b.removeOne(ctx, t, old); err != nil {
			return err
		}
	}
	if new != nil {
		c := columnsOf(len(t.cols), 1)
		c.add(new, nil)
		if _, err := b.tx.Exec(ctx, t.insert, c.args()...); err != nil {
			return fmt.Errorf("target: inserting a row of %s: %w", t.name, err)
		}
	}
	b.written++
	return nil
}

// removeOne deletes one row equal to old: it counts the equal rows,
// deletes them and puts back all but one (Citus plans no ctid subquery on a
// distributed table, and identical rows are interchangeable).
func (b *batch) removeOne(ctx context.Context, t *table, old *row) error {
	args := make([]any, len(old.vals))
	for i, v := range old.vals {
		args[i] = v
	}
	where := t.sameRows()
	var n int
	if err := b.tx.QueryRow(ctx, "SELECT count(*)::int FROM "+t.name.Quoted()+" WHERE "+where, args...).Scan(&n); err != nil {
		return fmt.Errorf("target: finding a row of %s: %w", t.name, err)
	}
	if n == 0 {
		return nil // deleted before (a replay)
	}
	if _, err := b.tx.Exec(ctx, "DELETE FROM "+t.name.Quoted()+" WHERE "+where, args...); err != nil {
		return fmt.Errorf("target: deleting a row of %s: %w", t.name, err)
	}
	if n == 1 {
		return nil
	}
	c := columnsOf(len(t.cols), n-1)
	for i := 1; i < n; i++ {
		c.add(old, nil)
	}
	if _, err := b.tx.Exec(ctx, t.insert, c.args()...); err != nil {
		return fmt.Errorf("target: restoring rows of %s: %w", t.name, err)
	}
	return nil
}

// truncate empties target tables in the open transaction.
func (b *batch) truncate(ctx context.Context, ts []*table, cascade bool) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	if err := b.begin(ctx); err != nil {
		return err
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.name.Quoted()
	}
	stmt := "TRUNCATE " + strings.Join(names, ", ")
	if cascade {
		stmt += " CASCADE"
	}
	if _, err := b.tx.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("target: %s: %w", stmt, err)
	}
	b.counts.Truncates++
	return nil
}

// commit writes what is held, records the position in the same
// transaction and commits: the changes and the position are durable
// together or not at all.
func (b *batch) commit(ctx context.Context, applied checkpoints.Applied) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	if err := b.begin(ctx); err != nil {
		return err
	}
	applied.Counts = b.counts
	for t := range b.tenants {
		applied.Tenants = append(applied.Tenants, t)
	}
	if err := checkpoints.RecordApplied(ctx, b.tx, b.stream, applied); err != nil {
		return err
	}
	if err := b.tx.Commit(ctx); err != nil {
		b.tx = nil
		return fmt.Errorf("target: committing applied changes: %w", err)
	}
	b.reset()
	return nil
}

// rollback abandons the open transaction and everything held.
func (b *batch) rollback() {
	if b.tx != nil {
		_ = b.tx.Rollback(context.Background())
	}
	b.reset()
}

func (b *batch) reset() {
	b.tx = nil
	b.tables = map[*table]*pending{}
	b.held, b.bytes, b.written = 0, 0, 0
	b.counts = checkpoints.ChangeCount{}
	b.tenants = map[string]bool{}
}
