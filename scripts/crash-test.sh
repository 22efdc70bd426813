#!/usr/bin/env bash
# Crash-at-any-moment proof: runs tenantmover on the sample shop, crashes it
# with SIGKILL at random moments (the tool itself, or one of its servers),
# reruns after each crash, then checks with `verify --checksum` that nothing
# was lost or duplicated.
#
#   scripts/crash-test.sh [-n CRASHES] [--size small|medium|large] [--plain] [--max-delay SECONDS]
#                         [--kill client|source|coordinator|worker] [--command migrate|copy-tenants]
#
# -n          number of crashes (default 20)
# --size      sample size (default small)
# --plain     plain PostgreSQL target even when Citus is installed
# --max-delay upper bound of the random time before each kill (default 6s;
#             lowered to the length of a run that finishes before its kill)
# --kill      what is killed (default client):
#               client       the tenantmover process
#               source       the source server's postmaster
#               coordinator  the Citus coordinator's postmaster
#               worker       a Citus worker's postmaster (worker 1 or 2 at random)
#             A killed server is started again at once (dev-cluster.sh
#             restart-node); the run it broke usually fails, as expected,
#             and the next one resumes. coordinator and worker need Citus.
# --command   what is crashed (default migrate):
#               migrate       `migrate`, killed and rerun until -n crashes,
#                             then one final rerun and a verify of everything
#               copy-tenants  rounds of `copy --tenants` (3 tenants of the
#                             sample's 1..N each, one run per round, so each
#                             tenant is one unit landing on one worker): one
#                             kill, a rerun to completion and a verify of the
#                             round's tenants; the schema (plan --apply) and
#                             backfill (--keep-triggers) are done first
#               follow        `migrate --follow` with an application writing
#                             (pgbench: purchases inserted, prices changed,
#                             refunds deleted) from the start: killed at
#                             random moments of its backfill, copy and
#                             follow phases and rerun, then once following,
#                             `cutover`; verify --checksum then compares the
#                             source, which holds exactly the writes it
#                             acknowledged, with the target (client kills
#                             only: the follower outlives a server restart)
#
# When a run finishes before its kill, the migrate scenario starts over on a
# fresh copy of the source (and --restart on the target), and copy-tenants
# goes on to the next round, so kills land in live runs. When copy-tenants
# has used every tenant, it empties the target tables and starts over.
# Prints "N crashes, L lost, D duplicated (...)" and exits 0 only when there
# are no differences (and, in copy-tenants, every rerun succeeded).
set -euo pipefail
cd "$(dirname "$0")/.."

crashes=20 size=small plain= max_delay=6 kill_what=client command=migrate
while [[ $# -gt 0 ]]; do
	case $1 in
	-n) crashes=$2; shift 2 ;;
	--size) size=$2; shift 2 ;;
	--plain) plain=1; shift ;;
	--max-delay) max_delay=$2; shift 2 ;;
	--kill) kill_what=$2; shift 2 ;;
	--command) command=$2; shift 2 ;;
	*) echo "crash-test: unknown argument $1" >&2; exit 1 ;;
	esac
done
case $kill_what in
client | source) ;;
coordinator | worker)
	if [[ -n $plain ]]; then
		echo "crash-test: --kill $kill_what needs the Citus target (a coordinator and workers); --plain has neither" >&2
		exit 1
	fi
	;;
*) echo "crash-test: --kill takes client, source, coordinator or worker, not $kill_what" >&2; exit 1 ;;
esac
case $command in
migrate | copy-tenants) ;;
follow)
	if [[ $kill_what != client ]]; then
		echo "crash-test: --command follow kills the client only (the follower reconnects after a server restart, so the run would not end)" >&2
		exit 1
	fi
	;;
*) echo "crash-test: --command takes migrate, copy-tenants or follow, not $command" >&2; exit 1 ;;
esac

work=$(mktemp -d /tmp/tenantmover-crash.XXXXXX)
chmod 755 "$work"
export TENANTMOVER_DEV_DIR=$work/servers
export TENANTMOVER_DEV_PORT=$((20000 + RANDOM % 20000))
# Commits must survive a SIGKILL of their server: with synchronous_commit
# off a server kill loses commits already acknowledged, which would show as
# differences that are the test setup's, not the tool's.
export TENANTMOVER_DEV_SYNC_COMMIT=1
[[ -n $plain ]] && export TENANTMOVER_DEV_PLAIN=1
log() { echo "crash-test: $*" >&2; }
cleanup() { scripts/dev-cluster.sh stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/tenantmover" ./cmd/tenantmover
go build -o "$work/gen-monolith" ./scripts/gen-monolith
eval "$(scripts/dev-cluster.sh start)"
src_base=${TENANTMOVER_SOURCE%%/tenantmover*}
if [[ $kill_what == coordinator || $kill_what == worker ]] && [[ $(cat "$TENANTMOVER_DEV_DIR/citus") != yes ]]; then
	log "--kill $kill_what needs the Citus target, and Citus is not installed (see dev-cluster.sh's message above)"
	exit 1
fi

# A pristine copy of the source to start fresh scenarios from.
"$work/gen-monolith" --url "$TENANTMOVER_SOURCE" --size "$size" >/dev/null
psql -qX -d "$src_base/postgres" -c "CREATE DATABASE pristine TEMPLATE tenantmover" >/dev/null

fresh_source() {
	psql -qX -d "$src_base/postgres" -c "DROP DATABASE tenantmover WITH (FORCE)" -c "CREATE DATABASE tenantmover TEMPLATE pristine" >/dev/null
}

tool_args=(--tenant-table store --no-progress)
migrate_args=(migrate "${tool_args[@]}" --workers 2 --chunk-rows 2000)

# random_delay prints a random delay in seconds, 0.05 to max_delay.
random_delay() { awk -v max="$max_delay" -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.05 + (r / 32767) * (max - 0.05) }'; }

# start_tool runs tenantmover in the background (stdout into $work/run.out,
# stderr into $work/run.log) and sets pid. A watchdog kills it after 5
# minutes, so a run that hangs (say, on a crashed server) fails the test
# instead of stalling it; wait_tool says so.
start_tool() {
	rm -f "$work/hung"
	# Started directly (not through another function) so $! is the tool itself.
	"$work/tenantmover" "$@" >"$work/run.out" 2>"$work/run.log" &
	pid=$!
	(
		trap 'kill "$s" 2>/dev/null; exit' TERM
		sleep 300 &
		s=$!
		wait "$s"
		touch "$work/hung"
		kill -KILL "$pid"
	) &
	watchdog=$!
}

# wait_tool waits for the tool started last, appends its stderr to
# $work/tool.log and sets rc (its exit status) and last (its error message,
# or its last line).
wait_tool() {
	rc=0
	wait "$pid" 2>/dev/null || rc=$? # quiet: no "Killed" line from bash
	kill "$watchdog" 2>/dev/null || true
	wait "$watchdog" 2>/dev/null || true
	cat "$work/run.log" >>"$work/tool.log"
	last=$(grep '^tenantmover: ' "$work/run.log" | tail -1 || true)
	[[ -n $last ]] || last=$(tail -1 "$work/run.log")
	if [[ -f $work/hung ]]; then
		log "tenantmover $1 hung for 5 minutes and was killed; last lines of its log:"
		tail -20 "$work/run.log" >&2
		exit 1
	fi
}

# run_tool runs tenantmover to its end (the watchdog still applies).
run_tool() {
	start_tool "$@"
	wait_tool "$1"
}

# crash kills what --kill names. A killed server is started again at once
# and is back (accepting connections) when this returns; what was killed is
# in $victim.
crash() {
	if [[ $kill_what == client ]]; then
		victim="tenantmover"
		kill -KILL "$pid"
		return
	fi
	victim=$kill_what
	[[ $kill_what == worker ]] && victim=worker$((1 + RANDOM % 2))
	local pm
	pm=$(head -1 "$TENANTMOVER_DEV_DIR/$victim/data/postmaster.pid")
	kill -KILL "$pm"
	# Until it has exited, restart-node would take it for a running server.
	while [[ $(ps -o stat= -p "$pm") == [^Z]* ]]; do sleep 0.01; done
	scripts/dev-cluster.sh restart-node "$victim" >/dev/null
	victim="$victim's postmaster"
}

# attempt starts the tool with the given arguments, kills (--kill) at a
# random moment and waits for the tool to end. It sets crashed=1 when the
# kill landed in the live run, else (the run ended before its kill) shrinks
# max_delay and fails the test if the run failed.
attempt() {
	start_tool "$@"
	delay=$(random_delay)
	sleep "$delay"
	crashed=
	if kill -0 "$pid" 2>/dev/null; then
		crash
		wait_tool "$1"
		crashed=1
		killed=$((killed + 1))
		if [[ $kill_what == client ]]; then
			log "crash $killed/$crashes: SIGKILL $victim after ${delay}s"
		elif [[ $rc -eq 0 ]]; then
			log "crash $killed/$crashes: SIGKILL $victim after ${delay}s; $1 still succeeded"
		else
			log "crash $killed/$crashes: SIGKILL $victim after ${delay}s; $1 exited $rc: ${last:0:300}"
		fi
		return
	fi
	wait_tool "$1"
	if [[ $rc -ne 0 ]]; then
		log "$1 failed on its own (exit $rc); last lines of its log:"
		tail -20 "$work/run.log" >&2
		exit 1
	fi
	finished=$((finished + 1))
	# A whole run takes less than this delay: draw the next kills within
	# it, so they land in live runs (a fast target finishes in seconds).
	max_delay=$(awk -v d="$delay" 'BEGIN { printf "%.2f", (d > 0.5 ? d : 0.5) }')
	log "run finished before its kill (${delay}s); kills now within ${max_delay}s"
}

# verify_into compares the source and the target (extra arguments: verify's,
# e.g. --tenants) and adds the rows lost and duplicated and the other
# differences to the totals; the differences themselves go to $work/diffs.
lost=0 duplicated=0 other=0
verify_into() {
	run_tool verify "${tool_args[@]}" --checksum --format json "$@"
	if [[ $rc -ne 0 && $rc -ne 2 ]]; then
		log "verify failed (exit $rc):"
		tail -20 "$work/run.log" >&2
		exit 1
	fi
	local l d o
	read -r l d o < <(python3 - "$work/run.out" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
lost = dup = other = 0
for d in doc.get("differences") or []:
    if d["kind"] == "count":
        s, t = int(d.get("source") or 0), int(d.get("target") or 0)
        lost += max(s - t, 0)
        dup += max(t - s, 0)
    else:
        other += 1
print(lost, dup, other)
PY
)
	lost=$((lost + l)) duplicated=$((duplicated + d)) other=$((other + o))
	if [[ $rc -ne 0 ]]; then
		{ echo "verify $*:"; cat "$work/run.out"; } >>"$work/diffs"
	fi
}

# start_writer runs the application: pgbench clients writing to the source
# in small transactions until the cutover makes it refuse them.
start_writer() {
	local pgbench
	pgbench=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -1)
	cat >"$work/app.sql" <<'SQL'
\set pid random(1, 2000)
INSERT INTO purchase (product_id, ordered_at, amount) VALUES (:pid, now(), 1.00);
UPDATE product SET price = price + 0.01 WHERE id = :pid;
\set r random(1, 20)
\if :r = 1
DELETE FROM refund WHERE id = (SELECT min(id) FROM refund);
\endif
SQL
	"$pgbench" -n -c 2 -T 100000 --max-tries=1000 -f "$work/app.sql" "$TENANTMOVER_SOURCE" >"$work/app.log" 2>&1 &
	writer=$!
}

# await_following waits until the run's follow phase is running.
await_following() {
	for _ in $(seq 600); do
		if [[ $(psql -qXAt -d "$TENANTMOVER_TARGET" -c "SELECT state FROM tenantmover.phases WHERE run = 'migrate' AND phase = 'follow'" 2>/dev/null) == running ]]; then
			return
		fi
		kill -0 "$pid" 2>/dev/null || { log "migrate --follow ended before following: $(tail -3 "$work/run.log")"; exit 1; }
		sleep 0.1
	done
	log "migrate --follow did not reach its follow phase in a minute"
	exit 1
}

killed=0 finished=0
if [[ $command == follow ]]; then
	follow_args=("${migrate_args[@]}" --follow)
	start_writer
	while [[ $killed -lt $crashes ]]; do
		attempt "${follow_args[@]}"
	done
	log "rerun until following, then cutover with the application writing"
	start_tool "${follow_args[@]}"
	await_following
	"$work/tenantmover" cutover "${tool_args[@]}" >"$work/cutover.log" 2>&1 || { log "cutover failed: $(tail -5 "$work/cutover.log")"; exit 1; }
	grep 'writes paused' "$work/cutover.log" >&2 || true
	wait_tool "${follow_args[0]}"
	[[ $rc -eq 0 ]] || { log "migrate --follow exited $rc after the cutover: $last"; exit 1; }
	kill "$writer" 2>/dev/null || true
	wait "$writer" 2>/dev/null || true
	writes=$(psql -qXAt -d "$TENANTMOVER_SOURCE" -c "SELECT count(*) FROM purchase WHERE amount = 1.00")
	verify_into
	echo "$killed crashes, $lost lost, $duplicated duplicated (migrate --follow and cutover with an application writing: $writes purchases acknowledged; $other other differences)"
	failed=0
elif [[ $command == migrate ]]; then
	restart=()
	while [[ $killed -lt $crashes ]]; do
		attempt "${migrate_args[@]}" "${restart[@]}"
		restart=()
		if [[ -z $crashed ]]; then
			log "starting a fresh scenario"
			fresh_source
			restart=(--restart)
		fi
	done
	log "final rerun to completion"
	run_tool "${migrate_args[@]}" "${restart[@]}"
	if [[ $rc -ne 0 ]]; then
		log "the final rerun failed; last lines of its log:"
		tail -30 "$work/run.log" >&2
		exit 1
	fi
	# Compare every tenant of every table, content included.
	verify_into
	echo "$killed crashes, $lost lost, $duplicated duplicated ($finished runs finished between crashes, $other other differences)"
	failed=0
else
	run_tool plan --tenant-table store --apply --target "$TENANTMOVER_TARGET"
	[[ $rc -eq 0 ]] || { log "plan --apply failed: $last"; exit 1; }
	run_tool backfill "${tool_args[@]}" --keep-triggers
	[[ $rc -eq 0 ]] || { log "backfill failed: $last"; exit 1; }
	tenants=$(psql -qXAt -d "$TENANTMOVER_SOURCE" -c "SELECT max(id) FROM store")
	tables=$(psql -qXAt -d "$TENANTMOVER_SOURCE" -c "SELECT string_agg(format('%I', tablename), ', ') FROM pg_tables WHERE schemaname = 'public'")
	pool=() round=0 failed=0
	while [[ $killed -lt $crashes ]]; do
		if [[ ${#pool[@]} -lt 3 ]]; then
			if [[ $round -gt 0 ]]; then
				log "every tenant copied: emptying the target tables to start over"
				psql -qX -d "$TENANTMOVER_TARGET" -c "TRUNCATE $tables" >/dev/null
			fi
			mapfile -t pool < <(shuf -i "1-$tenants")
		fi
		round=$((round + 1))
		list=$(IFS=,; echo "${pool[*]:0:3}")
		pool=("${pool[@]:3}")
		copy_args=(copy "${tool_args[@]}" --tenants "$list" --run "crash-$round")
		attempt "${copy_args[@]}"
		if [[ -n $crashed ]]; then
			run_tool "${copy_args[@]}"
			if [[ $rc -ne 0 ]]; then
				failed=$((failed + 1))
				log "round $round (tenants $list): the rerun after the crash failed (exit $rc): $last"
				{ echo "round $round (tenants $list): rerun failed (exit $rc):"; cat "$work/run.log"; } >>"$work/diffs"
			fi
		fi
		verify_into --tenants "$list"
	done
	echo "$killed crashes, $lost lost, $duplicated duplicated ($round rounds of 3 tenants, $finished runs finished before their kill, $other other differences, $failed reruns failed)"
fi
if [[ $lost -ne 0 || $duplicated -ne 0 || $other -ne 0 || $failed -ne 0 || -s $work/diffs ]]; then
	log "differences found:"
	head -c 6000 "$work/diffs" >&2
	exit 1
fi
