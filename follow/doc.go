// Package follow keeps a Citus target in step with a source the
// application goes on writing, from the copy's snapshot to the cutover.
//
// How it fits together:
//
//   - Setup (the copy phase of copy --follow and migrate --follow) checks
//     the source can be followed (Preflight), creates a publication for the
//     planned tables and a logical replication slot (pgoutput) whose
//     exported snapshot every chunk of the copy reads, and records both in
//     the target's checkpoints (checkpoints.Stream). Rows committed before
//     the slot's consistent point are in the snapshot, the ones after come
//     from the slot: nothing falls between the two, nothing is in both.
//   - The follow phase (Phase, mode UntilStopped) streams the slot's
//     changes and applies them to the target through the coordinator, many
//     source transactions per target transaction, each target transaction
//     recording the source position it reached (checkpoints.RecordApplied):
//     the changes and the position commit together, the slot is told the
//     position only after that commit, and a restart resumes after the last
//     committed transaction, so each source transaction is applied exactly
//     once. Apply is idempotent besides (upsert by key, delete by key).
//   - Cutover (package cutover) blocks writes on the source, writes a fence
//     into the WAL, waits for the follower to apply past it, verifies, and
//     ends the stream.
//
// A crash during the copy loses the exported snapshot with its connection.
// Chunks copied as of it cannot be joined with the changes of a new slot
// (their rows are as of a moment no slot starts at), so the rerun drops the
// old slot, creates a new one and copies again from its snapshot, emptying
// the target tables first (pgcopydb refuses to resume such a copy at all,
// unless told to give up consistency).
package follow
