package follow

import (
	"context"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/tenantmover/tenantmover/checkpoints"
)

// Lanes: the follower applies the changes of different tenants in
// parallel, one target transaction per lane, while each tenant's changes
// keep their source order: a tenant always takes the same lane (a hash of
// its key's text form), and on Citus all its rows are in one shard, so
// lanes never write the same rows. Each lane's transaction records that
// lane's position (checkpoints.RecordApplied), so a crash between two
// lanes' commits is exact too: the restart streams from the lowest lane
// and skips, change by change, what the change's lane had committed.
//
// A change that is not one tenant's alone — a reference or plain table's
// row, a row moving to another tenant, a table without a key, a TRUNCATE —
// or a source transaction too big to hold makes the batch serial: what
// the lanes hold commits first, then everything goes to lane 0, in source
// order, until the batch commits. A batch never mixes the two, so lanes
// only ever differ over changes that are one tenant's.

// change is one decoded row change.
type change struct {
	t        *table
	old, cur *row
	kind     changeKind
	lane     int // its tenant's lane; -1: not one tenant's alone
}

type changeKind int

const (
	inserted changeKind = iota
	updated
	deleted
)

// laneOf is the lane of a change of t from old to cur: its tenant's, or -1
// when the change is not one tenant's alone.
func laneOf(t *table, old, cur *row, lanes int) int {
	if t.tenant < 0 || t.key == nil {
		return -1
	}
	var tenant *string
	if cur != nil {
		tenant = cur.vals[t.tenant]
	}
	if old != nil {
		was := old.vals[t.tenant]
		if was == nil || (tenant != nil && *was != *tenant) {
			return -1 // unknown, or moving to another tenant
		}
		tenant = was
	}
	if tenant == nil {
		return -1
	}
	return TenantLane(*tenant, lanes)
}

// TenantLane is the lane, of lanes, that the changes of the tenant whose
// key's text form is tenant take.
func TenantLane(tenant string, lanes int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(tenant))
	return int(h.Sum32() % uint32(lanes))
}

// at is the position lane had committed (the lowest lane's for -1).
func (f *follower) at(lane int) pglogrepl.LSN {
	if lane < 0 {
		return f.applied
	}
	return f.laneAt[lane]
}

// idle says no batch is open: nothing held, written or pending.
func (f *follower) idle() bool {
	if f.batchEnd != 0 || len(f.txbuf) > 0 {
		return false
	}
	for _, b := range f.lanes {
		if b.busy() {
			return false
		}
	}
	return true
}

// size is the number of changes in the open batch.
func (f *follower) size() int {
	n := len(f.txbuf)
	for _, b := range f.lanes {
		n += b.size()
	}
	return n
}

// route takes one change of the current source transaction: applied at
// once in a serial batch, otherwise held until the transaction's end.
func (f *follower) route(ctx context.Context, c *change) error {
	if !f.serial && (c.lane < 0 || f.strict()) {
		if err := f.goSerial(ctx); err != nil {
			return err
		}
	}
	if f.serial {
		return f.applyTo(ctx, f.lanes[0], c)
	}
	f.txbuf = append(f.txbuf, c)
	f.txbufBytes += c.size()
	if len(f.txbuf) >= f.cfg.FlushRows || f.txbufBytes >= f.cfg.FlushBytes {
		return f.goSerial(ctx) // too big to hold: streamed through lane 0
	}
	return nil
}

func (c *change) size() int {
	n := 0
	if c.old != nil {
		n += c.old.size()
	}
	if c.cur != nil {
		n += c.cur.size()
	}
	return n
}

// goSerial makes the open batch serial: the whole transactions the lanes
// hold commit first, then the current transaction's changes held so far
// go to lane 0.
func (f *follower) goSerial(ctx context.Context) error {
	if f.serial {
		return nil
	}
	if f.batchEnd != 0 {
		if err := f.commitLanes(ctx, f.batchEnd); err != nil {
			return err
		}
	}
	f.serial = true
	held := f.txbuf
	f.txbuf, f.txbufBytes = nil, 0
	for _, c := range held {
		if err := f.applyTo(ctx, f.lanes[0], c); err != nil {
			return err
		}
	}
	return nil
}

// distribute hands the ended transaction's held changes to their lanes.
// The transaction counts in the lane of its first change.
func (f *follower) distribute(ctx context.Context) error {
	first := 0
	if len(f.txbuf) > 0 && !f.serial {
		first = f.txbuf[0].lane
	}
	f.lanes[first].counts.Transactions++
	held := f.txbuf
	f.txbuf, f.txbufBytes = nil, 0
	for _, c := range held {
		if err := f.applyTo(ctx, f.lanes[c.lane], c); err != nil {
			return err
		}
	}
	return nil
}

// applyTo adds a change to lane b's batch.
func (f *follower) applyTo(ctx context.Context, b *batch, c *change) error {
	switch c.kind {
	case inserted:
		b.counts.Inserts++
	case updated:
		b.counts.Updates++
	case deleted:
		b.counts.Deletes++
	}
	t := c.t
	_ = b.tenant(t, c.old, false)
	if err := b.tenant(t, c.cur, true); err != nil {
		return err
	}
	if t.key == nil {
		return b.direct(ctx, t, c.old, c.cur)
	}
	if err := b.completeMove(ctx, t, c); err != nil {
		return err
	}
	b.putChange(t, c.old, c.cur)
	if b.held >= f.cfg.FlushRows || b.bytes >= f.cfg.FlushBytes || f.strict() {
		return b.flush(ctx)
	}
	return nil
}

// commitLanes commits the open batch at source position end: the lanes
// with changes write them and then commit, each in parallel with the
// others, each recording its own position; the first of them also
// records the lanes with nothing to apply.
func (f *follower) commitLanes(ctx context.Context, end pglogrepl.LSN) error {
	var busy, empty []int
	for i, b := range f.lanes {
		if b.busy() {
			busy = append(busy, i)
		} else {
			empty = append(empty, i)
		}
	}
	if len(busy) == 0 {
		busy, empty = empty[:1], empty[1:]
	}
	if err := f.eachLane(busy, func(i int) error { return f.lanes[i].flush(ctx) }); err != nil {
		f.rollbackLanes()
		return err
	}
	counts := make([]checkpoints.ChangeCount, len(f.lanes))
	committed := make([]bool, len(f.lanes))
	err := f.eachLane(busy, func(i int) error {
		lanes := []int{i}
		if i == busy[0] {
			lanes = append(lanes, empty...)
		}
		counts[i] = f.lanes[i].counts
		if err := f.lanes[i].commit(ctx, checkpoints.Applied{LSN: end.String(), SourceTime: f.txTime, Lanes: lanes}); err != nil {
			return err
		}
		for _, l := range lanes {
			committed[l] = true
		}
		return nil
	})
	for i, ok := range committed {
		if ok {
			f.laneAt[i] = max(f.laneAt[i], end)
			f.report.Applied.Add(counts[i])
		}
	}
	f.applied = slices.Min(f.laneAt)
	f.report.Rows = f.report.Applied.Total()
	f.rollbackLanes() // the lanes that did not commit; resets the batch
	if err == nil {
		f.lastStatus = time.Time{} // tell the source now
	}
	return err
}

// eachLane runs fn for every lane in lanes, at once, and returns the
// first error.
func (f *follower) eachLane(lanes []int, fn func(i int) error) error {
	if len(lanes) == 1 {
		return fn(lanes[0])
	}
	errs := make([]error, len(lanes))
	var wg sync.WaitGroup
	for j, i := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[j] = fn(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// rollbackLanes abandons every open lane transaction and what the batch
// holds.
func (f *follower) rollbackLanes() {
	for _, b := range f.lanes {
		b.rollback()
	}
	f.txbuf, f.txbufBytes = nil, 0
	f.batchEnd = 0
	f.serial = len(f.lanes) == 1
}
