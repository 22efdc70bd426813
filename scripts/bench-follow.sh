#!/usr/bin/env bash
# Benchmark the follower of copy --follow (issue 13, "Fast") on a Citus 1+2
# cluster, in one run, next to baselines measured in the same run:
#
#   1. keep-up  an application (pgbench -R, 10 row changes per transaction:
#               5 purchase inserts, 4 purchase updates, 1 product update,
#               across the sample's stores) writes at a fixed rate while the
#               follower streams; the lag (source pg_current_wal_insert_lsn() vs
#               the target's lowest lane's applied_lsn, and now() vs
#               the applied transaction's source commit time) is sampled
#               about every second. Kept up = caught up within 5s of the writer
#               stopping.
#   2. backlog  the follower is stopped (SIGINT, exit 130); the peers'
#               databases (second and third Citus databases on the same
#               cluster: schema by plan --apply, data by tenantmover copy)
#               and slots are made while the source is quiet, so all start
#               from the state the tool's target is in; then a backlog of
#               --backlog row changes is written on the source in
#               transactions of --backlog-tx rows (60% purchase inserts, 30%
#               updates of distinct existing purchases, 10% deletes of
#               existing purchases without refunds: no key is touched twice,
#               so the follower's per-batch net effect saves nothing),
#               followed by a marker transaction; an applier is done when
#               its target has the marker.
#   3. peer     first `pgcopydb follow --endpos` (wal2json; the Debian 0.10
#               package; stream setup + sentinel apply made before the
#               backlog), stopped at its first ERROR/FATAL line, which is
#               printed (it exits 0 even then); when pgcopydb cannot follow,
#               the changes are replayed as plain SQL through psql instead:
#               decoded with wal2json by pg_logical_slot_peek_changes on a
#               slot made before the backlog, one statement per change in
#               the source's transactions, keyed by the target's primary key
#               (which has the tenant column, so Citus routes each to one
#               shard), into the third database; that is the baseline
#               (--peer both runs both).
#   4. drain    the tool's rerun of copy --follow resumes from its slot and
#               is timed until the target has the marker; the ratio is its
#               rate over the peer's (run after the peers: pgcopydb's
#               sentinel table is dropped first, as tenantmover's runs would
#               see a source table their plan lacks).
#   5. memory   one source transaction of --big inserts; the follower's peak
#               RSS (VmHWM) before and after it.
# For each phase: the CPU seconds of every server (source, coordinator,
# worker1, worker2: utime+stime of the postmaster, of its live children and
# of its reaped children, from /proc, before and after) and of the client;
# they do not depend on how busy the machine is, the wall times do.
#
#   scripts/bench-follow.sh                         # medium sample, 10,000 changes/s, 1M backlog
#   scripts/bench-follow.sh --size small --backlog 200000 --duration 30
#   FOLLOW_FLAGS='--lanes 8' scripts/bench-follow.sh  # extra flags for copy --follow
#
# Flags: --size small|medium|large (default medium), --rate TPS (writer
# transactions/s, default 1000 = 10,000 row changes/s), --clients N (pgbench
# clients, default 8), --duration S (default 60), --backlog N (default
# 1000000), --backlog-tx N (rows per backlog transaction, default 1000),
# --big N (rows of the memory phase's transaction, default 1000000), --peer
# auto|pgcopydb|psql|both (default auto: pgcopydb, psql when it fails),
# --peer-timeout S (default 1800), --keep (leave the servers running).
#
# Servers come from scripts/dev-cluster.sh in $BENCH_DIR (default
# /tmp/tenantmover-bench-follow, ports from $BENCH_PORT, default 30432); the
# run changes the source, so every run starts from new servers, and they are
# stopped at the end unless --keep. The source is allowed wal2json as an
# output plugin (output_plugin_libraries), as pgcopydb needs. Figures go to
# stdout, progress to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=medium RATE=1000 CLIENTS=8 DURATION=60 BACKLOG=1000000 BACKLOG_TX=1000 BIG=1000000
PEER=auto PEER_TIMEOUT=1800 KEEP=no
while [[ $# -gt 0 ]]; do
	case $1 in
	--size) SIZE=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--clients) CLIENTS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--backlog) BACKLOG=$2; shift 2 ;;
	--backlog-tx) BACKLOG_TX=$2; shift 2 ;;
	--big) BIG=$2; shift 2 ;;
	--peer) PEER=$2; shift 2 ;;
	--peer-timeout) PEER_TIMEOUT=$2; shift 2 ;;
	--keep) KEEP=yes; shift ;;
	*) echo "bench-follow: unknown argument $1" >&2; exit 2 ;;
	esac
done
case $PEER in auto | pgcopydb | psql | both) ;; *) echo "bench-follow: --peer takes auto, pgcopydb, psql or both" >&2; exit 2 ;; esac
FOLLOW_FLAGS=${FOLLOW_FLAGS:-}

export TENANTMOVER_DEV_DIR=${BENCH_DIR:-/tmp/tenantmover-bench-follow}
export TENANTMOVER_DEV_PORT=${BENCH_PORT:-30432}
DIR=$TENANTMOVER_DEV_DIR
RUN=bench
log() { echo "bench-follow: $(date +%T) $*" >&2; }
die() { log "$*"; exit 1; }

[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing: apt-get install -y time"
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -1)
WORK=$(mktemp -d /tmp/bench-follow.XXXXXX)
chmod 755 "$WORK"
BIN=$WORK/tenantmover
go build -o "$BIN" ./cmd/tenantmover
go build -o "$WORK/gen-monolith" ./scripts/gen-monolith

# Background processes this script started (by pid), ended at exit.
FPID= WRITER= SAMPLER= PGC=
finish() {
	local p
	for p in $FPID $WRITER $SAMPLER; do kill "$p" 2>/dev/null || true; done
	[[ -n $PGC ]] && kill -KILL -- "-$PGC" 2>/dev/null || true
	wait 2>/dev/null || true
	if [[ $KEEP == no ]]; then scripts/dev-cluster.sh stop >/dev/null 2>&1 || true; fi
	log "logs in $WORK"
}
trap finish EXIT

if [[ -d $DIR ]]; then
	log "removing the servers of an earlier run in $DIR (every run starts afresh)"
	scripts/dev-cluster.sh stop >/dev/null 2>&1
fi
eval "$(scripts/dev-cluster.sh start)"
[[ $(cat "$DIR/citus") == yes ]] || die "Citus is not installed: this benchmark needs a Citus coordinator and workers"
SRC=$TENANTMOVER_SOURCE DST=$TENANTMOVER_TARGET
NODES=(source coordinator worker1 worker2)
port_of() { awk -v n="$1" '$1 == n {print $2}' "$DIR/nodes"; }
url_on() { echo "postgres://postgres@127.0.0.1:$1/$2?sslmode=disable"; }

q() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
now() { date +%s.%N; }
calc() { echo "$*" | bc -l; }
fmt() { printf "%.${2:-1}f" "$1"; }
lsn() { local hi=${1%/*} lo=${1#*/}; echo $(((16#$hi << 32) + 16#$lo)); }
# state URL: a fingerprint of what the benchmark writes (purchase, product).
state() { q "$1" -c "SELECT (SELECT format('purchase %s rows, sum(id) %s, sum(amount) %s', count(*), sum(id), sum(amount)) FROM purchase) || (SELECT format('; product sum(quantity) %s', sum(quantity)) FROM product)"; }
# same_as_source URL WHAT: fails naming both states when URL's differs from
# the source's. It looks again for a few seconds: the marker (a reference
# table row, read from the coordinator's own placement) shows as soon as the
# coordinator commits the follower's batch, and Citus commits the workers'
# prepared transactions only after that, so a reader can see the marker a
# moment before the rest of the batch.
same_as_source() {
	local a b i
	a=$(state "$SRC")
	for i in $(seq 20); do
		b=$(state "$1")
		[[ $a == "$b" ]] && return
		sleep 0.5
	done
	die "$2: the target differs from the source: source $a; target $b"
}
changes() { q "$1" -c "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE schemaname = 'public'"; }
# The lanes hold the applied position (the lowest lane's) and the counters
# (the stream's own are those of a stream from before lanes).
LANES="(SELECT min(applied_lsn) AS applied_lsn, min(source_time) AS source_time, sum(inserts + updates + deletes) AS n FROM tenantmover.stream_lanes WHERE stream = '$RUN')"
applied() { q "$DST" -c "SELECT s.inserts + s.updates + s.deletes + coalesce(l.n, 0) FROM tenantmover.streams s, $LANES l WHERE s.name = '$RUN'"; }

# ---- CPU seconds of the servers, from /proc -------------------------------
# shellcheck source=scripts/lib/cpu.sh
. "$(dirname "$0")/lib/cpu.sh"
# proc_ticks PID: utime+stime of one live process (all its threads).
proc_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# cpu_line PHASE CLIENT_SECONDS: one row of the CPU table (printed at the end).
CPU_ROWS=()
cpu_line() {
	local n row
	row=$(printf '%-22s' "$1")
	for n in "${NODES[@]}"; do row+=$(printf ' %11s' "$(cpu_seconds "$n")"); done
	CPU_ROWS+=("$row$(printf ' %11s' "$2")")
}
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# ---- the follower -----------------------------------------------------------
# start_follower runs copy --follow in the background (the first run copies,
# a rerun resumes from the slot) and returns once it streams.
start_follower() {
	# shellcheck disable=SC2086 # FOLLOW_FLAGS are words
	"$BIN" copy --follow --source "$SRC" --target "$DST" --tenant-table store --run "$RUN" --no-progress $FOLLOW_FLAGS \
		>>"$WORK/follow.out" 2>>"$WORK/follow.log" &
	FPID=$!
	local start=$SECONDS lines
	lines=$(grep -c '^following slot' "$WORK/follow.log" || true)
	until [[ $(grep -c '^following slot' "$WORK/follow.log" || true) -gt $lines ]]; do
		kill -0 "$FPID" 2>/dev/null || die "copy --follow ended before streaming: $(tail -5 "$WORK/follow.log")"
		((SECONDS - start < 600)) || die "copy --follow did not stream within 10 minutes"
		sleep 0.2
	done
}
# stop_follower interrupts it (SIGINT) and checks it exits 130, as a
# pause must.
stop_follower() {
	local rc=0
	kill -INT "$FPID"
	wait "$FPID" || rc=$?
	FPID=
	[[ $rc -eq 130 ]] || die "copy --follow exited $rc on SIGINT, not 130: $(tail -5 "$WORK/follow.log")"
}
# marker writes a marker transaction after what the source wrote so far;
# its arrival on a target means everything before it arrived.
MARK=0
marker() {
	MARK=$((MARK + 1))
	# A synchronous commit: the WAL before it is flushed, so SQL decoding
	# (which reads only flushed WAL) sees it all.
	q "$SRC" -c "SET synchronous_commit = on" -c "UPDATE store SET url = 'bench-follow-marker-$MARK' WHERE id = 1"
}
# await_marker URL TIMEOUT [PID]: waits until the target has the last
# marker; fails when PID (the applier) ended first or the timeout passed.
await_marker() {
	local start=$SECONDS
	until [[ $(q "$1" -c "SELECT url FROM store WHERE id = 1") == "bench-follow-marker-$MARK" ]]; do
		if [[ -n ${3:-} ]] && ! kill -0 "$3" 2>/dev/null; then return 1; fi
		((SECONDS - start < $2)) || return 1
		sleep 0.1
	done
}

# ---- setup ------------------------------------------------------------------
log "generating the $SIZE monolith; plan --apply into Citus; backfill --keep-triggers (follow needs the fill triggers)"
"$WORK/gen-monolith" --url "$SRC" --size "$SIZE" --workers 2 >"$WORK/gen.log" 2>&1 || die "gen-monolith failed: $(tail -5 "$WORK/gen.log")"
if q "$SRC" -c "SELECT 1 FROM pg_settings WHERE name = 'output_plugin_libraries'" | grep -q 1; then
	q "$SRC" -c "ALTER SYSTEM SET output_plugin_libraries = pgoutput, test_decoding, wal2json" -c "SELECT pg_reload_conf()" >/dev/null
fi
"$BIN" plan --source "$SRC" --target "$DST" --tenant-table store --apply >"$WORK/plan.log" 2>&1 || die "plan --apply failed: $(tail -5 "$WORK/plan.log")"
"$BIN" backfill --source "$SRC" --tenant-table store --keep-triggers --workers 2 --no-progress >"$WORK/backfill.log" 2>&1 ||
	die "backfill failed: $(tail -5 "$WORK/backfill.log")"
ROWS=$(q "$SRC" -c "SELECT sum(n_live_tup) FROM pg_stat_user_tables WHERE schemaname = 'public'")
PURCHASES=$(q "$SRC" -c "SELECT max(id) FROM purchase")
PRODUCTS=$(q "$SRC" -c "SELECT max(id) FROM product")
log "copy --follow ${FOLLOW_FLAGS:+($FOLLOW_FLAGS) }until it streams"
start_follower
echo "# bench-follow: sample '$SIZE' (~$ROWS rows), Citus 1+2 on this machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); FOLLOW_FLAGS='$FOLLOW_FLAGS'"

# ---- 1. keep-up ---------------------------------------------------------------
STRIDE=$((PURCHASES / 4))
cat >"$WORK/app.sql" <<SQL
\set p1 random(1, $PRODUCTS)
\set p2 random(1, $PRODUCTS)
\set p3 random(1, $PRODUCTS)
\set p4 random(1, $PRODUCTS)
\set p5 random(1, $PRODUCTS)
\set u random(1, $STRIDE)
BEGIN;
INSERT INTO purchase (product_id, ordered_at, billing_address, shipping_address, amount) VALUES
  (:p1, now(), 'app', 'app', 1.00), (:p2, now(), 'app', 'app', 2.00), (:p3, now(), 'app', 'app', 3.00),
  (:p4, now(), 'app', 'app', 4.00), (:p5, now(), 'app', 'app', 5.00);
UPDATE purchase SET amount = amount + 0.01 WHERE id IN (:u, :u + $STRIDE, :u + 2 * $STRIDE, :u + 3 * $STRIDE);
UPDATE product SET quantity = quantity + 1 WHERE id = :p1;
COMMIT;
SQL
# The sampler: every second, "time lag_bytes lag_seconds" (lag_seconds: how
# long ago the last applied transaction committed on the source).
sampler() {
	local cur row
	while :; do
		cur=$(q "$SRC" -c "SELECT pg_current_wal_insert_lsn()")
		row=$(q "$DST" -F' ' -c "SELECT applied_lsn, extract(epoch FROM clock_timestamp() - source_time) FROM $LANES l")
		echo "$(now) $(($(lsn "$cur") - $(lsn "${row% *}"))) ${row#* }"
		sleep 1
	done
}
log "keep-up: pgbench -R $RATE (x10 row changes) with $CLIENTS clients for ${DURATION}s"
A0=$(applied) W0=$(changes "$SRC")
cpu_start
t_cpu=$(proc_ticks "$FPID")
sampler >"$WORK/lag" 2>/dev/null &
SAMPLER=$!
t0=$(now)
"$PGBENCH" -n -M prepared -c "$CLIENTS" -j 2 -R "$RATE" -T "$DURATION" -f "$WORK/app.sql" "$SRC" >"$WORK/pgbench.log" 2>&1 ||
	die "pgbench failed: $(tail -5 "$WORK/pgbench.log")"
t1=$(now)
marker
await_marker "$DST" 600 "$FPID" || die "the follower did not catch up within 10 minutes after the writer stopped: $(tail -5 "$WORK/follow.log")"
t2=$(now)
kill "$SAMPLER"; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=
same_as_source "$DST" "after the keep-up"
sleep 1 # the writer's last statistics reach pg_stat_user_tables
W=$(($(changes "$SRC") - W0 - 1)) A=$(($(applied) - A0 - 1))
cpu_line "keep-up+catch-up" "$(fmt "$(calc "($(proc_ticks "$FPID") - $t_cpu) / $TCK")")"
read -r maxb maxs < <(awk -v t1="$t1" '$1 <= t1 {if ($2 > b) b = $2; if ($3 > s) s = $3} END {printf "%d %.1f\n", b, s}' "$WORK/lag")
read -r endb ends < <(awk -v t1="$t1" '$1 <= t1 {b = $2; s = $3} END {printf "%d %.1f\n", b, s}' "$WORK/lag")
catch=$(calc "$t2 - $t1")
kept=no; (($(calc "$catch <= 5"))) && kept=yes
wrate=$(calc "$W / ($t1 - $t0)")
arate=$(calc "$A / ($t2 - $t0)")
printf 'keep-up   writer %.0f row changes/s (asked %d; %d changes in %.1fs: %s); follower applied %d at %.0f changes/s; lag max %.1f MB / %.1fs, at writer stop %.1f MB / %.1fs; caught up %.1fs after the writer stopped: kept up %s\n' \
	"$wrate" $((RATE * 10)) "$W" "$(calc "$t1 - $t0")" "$(grep -o 'tps = [0-9.]*' "$WORK/pgbench.log" | head -1) tx/s" "$A" "$arate" \
	"$(calc "$maxb / 1048576")" "$maxs" "$(calc "$endb / 1048576")" "$ends" "$catch" "$kept"

# ---- 2. the backlog, and the peers' starting state -----------------------------
log "drain: stopping the follower (SIGINT); making the peers' slots and databases while the source is quiet"
stop_follower
PEERS=()
case $PEER in auto | pgcopydb) PEERS=(pgcopydb) ;; psql) PEERS=(psql) ;; both) PEERS=(pgcopydb psql) ;; esac
[[ $PEER == auto ]] && PEERS+=(psql) # made up front: the backlog cannot be made twice
COORD=$(port_of coordinator)
peer_url() { url_on "$COORD" "tm_$1"; }
for p in "${PEERS[@]}"; do
	for n in coordinator worker1 worker2; do
		q "$(url_on "$(port_of "$n")" postgres)" -c "CREATE DATABASE tm_$p"
		q "$(url_on "$(port_of "$n")" "tm_$p")" -c "CREATE EXTENSION citus"
	done
	q "$(peer_url "$p")" -c "SELECT citus_set_coordinator_host('127.0.0.1', $COORD)" \
		-c "SELECT citus_add_node('127.0.0.1', $(port_of worker1))" -c "SELECT citus_add_node('127.0.0.1', $(port_of worker2))" >/dev/null
	"$BIN" plan --source "$SRC" --target "$(peer_url "$p")" --tenant-table store --apply >>"$WORK/plan.log" 2>&1 || die "plan --apply into tm_$p failed"
done
# The copies first (pgcopydb's sentinel table, once made, would be a source
# table the plan lacks), then the slots: the source is quiet meanwhile, so the
# peers start where the tool's target stands.
for p in "${PEERS[@]}"; do
	"$BIN" copy --source "$SRC" --target "$(peer_url "$p")" --tenant-table store --no-progress >"$WORK/copy-$p.log" 2>&1 || die "copy into tm_$p failed: $(tail -5 "$WORK/copy-$p.log")"
done
for p in "${PEERS[@]}"; do
	case $p in
	pgcopydb)
		mkdir -p "$WORK/pgcopydb"
		pgcopydb stream setup --source "$SRC" --target "$(peer_url pgcopydb)" --dir "$WORK/pgcopydb" --slot-name bench_pgcopydb >"$WORK/pgcopydb-setup.log" 2>&1 ||
			die "pgcopydb stream setup failed: $(grep -E 'ERROR|FATAL' "$WORK/pgcopydb-setup.log" | head -5)"
		pgcopydb stream sentinel set apply --source "$SRC" >>"$WORK/pgcopydb-setup.log" 2>&1 ;;
	psql) q "$SRC" -c "SELECT pg_create_logical_replication_slot('bench_sql', 'wal2json')" >/dev/null ;;
	esac
done

TOP=$(q "$SRC" -c "SELECT max(id) FROM purchase")
UZONE=$((TOP * 6 / 10))
TXS=$(((BACKLOG + BACKLOG_TX - 1) / BACKLOG_TX))
awk -v rows="$BACKLOG_TX" -v txs="$TXS" -v uzone="$UZONE" -v top="$TOP" -v products="$PRODUCTS" '
BEGIN {
	ins = int(rows * 6 / 10); upd = int(rows * 3 / 10); del = rows - ins - upd
	for (i = 0; i < txs; i++) {
		a = 1 + (i * upd) % (uzone - upd)
		print "BEGIN;"
		printf "INSERT INTO purchase (product_id, ordered_at, billing_address, shipping_address, amount) SELECT 1 + floor(random() * %d)::bigint, now(), '\''backlog'\'', '\''backlog'\'', round((random() * 100)::numeric, 2) FROM generate_series(1, %d);\n", products, ins
		printf "UPDATE purchase SET amount = amount + 1, shipping_address = '\''backlog %d'\'' WHERE id BETWEEN %d AND %d;\n", i, a, a + upd - 1
		printf "DELETE FROM purchase WHERE id IN (SELECT id FROM purchase p WHERE id > %d AND id <= %d AND NOT EXISTS (SELECT FROM refund r WHERE r.purchase_id = p.id) ORDER BY id LIMIT %d);\n", uzone, top, del
		print "COMMIT;"
	}
}' >"$WORK/backlog.sql"
log "writing the backlog on the source: $TXS transactions of $BACKLOG_TX row changes"
B0=$(changes "$SRC")
t0=$(now)
q "$SRC" -f "$WORK/backlog.sql" >/dev/null
marker
t1=$(now)
ENDPOS=$(q "$SRC" -c "SELECT pg_current_wal_insert_lsn()") # not _lsn(): with synchronous_commit off that is the write position, before the last commits
sleep 1
B=$(($(changes "$SRC") - B0))
CHECK=$(state "$SRC")
echo "backlog   $B row changes in $TXS source transactions ($(fmt "$(calc "$t1 - $t0")")s to write), WAL $(fmt "$(calc "($(lsn "$ENDPOS") - $(lsn "$(q "$DST" -c "SELECT applied_lsn FROM $LANES l")")) / 1048576")") MB"

# ---- 3. the peers on the same backlog ---------------------------------------
PEER_NAME= PEER_RATE=
# run_pgcopydb: pgcopydb follow until endpos, in its own process group so
# that it and its children (receive, transform, apply) stop together.
run_pgcopydb() {
	local start rc=0 errs
	cpu_start
	start=$(now)
	setsid /usr/bin/time -f '%U %S %M' -o "$WORK/pgcopydb.time" pgcopydb follow --source "$SRC" --target "$(peer_url pgcopydb)" \
		--dir "$WORK/pgcopydb" --slot-name bench_pgcopydb --endpos "$ENDPOS" --resume --not-consistent >"$WORK/pgcopydb.log" 2>&1 &
	PGC=$!
	while :; do
		if errs=$(grep -E ' (ERROR|FATAL) ' "$WORK/pgcopydb.log" 2>/dev/null); then
			kill -INT -- "-$PGC" 2>/dev/null || true
			sleep 5
			kill -KILL -- "-$PGC" 2>/dev/null || true
			wait "$PGC" 2>/dev/null || true
			PGC=
			cpu_line "pgcopydb (failed)" "$(awk '{printf "%.1f", $1 + $2}' "$WORK/pgcopydb.time" 2>/dev/null || echo n/a)"
			echo "peer      pgcopydb follow cannot follow here: after $(fmt "$(calc "$(now) - $start")")s its log says:"
			echo "$errs" | head -12 | cut -c1-400 | sed 's/^/            /'
			return 1
		fi
		if ! kill -0 "$PGC" 2>/dev/null; then
			wait "$PGC" || rc=$?
			PGC=
			break
		fi
		if (($(calc "$(now) - $start > $PEER_TIMEOUT"))); then
			kill -KILL -- "-$PGC" 2>/dev/null || true
			wait "$PGC" 2>/dev/null || true
			PGC=
			echo "peer      pgcopydb follow did not reach the backlog's end within ${PEER_TIMEOUT}s (--peer-timeout)"
			return 1
		fi
		sleep 0.2
	done
	local secs
	secs=$(calc "$(now) - $start")
	cpu_line "pgcopydb follow" "$(awk '{printf "%.1f", $1 + $2}' "$WORK/pgcopydb.time")"
	if [[ $rc -ne 0 || $(state "$(peer_url pgcopydb)") != "$CHECK" ]]; then
		echo "peer      pgcopydb follow exited $rc without the backlog's rows on its target: last lines of its log:"
		tail -5 "$WORK/pgcopydb.log" | sed 's/^/            /'
		return 1
	fi
	PEER_NAME="pgcopydb follow" PEER_RATE=$(calc "$B / $secs")
	printf 'peer      pgcopydb follow --endpos: %.1fs = %.0f changes/s (peak RSS of its main process %d MB)\n' "$secs" "$PEER_RATE" $(($(awk '{print $3}' "$WORK/pgcopydb.time") / 1024))
}
# run_psql: the backlog decoded with wal2json into one SQL statement per
# change (WHERE on the target's primary key, which includes the tenant
# column), in the source's transactions, replayed by one psql session.
run_psql() {
	local keys start dec secs
	keys=$(q "$(peer_url psql)" -c "SELECT jsonb_object_agg(t, cols) FROM (SELECT format('%s.%s', n.nspname, c.relname) AS t, jsonb_agg(a.attname ORDER BY k.o) AS cols
		FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, o)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE i.indisprimary AND n.nspname = 'public' GROUP BY 1) s")
	cat >"$WORK/decode.sql" <<'SQL'
SELECT CASE j->>'action'
	WHEN 'B' THEN 'BEGIN;'
	WHEN 'C' THEN 'COMMIT;'
	WHEN 'I' THEN format('INSERT INTO %I.%I (%s) VALUES (%s);', j->>'schema', j->>'table',
		(SELECT string_agg(quote_ident(x->>'name'), ', ' ORDER BY o) FROM jsonb_array_elements(j->'columns') WITH ORDINALITY AS e(x, o)),
		(SELECT string_agg(quote_nullable(x->>'value'), ', ' ORDER BY o) FROM jsonb_array_elements(j->'columns') WITH ORDINALITY AS e(x, o)))
	WHEN 'U' THEN format('UPDATE %I.%I SET %s WHERE %s;', j->>'schema', j->>'table',
		(SELECT string_agg(format('%I = %s', x->>'name', quote_nullable(x->>'value')), ', ' ORDER BY o)
			FROM jsonb_array_elements(j->'columns') WITH ORDINALITY AS e(x, o) WHERE NOT coalesce(k ? (x->>'name'), false)),
		(SELECT string_agg(format('%I = %s', x->>'name', quote_nullable(x->>'value')), ' AND ' ORDER BY o)
			FROM jsonb_array_elements(j->'identity') WITH ORDINALITY AS e(x, o) WHERE k IS NULL OR k ? (x->>'name')))
	WHEN 'D' THEN format('DELETE FROM %I.%I WHERE %s;', j->>'schema', j->>'table',
		(SELECT string_agg(format('%I = %s', x->>'name', quote_nullable(x->>'value')), ' AND ' ORDER BY o)
			FROM jsonb_array_elements(j->'identity') WITH ORDINALITY AS e(x, o) WHERE k IS NULL OR k ? (x->>'name')))
	END
FROM ROWS FROM (pg_logical_slot_peek_changes(:'slot', :'endpos', NULL,
		'format-version', '2', 'include-transaction', 'true', 'add-tables', 'public.*')) WITH ORDINALITY AS c(lsn, xid, data, n),
	LATERAL (SELECT c.data::jsonb AS j) d,
	LATERAL (SELECT (:'keys')::jsonb -> ((j->>'schema') || '.' || (j->>'table')) AS k) kk
WHERE j->>'action' IN ('B', 'C', 'I', 'U', 'D')
ORDER BY n;
SQL
	log "psql: decoding the backlog (wal2json) into SQL"
	cpu_start
	start=$(now)
	/usr/bin/time -f '%U %S' -o "$WORK/decode.time" psql -X -q -At -v ON_ERROR_STOP=1 -v FETCH_COUNT=10000 -v slot=bench_sql -v endpos="$ENDPOS" -v keys="$keys" \
		-f "$WORK/decode.sql" "$SRC" >"$WORK/replay.sql"
	dec=$(calc "$(now) - $start")
	cpu_line "psql: decode" "$(awk '{printf "%.1f", $1 + $2}' "$WORK/decode.time")"
	log "psql: replaying $(grep -c '^COMMIT;$' "$WORK/replay.sql") transactions ($(du -m "$WORK/replay.sql" | cut -f1) MB of SQL) into tm_psql"
	cpu_start
	start=$(now)
	/usr/bin/time -f '%U %S' -o "$WORK/replay.time" psql -X -q -v ON_ERROR_STOP=1 -f "$WORK/replay.sql" "$(peer_url psql)" >"$WORK/replay.log" 2>&1 ||
		die "the psql replay failed: $(tail -5 "$WORK/replay.log")"
	secs=$(calc "$(now) - $start")
	cpu_line "psql: replay" "$(awk '{printf "%.1f", $1 + $2}' "$WORK/replay.time")"
	same_as_source "$(peer_url psql)" "after the psql replay (tm_psql)"
	PEER_NAME="psql replay" PEER_RATE=$(calc "$B / $secs")
	printf 'peer      plain SQL through psql (one statement per change, source transactions): decode %.1fs + replay %.1fs; replay %.0f changes/s (%.0f with the decode)\n' \
		"$dec" "$secs" "$PEER_RATE" "$(calc "$B / ($dec + $secs)")"
	PSQL_TOTAL_RATE=$(calc "$B / ($dec + $secs)")
}
PSQL_TOTAL_RATE=
for p in "${PEERS[@]}"; do
	case $p in
	pgcopydb)
		log "peer: pgcopydb follow --endpos $ENDPOS"
		if run_pgcopydb; then
			PGC_RATE=$PEER_RATE
			[[ $PEER == auto ]] && break
		fi
		;;
	psql) run_psql ;;
	esac
done
# The peers' slots go (a killed pgcopydb's walsender may hold its own a moment).
for _ in $(seq 50); do
	q "$SRC" -c "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name IN ('bench_pgcopydb', 'bench_sql') AND active_pid IS NOT NULL" >/dev/null
	q "$SRC" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name IN ('bench_pgcopydb', 'bench_sql')" >/dev/null 2>&1 && break
	sleep 0.2
done
q "$SRC" -c "DROP SCHEMA IF EXISTS pgcopydb CASCADE" # the sentinel: tenantmover's runs would see a table the plan lacks

# ---- the tool drains it ------------------------------------------------------
log "drain: copy --follow resumes from its slot"
A0=$(applied)
cpu_start
t0=$(now)
start_follower
t_cpu=$(proc_ticks "$FPID")
await_marker "$DST" 7200 "$FPID" || die "the follower did not drain the backlog: $(tail -5 "$WORK/follow.log")"
t1=$(now)
TOOL_S=$(calc "$t1 - $t0")
TOOL_APPLIED=$(($(applied) - A0))
cpu_line "drain: tenantmover" "$(fmt "$(calc "($(proc_ticks "$FPID") - $t_cpu) / $TCK")")"
DRAIN_HWM=$(hwm "$FPID")
TOOL_RATE=$(calc "$B / $TOOL_S")
same_as_source "$DST" "after the drain"
printf 'drain     tenantmover copy --follow (resumed): %.1fs = %.0f changes/s (%d changes applied; peak RSS %d MB)\n' "$TOOL_S" "$TOOL_RATE" "$TOOL_APPLIED" $((DRAIN_HWM / 1024))
stop_follower

if [[ -n $PEER_RATE ]]; then
	printf 'ratio     tenantmover %.0f changes/s vs %s %.0f changes/s: %.2fx (target >= 3x)' "$TOOL_RATE" "$PEER_NAME" "$PEER_RATE" "$(calc "$TOOL_RATE / $PEER_RATE")"
	[[ $PEER_NAME == "psql replay" ]] && printf '; %.2fx counting the decode' "$(calc "$TOOL_RATE / $PSQL_TOTAL_RATE")"
	[[ -n ${PGC_RATE:-} && $PEER_NAME != "pgcopydb follow" ]] && printf '; vs pgcopydb follow %.2fx' "$(calc "$TOOL_RATE / $PGC_RATE")"
	echo
fi

# ---- 4. memory: one source transaction of --big rows ------------------------
log "memory: one source transaction of $BIG inserts"
start_follower
IDLE_HWM=$(hwm "$FPID")
A0=$(applied)
cpu_start
t_cpu=$(proc_ticks "$FPID")
t0=$(now)
q "$SRC" -c "INSERT INTO purchase (product_id, ordered_at, billing_address, shipping_address, amount)
	SELECT 1 + (g % $PRODUCTS), now(), 'big', 'big', 1.00 FROM generate_series(1, $BIG) g"
t1=$(now)
marker
await_marker "$DST" 7200 "$FPID" || die "the follower did not apply the big transaction: $(tail -5 "$WORK/follow.log")"
t2=$(now)
BIG_HWM=$(hwm "$FPID")
cpu_line "1 tx of $BIG rows" "$(fmt "$(calc "($(proc_ticks "$FPID") - $t_cpu) / $TCK")")"
printf 'memory    one source transaction of %d inserts (%.1fs on the source): applied %.1fs after its commit, %.0f changes/s overall; follower peak RSS (VmHWM) %d MB streaming idle -> %d MB after it (drain run: %d MB)\n' \
	"$BIG" "$(calc "$t1 - $t0")" "$(calc "$t2 - $t1")" "$(calc "($(applied) - $A0 - 1) / ($t2 - $t0)")" $((IDLE_HWM / 1024)) $((BIG_HWM / 1024)) $((DRAIN_HWM / 1024))
stop_follower
"$BIN" verify --source "$SRC" --target "$DST" --tenant-table store --no-progress >"$WORK/verify.log" 2>&1 || die "verify found differences: $(tail -10 "$WORK/verify.log")"
echo "verify    source and target agree (tenantmover verify, counts per tenant)"

printf 'cpu s     %-22s %11s %11s %11s %11s %11s\n' phase "${NODES[@]}" client
for r in "${CPU_ROWS[@]}"; do echo "          $r"; done
