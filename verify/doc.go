// Package verify proves that every tenant arrived whole: per table and per
// tenant it compares row counts (and with Config.Checksum a content hash)
// between the source and the target, and on a Citus target it also checks
// every shard placement directly on its worker (every row sits in the shard
// its tenant hashes to; the placements of a shard agree) and the tenant
// invariant (a nested row's tenant equals its parent's).
//
// Every comparison is an aggregate computed in the databases and merged as
// two sorted streams, so memory stays flat however many tenants there are.
// Tenants stream in the byte order of their text form (ORDER BY ... COLLATE
// "C" on both sides), which is also Go's string order: the merge compares
// with strings.Compare and refuses a stream that is not in that order rather
// than silently pairing the wrong tenants.
//
// The tenant invariant is counted in the same scans as the per-tenant
// counts where it can be (a LEFT JOIN of the child to its parent; see fold),
// so it costs a join, not another read of the child; a separate anti-join
// then narrows only the violations it found down to keys. A check on the
// target that a validated, enforced composite foreign key of the target
// already holds (on Citus, on every shard placement too) is not run at all:
// the database refused every row that would break it. Result.Invariants
// lists every check, held or run (see heldBy; Config.RecheckForeignKeys
// runs them all).
//
// The package never prints: Run reports progress through a callback and
// returns a Result listing every difference.
package verify
