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

// StartStream records a new stream (or replaces the record of an earlier
// one of the same name, whose slot the caller dropped): nothing is applied
// yet, so applied_lsn is the consistent point.
func (s *Store) StartStream(ctx context.Context, name, slot, publication, consistentLSN string, identityFull []string) error {
	if identityFull == nil {
		identityFull = []string{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO tenantmover.streams AS s (name, slot, publication, consistent_lsn, applied_lsn, identity_full)
		VALUES ($1, $2, $3, $4::pg_lsn, $4::pg_lsn, $5)
		ON CONFLICT (name) DO UPDATE SET slot = EXCLUDED.slot, publication = EXCLUDED.publication,
			consistent_lsn = EXCLUDED.consistent_lsn, applied_lsn = EXCLUDED.applied_lsn, applied_at = NULL,
			source_time = NULL, inserts = 0, updates = 0, deletes = 0, truncates = 0, transactions = 0,
			stop = false, identity_full = EXCLUDED.identity_full, cutover_at = NULL, created_at = EXCLUDED.created_at`,
		name, slot, publication, consistentLSN, identityFull)
	if err != nil {
		return fmt.Errorf("recording stream %q: %w", name, err)
	}
	_, err = s.pool.Exec(ctx, `DELETE FROM tenantmover.stream_tenants WHERE stream = $1`, name)
	return err
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
	rows, err := s.pool.Query(ctx, `SELECT name, slot, publication, consistent_lsn::text, applied_lsn::text,
			applied_at, source_time, inserts, updates, deletes, truncates, transactions, stop, identity_full, cutover_at, created_at,
			(SELECT count(*) FROM tenantmover.stream_tenants t WHERE t.stream = s.name)::int
		FROM tenantmover.streams s WHERE $1 = '' OR name = $1 ORDER BY created_at`, name)
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
			&st.CutoverAt, &st.CreatedAt, &st.TenantsCount)
		return st, err
	})
}

// Applied is what one applied batch adds to its stream's record.
type Applied struct {
	// LSN is the end of the batch's last source transaction.
	LSN string
	// SourceTime is that transaction's commit time on the source.
	SourceTime time.Time
	Counts     ChangeCount
	// Tenants are the tenants the batch changed (text form).
	Tenants []string
}

// RecordApplied advances stream name to a.LSN in tx, the transaction that
// applied the batch's changes: both commit or neither. It fails when the
// stream's record is gone (cleaned up) or already past a.LSN (another
// follower), so no batch is ever counted twice.
func RecordApplied(ctx context.Context, tx Querier, name string, a Applied) error {
	c := a.Counts
	tag, err := tx.Exec(ctx, `UPDATE tenantmover.streams SET applied_lsn = $2::pg_lsn, applied_at = $3, source_time = $4,
			inserts = inserts + $5, updates = updates + $6, deletes = deletes + $7, truncates = truncates + $8,
			transactions = transactions + $9
		WHERE name = $1 AND applied_lsn <= $2::pg_lsn`,
		name, a.LSN, time.Now(), a.SourceTime, c.Inserts, c.Updates, c.Deletes, c.Truncates, c.Transactions)
	if err != nil {
		return fmt.Errorf("recording the applied position of stream %q: %w", name, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("stream %q is gone or already applied past %s (is another follower running?)", name, a.LSN)
	}
	if len(a.Tenants) == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO tenantmover.stream_tenants (stream, tenant)
		SELECT $1, t FROM unnest($2::text[]) AS t ON CONFLICT DO NOTHING`, name, a.Tenants)
	return err
}

// ChangedTenants lists the tenants stream name changed since its snapshot.
func (s *Store) ChangedTenants(ctx context.Context, name string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant FROM tenantmover.stream_tenants WHERE stream = $1 ORDER BY tenant`, name)
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
