// Package pgcopy streams the tables of a tenant plan from the source
// database into the target (plain PostgreSQL or a Citus coordinator) with
// COPY, in parallel chunks, exactly once, resumable after any crash.
//
// # How a table travels
//
// Each table is split into primary-key ranges of about Config.ChunkRows rows,
// computed once when the run first sees the table and stored as checkpoint
// units on the target (schema tenantmover). A chunk is
//
//	COPY (SELECT cols FROM t WHERE key range) TO STDOUT (FORMAT binary)
//
// on a source connection, piped through an io.Pipe, unchanged and never
// decoded, into
//
//	COPY t (cols) FROM STDIN (FORMAT binary)
//
// on a target connection, inside one target transaction that also marks the
// chunk done. So a chunk and its checkpoint commit together (on Citus the
// coordinator commits both with two-phase commit): after a crash, kill -9 or
// a lost connection, a rerun skips exactly the chunks that committed and
// redoes the rest. The last chunk of a table is open ended, so a resumed
// run also copies rows the source gained after the boundaries were fixed.
//
// Every chunk a process copies reads one source snapshot, exported when the
// copying starts and held open until it ends: the tables arrive as of one
// moment, so on a live source a child row never arrives without the parent
// row it references. Rows written after that moment are not copied (copy
// the changed tenants again with Config.Tenants and Replace at cutover). A
// rerun after a crash copies its remaining chunks as of a new snapshot.
//
// Reference tables go first, then distributed tables in plan order; a
// table's chunks start only when every table it has a foreign key to on the
// target is complete. Up to Config.Workers chunks are in flight at a time,
// biggest tables first, so the run does not end with one long tail.
//
// # Tenants
//
// With Config.Tenants only those tenants' rows are copied: one unit per
// tenant, in which one source snapshot (REPEATABLE READ) feeds every
// distributed table of that tenant into one target transaction, so a tenant
// arrives whole or not at all. With Config.Replace the tenant's existing
// target rows are deleted in that same transaction first (children before
// parents). Reference tables are copied only when the target's are empty.
//
// # Safety
//
// Before anything is written, every table is checked: it exists on the
// target, every source column exists there with the same type, and nested
// tables have their tenant column on the source (backfill ran). A target
// already holding rows in a range the checkpoints do not account for is
// refused (ErrTargetNotEmpty) unless a restart (phase.Env.Restart) empties it
// first.
//
// COPY takes no bind parameters, so range bounds and tenant values appear in
// the COPY statements as quoted literals (phase.Literals) cast to the column's
// type; every other statement binds its values.
package pgcopy
