package pgcopy

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// SetSequences moves the target's sequences past the source's and past
// the largest values on the target, as a copy does at its end; cutover
// calls it once the source's writes are blocked, so the application's
// first inserts on the target get new ids.
func SetSequences(ctx context.Context, p *plan.Plan, src, dst *pgxpool.Pool) ([]Sequence, error) {
	target, err := schema.Load(ctx, dst, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the target schema: %w", err)
	}
	e := &engine{plan: p, src: src, dst: dst, target: target, jobs: selectJobs(p), report: &Report{}}
	if err := e.setSequences(ctx); err != nil {
		return nil, err
	}
	return e.report.Sequences, nil
}

// setSequences moves every sequence a copied target column owns (serial and
// identity columns) past both the largest copied value and the source
// sequence's position, so the application's next inserts on the target
// neither collide with copied rows nor reuse ids the source handed out. A
// sequence is never moved backwards.
func (e *engine) setSequences(ctx context.Context) error {
	for _, j := range e.jobs {
		if j.skip != "" {
			continue
		}
		t := e.target.Table(j.name)
		for _, c := range t.Columns {
			if c.Sequence == nil {
				continue
			}
			var srcSeq *db.QualifiedName
			if sc := j.plan.Source.Column(c.Name); sc != nil {
				srcSeq = sc.Sequence
			}
			v, err := e.setSequence(ctx, j, c.Name, *c.Sequence, srcSeq)
			if err != nil {
				return fmt.Errorf("setting sequence %s of %s.%s: %w", c.Sequence, j.key, db.QuoteIfNeeded(c.Name), err)
			}
			if v > 0 {
				e.report.Sequences = append(e.report.Sequences, Sequence{Table: j.key, Column: c.Name, Sequence: c.Sequence.String(), Value: v})
			}
		}
	}
	return nil
}

// setSequence sets one target sequence and returns the value it now has
// (0 when there was nothing to move it past).
func (e *engine) setSequence(ctx context.Context, j *job, column string, seq db.QualifiedName, srcSeq *db.QualifiedName) (int64, error) {
	var want int64
	if srcSeq != nil {
		v, err := lastValue(ctx, e.src, *srcSeq)
		if err != nil {
			return 0, fmt.Errorf("reading source sequence %s: %w", srcSeq, err)
		}
		want = v
	}
	// The largest value on the source, which holds every copied row: there
	// the column is usually the key by itself, so the max is an index
	// probe, where on a Citus target the key starts with the tenant column
	// and the max scans every shard (cutover asks for it with writes
	// blocked).
	var maxCopied *int64
	if err := e.src.QueryRow(ctx, "SELECT max("+db.Ident(column)+")::bigint FROM "+j.plan.Source.Name.Quoted()).Scan(&maxCopied); err != nil {
		return 0, fmt.Errorf("source: %w", err)
	}
	if maxCopied != nil {
		want = max(want, *maxCopied)
	}
	current, err := lastValue(ctx, e.dst, seq)
	if err != nil {
		return 0, err
	}
	if want <= current {
		return max(current, 0), nil
	}
	_, err = e.dst.Exec(ctx, "SELECT setval($1::regclass, $2::bigint, true)", seq.Quoted(), want)
	return want, err
}

// lastValue is the last value a sequence handed out (one less than the
// next when it never did).
func lastValue(ctx context.Context, q *pgxpool.Pool, seq db.QualifiedName) (int64, error) {
	var last int64
	var called bool
	if err := q.QueryRow(ctx, "SELECT last_value, is_called FROM "+seq.Quoted()).Scan(&last, &called); err != nil {
		return 0, err
	}
	if !called {
		last--
	}
	return last, nil
}
