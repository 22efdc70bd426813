package checkpoints

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Part is one share of a run that N processes work on together (copy
// --part K/N): K of N, counted from 1. The zero Part is the whole run.
//
// The units of a run are planned once, by the first part to arrive, and
// every part reads them; a part's units are the ones Owns says, a
// computation over the unit's table and ID that every part makes the same
// way, so the parts' units are disjoint and together cover the run.
type Part struct {
	K, N int
}

// ParsePart reads "K/N" (1 <= K <= N).
func ParsePart(s string) (Part, error) {
	ks, ns, ok := strings.Cut(strings.TrimSpace(s), "/")
	k, kerr := strconv.Atoi(strings.TrimSpace(ks))
	n, nerr := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || kerr != nil || nerr != nil {
		return Part{}, fmt.Errorf("--part %q: give K/N, this process's part K of N parts (for example 2/3)", s)
	}
	p := Part{K: k, N: n}
	return p, p.Validate()
}

// Validate checks 1 <= K <= N.
func (p Part) Validate() error {
	if p.N < 1 || p.K < 1 || p.K > p.N {
		return fmt.Errorf("--part %d/%d: K must be between 1 and N, and N at least 1", p.K, p.N)
	}
	return nil
}

// Whole reports whether p is the whole run (no --part).
func (p Part) Whole() bool { return p.N == 0 }

func (p Part) String() string { return fmt.Sprintf("%d/%d", p.K, p.N) }

// Owns reports whether unit id of table is this part's. A table's units go
// round-robin over the parts, starting at a part the table's name picks
// (FNV-1a of the name, mod N): each part gets every N-th chunk of a big
// table (the parts' shares of it differ by one chunk at most), and
// one-chunk tables spread over the parts instead of all landing on part 1.
func (p Part) Owns(table string, id int) bool {
	return p.Whole() || PartOf(table, id, p.N) == p.K
}

// PartOf is the part (1..n) owning unit id of table among n parts.
func PartOf(table string, id, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(table))
	return int((uint64(h.Sum32())+uint64(id))%uint64(n)) + 1
}

func partLockKey(run string, p Part) string { return run + "\x00part " + p.String() }
func planLockKey(run string) string         { return run + "\x00plan" }

// LockPart takes the advisory lock of part p of run, as Lock does for a
// whole run: two processes of the same part refuse each other (after
// LockWait), different parts run together.
func (s *Store) LockPart(ctx context.Context, run string, p Part) (unlock func(), err error) {
	return s.lock(ctx, partLockKey(run, p), LockWait, &ErrRunLocked{Run: run, Part: p.String()})
}

// LockPlan takes the lock under which the parts of run start it and plan
// its units (one at a time, so the first plans and the others read its
// units), waiting until ctx ends for a part planning now. Held briefly.
func (s *Store) LockPlan(ctx context.Context, run string) (unlock func(), err error) {
	return s.lock(ctx, planLockKey(run), 0, &ErrRunLocked{Run: run})
}

// StartPart records that part p of the run is running. (The times come
// from the inserted row's defaults: on Citus the checkpoint tables are
// reference tables, whose upserts take only immutable functions.)
func (r *Run) StartPart(ctx context.Context, phase string, p Part) error {
	_, err := r.store.pool.Exec(ctx, `INSERT INTO tenantmover.parts (run, phase, part, parts) VALUES ($1, $2, $3, $4)
		ON CONFLICT (run, phase, part) DO UPDATE SET parts = EXCLUDED.parts, state = 'running', started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at, finished_at = NULL`,
		r.Name, phase, p.K, p.N)
	if err != nil {
		return fmt.Errorf("recording the start of part %s: %w", p, err)
	}
	return nil
}

// EndPart records how part p ended (EndState of its error), on a context
// of its own (ctx may be the cancelled one), best effort.
func (r *Run) EndPart(ctx context.Context, phase string, p Part, state string) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var finished *time.Time
	if state == Done {
		now := time.Now()
		finished = &now
	}
	_, _ = r.store.pool.Exec(fctx, `UPDATE tenantmover.parts SET state = $4, updated_at = now(), finished_at = $5
		WHERE run = $1 AND phase = $2 AND part = $3`, r.Name, phase, p.K, state, finished)
}

// UnitsLeft counts the units of a table in a phase that are not done, by
// any part.
func (r *Run) UnitsLeft(ctx context.Context, phase, table string) (int, error) {
	var n int
	err := r.store.pool.QueryRow(ctx, `SELECT count(*) FROM tenantmover.units WHERE run = $1 AND phase = $2 AND table_name = $3 AND state <> 'done'`,
		r.Name, phase, table).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("reading the checkpoints of %s: %w", table, err)
	}
	return n, nil
}

// PartLeft is what one part of a run has left.
type PartLeft struct {
	Part  Part
	Units int
	// Tables are the units left by table.
	Tables map[string]int
}

// Left lists, for each of n parts, the units of phase not done yet (parts
// with nothing left are left out).
func (r *Run) Left(ctx context.Context, phase string, n int) ([]PartLeft, error) {
	units, err := r.store.unitStates(ctx, r.Name, phase)
	if err != nil {
		return nil, err
	}
	left := make([]PartLeft, n)
	for _, u := range units {
		if u.done {
			continue
		}
		k := PartOf(u.table, u.id, n)
		l := &left[k-1]
		if l.Tables == nil {
			l.Tables = map[string]int{}
		}
		l.Units++
		l.Tables[u.table]++
	}
	var out []PartLeft
	for i, l := range left {
		if l.Units > 0 {
			l.Part = Part{K: i + 1, N: n}
			out = append(out, l)
		}
	}
	return out, nil
}

type unitState struct {
	table string
	id    int
	done  bool
}

func (s *Store) unitStates(ctx context.Context, run, phase string) ([]unitState, error) {
	rows, err := s.pool.Query(ctx, `SELECT table_name, unit, state = 'done' FROM tenantmover.units WHERE run = $1 AND phase = $2`, run, phase)
	if err != nil {
		return nil, fmt.Errorf("reading the units of run %q: %w", run, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (unitState, error) {
		var u unitState
		err := row.Scan(&u.table, &u.id, &u.done)
		return u, err
	})
}

// PartStatus is one part of a run copied in parts.
type PartStatus struct {
	Phase      string     `json:"phase"`
	Part       int        `json:"part"`
	Parts      int        `json:"parts"`
	State      string     `json:"state"`
	Units      int        `json:"units"`
	UnitsDone  int        `json:"units_done"`
	Locked     bool       `json:"locked"` // a process holds the part now
	StartedAt  time.Time  `json:"started_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// parts reads the parts of run with their units and whether a process
// holds each now. Parts that never started are listed too (state
// "pending"), so status shows every part of the run.
func (s *Store) parts(ctx context.Context, run string) ([]PartStatus, error) {
	rows, err := s.pool.Query(ctx, `SELECT phase, part, parts, state, started_at, updated_at, finished_at
		FROM tenantmover.parts WHERE run = $1 ORDER BY phase, part`, run)
	if err != nil {
		return nil, err
	}
	recorded, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PartStatus, error) {
		var p PartStatus
		err := row.Scan(&p.Phase, &p.Part, &p.Parts, &p.State, &p.StartedAt, &p.UpdatedAt, &p.FinishedAt)
		return p, err
	})
	if err != nil || len(recorded) == 0 {
		return nil, err
	}
	var out []PartStatus
	byPhase := map[string][]PartStatus{}
	var phases []string
	for _, p := range recorded {
		if byPhase[p.Phase] == nil {
			phases = append(phases, p.Phase)
		}
		byPhase[p.Phase] = append(byPhase[p.Phase], p)
	}
	for _, ph := range phases {
		list := byPhase[ph]
		n := list[len(list)-1].Parts
		all := make([]PartStatus, n)
		for i := range all {
			all[i] = PartStatus{Phase: ph, Part: i + 1, Parts: n, State: Pending}
		}
		for _, p := range list {
			if p.Part >= 1 && p.Part <= n {
				all[p.Part-1] = p
			}
		}
		units, err := s.unitStates(ctx, run, ph)
		if err != nil {
			return nil, err
		}
		for _, u := range units {
			p := &all[PartOf(u.table, u.id, n)-1]
			p.Units++
			if u.done {
				p.UnitsDone++
			}
		}
		for i := range all {
			key := lockKey(partLockKey(run, Part{K: i + 1, N: n}))
			if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted
				AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2
				AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`, lockSpace, key).Scan(&all[i].Locked); err != nil {
				return nil, fmt.Errorf("reading the locks of run %q: %w", run, err)
			}
		}
		out = append(out, all...)
	}
	return out, nil
}
