package follow

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/backfill"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// Problem is one reason the source cannot be followed, with the fix.
type Problem struct {
	Check   string `json:"check"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

// PreflightError lists every problem found before anything was changed.
type PreflightError struct{ Problems []Problem }

func (e *PreflightError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Message + " (" + p.Fix + ")"
	}
	return fmt.Sprintf("the source cannot be followed, nothing was changed: %s", strings.Join(parts, "; "))
}

// Preflight checks, before anything changes, what following the source
// needs: logical WAL, a free replication slot and WAL sender, the
// REPLICATION privilege, a key for every table's changes, the fill
// triggers of nested tables (rows the application inserts get their tenant
// from them), and it reports the WAL the slot may retain. fresh says a new
// slot will be created (an existing stream's slot needs none free).
func Preflight(ctx context.Context, src *pgxpool.Pool, p *plan.Plan, fresh bool) (notes []string, err error) {
	var probs []Problem
	add := func(check, msg, fix string) { probs = append(probs, Problem{check, msg, fix}) }
	var s serverFacts
	if err := s.read(ctx, src); err != nil {
		return nil, fmt.Errorf("source: reading replication settings: %w", err)
	}
	if s.walLevel != "logical" {
		add("wal_level", fmt.Sprintf("wal_level is %s", s.walLevel), "set wal_level = logical in postgresql.conf and restart the server")
	}
	if fresh && s.slotsUsed >= s.maxSlots {
		add("max_replication_slots", fmt.Sprintf("all %d replication slots are in use", s.maxSlots),
			fmt.Sprintf("raise max_replication_slots above %d and restart, or drop an unused slot with pg_drop_replication_slot", s.maxSlots))
	}
	if s.sendersUsed >= s.maxSenders {
		add("max_wal_senders", fmt.Sprintf("all %d WAL senders are in use", s.maxSenders),
			fmt.Sprintf("raise max_wal_senders above %d and restart", s.maxSenders))
	}
	if !s.replication {
		add("replication", fmt.Sprintf("role %s has no REPLICATION privilege", s.user),
			fmt.Sprintf("ALTER ROLE %s REPLICATION, or connect as a role that has it", s.user))
	}
	tp, err := tableProblems(ctx, src, p)
	if err != nil {
		return nil, err
	}
	probs = append(probs, tp...)
	if len(probs) > 0 {
		return nil, &PreflightError{Problems: probs}
	}
	if s.keepSize == "-1" {
		notes = append(notes, "max_slot_wal_keep_size is unlimited: while the follower is stopped, the slot keeps every WAL file the source writes; watch the disk, or end an abandoned stream with 'tenantmover cleanup'")
	} else {
		notes = append(notes, fmt.Sprintf("max_slot_wal_keep_size is %s: a follower stopped longer than that much WAL loses its slot and the stream must start over", s.keepSize))
	}
	return notes, nil
}

type serverFacts struct {
	walLevel, user, keepSize string
	maxSlots, slotsUsed      int
	maxSenders, sendersUsed  int
	replication              bool
}

func (s *serverFacts) read(ctx context.Context, src *pgxpool.Pool) error {
	var slots, senders string
	err := src.QueryRow(ctx, `SELECT current_setting('wal_level'), current_user, current_setting('max_slot_wal_keep_size'),
			current_setting('max_replication_slots'), (SELECT count(*) FROM pg_replication_slots)::int,
			current_setting('max_wal_senders'), (SELECT count(*) FROM pg_stat_replication)::int,
			(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user)`).
		Scan(&s.walLevel, &s.user, &s.keepSize, &slots, &s.slotsUsed, &senders, &s.sendersUsed, &s.replication)
	if err != nil {
		return err
	}
	s.maxSlots, _ = strconv.Atoi(slots)
	s.maxSenders, _ = strconv.Atoi(senders)
	return nil
}

// tableProblems checks every planned table can be followed.
func tableProblems(ctx context.Context, src *pgxpool.Pool, p *plan.Plan) ([]Problem, error) {
	var probs []Problem
	for _, t := range p.Included() {
		name := t.Name()
		if t.Source.PrimaryKey == nil && t.Source.ReplicaIdentity != "f" && t.Source.ReplicaIdentity != "i" {
			probs = append(probs, Problem{"replica_identity",
				fmt.Sprintf("%s has no primary key: its updates and deletes cannot be found on the target", name),
				fmt.Sprintf("add a primary key, or ALTER TABLE %s REPLICA IDENTITY FULL", name)})
		}
		if t.Kind != plan.Nested {
			continue
		}
		ok, err := triggerExists(ctx, src, t)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		if !ok {
			probs = append(probs, Problem{"fill_trigger",
				fmt.Sprintf("%s has no fill trigger for %s: rows the application inserts would have no tenant", name, t.TenantColumn),
				"run 'tenantmover backfill --keep-triggers' again (migrate keeps them), then rerun"})
		}
	}
	return probs, nil
}

func triggerExists(ctx context.Context, src *pgxpool.Pool, t *plan.Table) (bool, error) {
	var ok bool
	err := src.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = $2 AND tgenabled <> 'D')`,
		t.Name().Quoted(), backfill.FillTrigger(t.Name(), t.TenantColumn)).Scan(&ok)
	return ok, err
}

// errNoStream says a follow phase has no stream to follow.
var errNoStream = errors.New("no stream to follow")
