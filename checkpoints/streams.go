package checkpoints

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Stream is a followed change stream as its checkpoint row last recorded
// it. LSNs are in their text form (0/16B3748).
type Stream struct {
	Name          string     `json:"name"`
	Slot          string     `json:"slot"`
	Publication   string     `json:"publication"`
	ConsistentLSN string     `json:"consistent_lsn"`
	AppliedLSN    string     `json:"applied_lsn"`
	AppliedAt     *time.Time `json:"applied_at,omitempty"`
	// SourceTime is the commit time, on the source, of the last applied
	// transaction: now minus it is the lag in time while changes flow.
	SourceTime *time.Time  `json:"source_time,omitempty"`
	Counts     ChangeCount `json:"applied"`
	Stop       bool        `json:"stop,omitempty"`
	// IdentityFull are the source tables the stream set to REPLICA
	// IDENTITY FULL, to restore when it ends.
	IdentityFull []string   `json:"identity_full,omitempty"`
	CutoverAt    *time.Time `json:"cutover_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	TenantsCount int        `json:"changed_tenants"`
	// Lanes is the number of apply lanes.
	Lanes int `json:"lanes"`
}

// ChangeCount counts applied changes by kind.
type ChangeCount struct {
	Inserts      int64 `json:"inserts"`
	Updates      int64 `json:"updates"`
	Deletes      int64 `json:"deletes"`
	Truncates    int64 `json:"truncates"`
	Transactions int64 `json:"transactions"`
}

// Add adds o to c.
func (c *ChangeCount) Add(o ChangeCount) {
	c.Inserts += o.Inserts
	c.Updates += o.Updates
	c.Deletes += o.Deletes
	c.Truncates += o.Truncates
	c.Transactions += o.Transactions
}

// Total is the number of row changes.
func (c ChangeCount) Total() int64 { return c.Inserts + c.Updates + c.Deletes }

// StartStream records a new stream with lanes apply lanes (or replaces the
// record of an earlier one of the same name, whose slot the caller
// dropped): nothing is applied yet, so every lane is at the consistent
// point.
func (s *Store) StartStream(ctx context.Context, name, slot, publication, consistentLSN string, identityFull []string, lanes int) error {
	if identityFull == nil {
		identityFull = []string{}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `INSERT INTO tenantmover.streams AS s (name, slot, publication, consistent_lsn, applied_lsn, identity_full)
		VALUES ($1, $2, $3, $4::pg_lsn, $4::pg_lsn, $5)
		ON CONFLICT (name) DO UPDATE SET slot = EXCLUDED.slot, publication = EXCLUDED.publication,
			consistent_lsn = EXCLUDED.consistent_lsn, applied_lsn = EXCLUDED.applied_lsn, applied_at = NULL,
			source_time = NULL, inserts = 0, updates = 0, deletes = 0, truncates = 0, transactions = 0,
			stop = false, identity_full = EXCLUDED.identity_full, cutover_at = NULL, created_at = EXCLUDED.created_at`,
		name, slot, publication, consistentLSN, identityFull)
	if err != nil {
		return fmt.Errorf("recording stream %q: %w", name, err)
	}
	for _, q := range []string{`DELETE FROM tenantmover.stream_tenants WHERE stream = $1`, `DELETE FROM tenantmover.stream_lanes WHERE stream = $1`} {
		if _, err := tx.Exec(ctx, q, name); err != nil {
			return fmt.Errorf("recording stream %q: %w", name, err)
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO tenantmover.stream_lanes (stream, lane, applied_lsn)
		SELECT $1, l, $2::pg_lsn FROM generate_series(0, $3 - 1) AS l`, name, consistentLSN, max(lanes, 1))
	if err != nil {
		return fmt.Errorf("recording the lanes of stream %q: %w", name, err)
	}
	return tx.Commit(ctx)
}

// Lanes reads the applied position of each of stream name's lanes, by
// lane number.
func (s *Store) Lanes(ctx context.Context, name string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT applied_lsn::text FROM tenantmover.stream_lanes WHERE stream = $1 ORDER BY lane`, name)
	if err != nil {
		return nil, fmt.Errorf("reading the lanes of stream %q: %w", name, err)
	}
	lanes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err == nil && len(lanes) == 0 {
		err = fmt.Errorf("stream %q has no lanes: %w", name, ErrNoStream)
	}
	return lanes, err
}

// ErrNoStream is returned for a stream that was never recorded.
var ErrNoStream = errors.New("no such stream")

// Stream reads stream name; ErrNoStream when there is none.
func (s *Store) Stream(ctx context.Context, name string) (*Stream, error) {
	list, err := s.Streams(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("stream %q: %w", name, ErrNoStream)
	}
	return &list[0], nil
}

// Streams reads every stream (or only name, when not empty). A store of an
// older layout has none.
func (s *Store) Streams(ctx context.Context, name string) ([]Stream, error) {
	// The lanes hold the applied position and the counters (the stream's
	// own counters are those of layout 3, before lanes).
	rows, err := s.pool.Query(ctx, `SELECT name, slot, publication, consistent_lsn::text, coalesce(l.applied_lsn, s.applied_lsn)::text,
			coalesce(l.applied_at, s.applied_at), coalesce(l.source_time, s.source_time),
			s.inserts + coalesce(l.inserts, 0), s.updates + coalesce(l.updates, 0), s.deletes + coalesce(l.deletes, 0),
			s.truncates + coalesce(l.truncates, 0), s.transactions + coalesce(l.transactions, 0),
			stop, identity_full, cutover_at, created_at,
			(SELECT count(*) FROM tenantmover.stream_tenants t WHERE t.stream = s.name)::int, coalesce(l.n, 0)::int
		FROM tenantmover.streams s
		LEFT JOIN LATERAL (SELECT min(applied_lsn) AS applied_lsn, max(applied_at) AS applied_at, min(source_time) AS source_time,
				sum(inserts) AS inserts, sum(updates) AS updates, sum(deletes) AS deletes, sum(truncates) AS truncates,
				sum(transactions) AS transactions, count(*) AS n
			FROM tenantmover.stream_lanes WHERE stream = s.name) l ON true
		WHERE $1 = '' OR name = $1 ORDER BY created_at`, name)
	if isMissing(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Stream, error) {
		var st Stream
		c := &st.Counts
		err := row.Scan(&st.Name, &st.Slot, &st.Publication, &st.ConsistentLSN, &st.AppliedLSN, &st.AppliedAt,
			&st.SourceTime, &c.Inserts, &c.Updates, &c.Deletes, &c.Truncates, &c.Transactions, &st.Stop, &st.IdentityFull,
			&st.CutoverAt, &st.CreatedAt, &st.TenantsCount, &st.Lanes)
		return st, err
	})
}

// Applied is what one target transaction of a follower adds to its
// stream's record.
type Applied struct {
	// LSN is the end of the batch's last source transaction.
	LSN string
	// SourceTime is that transaction's commit time on the source.
	SourceTime time.Time
	// Lanes are the lanes whose changes up to LSN the transaction holds
	// (a lane with nothing to apply in the batch is recorded by another
	// lane's transaction); Counts are counted in the first.
	Lanes  []int
	Counts ChangeCount
	// Tenants are the tenants the batch changed (text form).
	Tenants []string
}

// RecordApplied advances the lanes a.Lanes of stream name to a.LSN in tx,
// the transaction that applied their changes: both commit or neither. A
// lane already past a.LSN (it had committed further before a restart, so
// its changes were skipped) keeps its position. It fails when the stream's
// record or a lane is gone (cleaned up).
func RecordApplied(ctx context.Context, tx Querier, name string, a Applied) error {
	c := a.Counts
	lanes := a.Lanes
	if len(lanes) == 0 {
		lanes = []int{0}
	}
	tag, err := tx.Exec(ctx, `UPDATE tenantmover.stream_lanes SET applied_lsn = greatest(applied_lsn, $3::pg_lsn), applied_at = $4,
			source_time = CASE WHEN applied_lsn <= $3::pg_lsn THEN $5 ELSE source_time END,
			inserts = inserts + CASE WHEN lane = $6 THEN $7 ELSE 0 END, updates = updates + CASE WHEN lane = $6 THEN $8 ELSE 0 END,
			deletes = deletes + CASE WHEN lane = $6 THEN $9 ELSE 0 END, truncates = truncates + CASE WHEN lane = $6 THEN $10 ELSE 0 END,
			transactions = transactions + CASE WHEN lane = $6 THEN $11 ELSE 0 END
		WHERE stream = $1 AND lane = ANY($2::int[])`,
		name, lanes, a.LSN, time.Now(), a.SourceTime, lanes[0], c.Inserts, c.Updates, c.Deletes, c.Truncates, c.Transactions)
	if err != nil {
		return fmt.Errorf("recording the applied position of stream %q: %w", name, err)
	}
	if tag.RowsAffected() != int64(len(lanes)) {
		return fmt.Errorf("stream %q is gone (or lost lanes): was it cleaned up meanwhile?", name)
	}
	if len(a.Tenants) == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO tenantmover.stream_tenants AS s (stream, tenant, changed_lsn)
		SELECT $1, t, $3::pg_lsn FROM unnest($2::text[]) AS t
		ON CONFLICT (stream, tenant) DO UPDATE SET changed_lsn = greatest(s.changed_lsn, EXCLUDED.changed_lsn)`, name, a.Tenants, a.LSN)
	return err
}

// ChangedTenants lists the tenants stream name changed since its snapshot.
func (s *Store) ChangedTenants(ctx context.Context, name string) ([]string, error) {
	return s.ChangedTenantsAfter(ctx, name, "0/0")
}

// ChangedTenantsAfter lists the tenants stream name changed in a batch
// that ended after the source position lsn (or in one an older layout
// recorded without its position).
func (s *Store) ChangedTenantsAfter(ctx context.Context, name, lsn string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant FROM tenantmover.stream_tenants
		WHERE stream = $1 AND (changed_lsn IS NULL OR changed_lsn > $2::pg_lsn) ORDER BY tenant`, name, lsn)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// RequestStop asks stream name's follower to end once it has applied what
// it received (cutover sets it; the follower reads it between batches).
func (s *Store) RequestStop(ctx context.Context, name string, stop bool) error {
	_, err := s.pool.Exec(ctx, `UPDATE tenantmover.streams SET stop = $2 WHERE name = $1`, name, stop)
	return err
}

// StopRequested says whether stream name's follower was asked to end.
func (s *Store) StopRequested(ctx context.Context, name string) (bool, error) {
	var stop bool
	err := s.pool.QueryRow(ctx, `SELECT stop FROM tenantmover.streams WHERE name = $1`, name).Scan(&stop)
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil
	}
	return stop, err
}

// MarkCutover records that stream name was cut over.
func (s *Store) MarkCutover(ctx context.Context, name string) error {
	_, err := s.pool.Exec(ctx, `UPDATE tenantmover.streams SET cutover_at = $2, stop = true WHERE name = $1`, name, time.Now())
	return err
}

// ForgetStream deletes stream name's record (after its slot was dropped).
func (s *Store) ForgetStream(ctx context.Context, name string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM tenantmover.streams WHERE name = $1`, name)
	return err
}
