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
// # Parts
//
// With Config.Part (copy --part K/N) N processes, on N machines, copy one
// run together. The first part to arrive plans every table's units under
// the run's plan lock (checkpoints.Store.LockPlan) and the others read
// them: the units are the run's, never recomputed per part. A part copies
// the units checkpoints.Part.Owns gives it (a table's unit IDs round-robin
// over the parts, from a part the table's name hashes to), holds a lock of
// its own (checkpoints.Store.LockPart: the same part twice refuses, other
// parts run together), and must agree with the run's options, N included.
// A table's units start only when every table it references on the target
// is complete in every part: the part polls the checkpoints with a backoff
// (phase.Group.Ready, which holds no worker), noting which table it waits
// for. Each part reads a snapshot of its own, so the parts copy as of
// different moments; Part refuses Tenants and Snapshot (--follow). When a
// part's units are done it looks, under the plan lock, at what the others
// have left: nothing, and it sets the sequences and completes the run
// (Report.CompletedRun); otherwise Report.PartsLeft lists their units. A
// part that died is rerun alone and resumes its own units.
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
