package follow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// fencePrefix is the prefix of the logical messages cutover writes into
// the source's WAL (pg_logical_emit_message); the content is the stream's
// name.
const fencePrefix = "tenantmover.fence"

// TruncateError: the source truncated a followed table.
type TruncateError struct{ Tables []string }

func (e *TruncateError) Error() string {
	return fmt.Sprintf("the source truncated %s: following stopped before applying it; rerun with --on-truncate apply to truncate the target's too, or copy the table again (copy --restart)",
		strings.Join(e.Tables, ", "))
}

// message applies one decoded message at position at. A constraint the
// batch's reordering broke (where the source's order kept it) sends the
// follower back to read the same changes again, written in source order.
func (f *follower) message(ctx context.Context, m pglogrepl.Message, at pglogrepl.LSN) error {
	err := f.apply(ctx, m)
	if err != nil && isConstraint(err) && !f.strict() && !errors.Is(err, errRestream) {
		f.rollbackLanes()
		f.strictUntil = max(f.strictUntil, f.txFinal)
		f.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf("a reordered batch broke a constraint (%s): applying up to %s in source order", db.RedactError(err), f.strictUntil)})
		return errRestream
	}
	if err != nil && isConstraint(err) {
		return fmt.Errorf("%w: in source order too, so the source's rows break a constraint of the target (often a row moved to another tenant without its children, which the target's composite foreign keys refuse): fix the rows on the source, then rerun to continue", err)
	}
	return err
}

func (f *follower) apply(ctx context.Context, m pglogrepl.Message) error {
	switch m := m.(type) {
	case *pglogrepl.RelationMessage:
		return f.describe(ctx, m)
	case *pglogrepl.BeginMessage:
		// A transaction whose commit is before the committed position was
		// applied by an earlier run (the slot resends from its own,
		// possibly older, confirmed position).
		f.inTx, f.skip, f.txTime, f.txFinal = true, m.FinalLSN < f.applied, m.CommitTime, m.FinalLSN
		if f.idle() {
			f.batchStarted = time.Now()
		}
	case *pglogrepl.CommitMessage:
		return f.endTx(ctx, m)
	case *pglogrepl.InsertMessage:
		return f.change(ctx, m.RelationID, nil, m.Tuple, inserted)
	case *pglogrepl.UpdateMessage:
		return f.change(ctx, m.RelationID, m.OldTuple, m.NewTuple, updated)
	case *pglogrepl.DeleteMessage:
		return f.change(ctx, m.RelationID, m.OldTuple, nil, deleted)
	case *pglogrepl.TruncateMessage:
		return f.truncate(ctx, m)
	case *pglogrepl.LogicalDecodingMessage:
		if m.Prefix == fencePrefix && string(m.Content) == f.name {
			return f.fence(ctx, m.LSN)
		}
	}
	return nil
}

// describe takes a relation's description. The source sends it again
// after any invalidation of the relation (an ANALYZE that changed its
// statistics, an index, a GRANT), often in the middle of a batch: an
// unchanged description keeps the table the batch holds changes under, so
// that each row's changes stay in one place and the last one wins. A
// changed description (a schema change the target matches) first writes
// what the batch holds under the old one.
func (f *follower) describe(ctx context.Context, m *pglogrepl.RelationMessage) error {
	prev := f.rels[m.RelationID]
	if prev != nil && prev.desc == description(m) {
		return nil
	}
	t, err := resolve(m, f.env.Plan, f.target, f.dist)
	if err != nil {
		return err
	}
	if prev != nil {
		if err := f.writeHeld(ctx); err != nil {
			return err
		}
	}
	f.rels[m.RelationID] = t
	return nil
}

// writeHeld writes every change the open batch holds into its target
// transactions (making the batch serial), leaving nothing held.
func (f *follower) writeHeld(ctx context.Context) error {
	if err := f.goSerial(ctx); err != nil {
		return err
	}
	return f.lanes[0].flush(ctx)
}

// endTx ends a source transaction: the batch commits when full, when its
// time is up (under a steady stream no receive ever times out), or after
// each transaction in strict mode.
func (f *follower) endTx(ctx context.Context, m *pglogrepl.CommitMessage) error {
	f.inTx = false
	if f.skip {
		return nil
	}
	if err := f.distribute(ctx); err != nil {
		return err
	}
	f.batchEnd = m.TransactionEndLSN
	if f.size() >= f.cfg.BatchRows || time.Since(f.batchStarted) >= f.cfg.BatchTime ||
		m.CommitLSN <= f.strictUntil || (f.stopAt != 0 && m.TransactionEndLSN >= f.stopAt) {
		return f.commitLanes(ctx, m.TransactionEndLSN)
	}
	return nil
}

// fence commits everything before the cutover's fence, and the fence's
// position: the cutover waits for it.
func (f *follower) fence(ctx context.Context, at pglogrepl.LSN) error {
	if at <= f.applied {
		return nil
	}
	f.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf("reached the cutover's fence at %s", at)})
	return f.commitLanes(ctx, at)
}

// change takes one row change of the current source transaction, unless
// its lane committed it before a restart.
func (f *follower) change(ctx context.Context, rel uint32, oldT, newT *pglogrepl.TupleData, kind changeKind) error {
	if f.skip {
		return nil
	}
	t := f.rels[rel]
	if t == nil {
		return fmt.Errorf("source: a change of relation %d arrived before its description", rel)
	}
	old, err := decodeRow(t, oldT)
	if err != nil {
		return err
	}
	cur, err := decodeRow(t, newT)
	if err != nil {
		return err
	}
	c := &change{t: t, old: old, cur: cur, kind: kind, lane: laneOf(t, old, cur, len(f.lanes))}
	if f.txFinal < f.at(c.lane) {
		return nil
	}
	return f.route(ctx, c)
}

func (f *follower) strict() bool { return f.strictUntil != 0 && f.txFinal <= f.strictUntil }

// decodeRow reads a tuple in text format.
func decodeRow(t *table, td *pglogrepl.TupleData) (*row, error) {
	if td == nil {
		return nil, nil
	}
	if len(td.Columns) != len(t.cols) {
		return nil, &DDLError{Table: t.name.String(), Column: "?", Problem: fmt.Sprintf("arrived with %d columns where %d were described", len(td.Columns), len(t.cols))}
	}
	// A change held in a batch costs the memory of its values: one
	// allocation for all of a row's text and one for their headers, not
	// two per value.
	n := len(td.Columns)
	r := &row{vals: make([]*string, n)}
	var size int
	for _, c := range td.Columns {
		if c.DataType == 't' {
			size += len(c.Data)
		}
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, c := range td.Columns {
		if c.DataType == 't' {
			sb.Write(c.Data)
		}
	}
	text, strs, off := sb.String(), make([]string, n), 0
	for i, c := range td.Columns {
		switch c.DataType {
		case 't':
			strs[i] = text[off : off+len(c.Data)]
			off += len(c.Data)
			r.vals[i] = &strs[i]
		case 'u':
			if r.unchanged == nil {
				r.unchanged = make([]bool, n)
			}
			r.unchanged[i] = true
		case 'n':
		default:
			return nil, fmt.Errorf("source: column %s of %s arrived in format %q, expected text", t.cols[i], t.name, c.DataType)
		}
	}
	return r, nil
}

// truncate stops the follower, or with TruncateApply empties the target's
// tables too.
func (f *follower) truncate(ctx context.Context, m *pglogrepl.TruncateMessage) error {
	if f.skip {
		return nil
	}
	var ts []*table
	var names []string
	for _, id := range m.RelationIDs {
		if t := f.rels[id]; t != nil {
			ts = append(ts, t)
			names = append(names, t.name.String())
		}
	}
	if f.cfg.OnTruncate != TruncateApply {
		return &TruncateError{Tables: names}
	}
	if err := f.goSerial(ctx); err != nil {
		return err
	}
	const cascade = 1 // pgoutput's TRUNCATE option bit for CASCADE
	return f.lanes[0].truncate(ctx, ts, m.Option&cascade != 0)
}
