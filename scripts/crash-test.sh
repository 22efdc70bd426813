#!/usr/bin/env bash
# Crash-at-any-moment proof: runs `tenantmover migrate` on the sample shop and
# kills it with SIGKILL at random moments, rerunning after each kill, then
# checks with `verify --checksum` that nothing was lost or duplicated.
#
#   scripts/crash-test.sh [-n CRASHES] [--size small|medium|large] [--plain] [--max-delay SECONDS]
#
# -n          number of SIGKILLs (default 20)
# --size      sample size (default small)
# --plain     plain PostgreSQL target even when Citus is installed
# --max-delay upper bound of the random time before each kill (default 6s;
#             lowered to the length of a run that finishes before its kill)
#
# When a run finishes before its kill, the scenario starts over on a fresh
# copy of the source (and --restart on the target), so every kill lands in a
# live run. Prints "N crashes, 0 lost, 0 duplicated" and exits 0 on success.
set -euo pipefail
cd "$(dirname "$0")/.."

crashes=20 size=small plain= max_delay=6
while [[ $# -gt 0 ]]; do
	case $1 in
	-n) crashes=$2; shift 2 ;;
	--size) size=$2; shift 2 ;;
	--plain) plain=1; shift ;;
	--max-delay) max_delay=$2; shift 2 ;;
	*) echo "crash-test: unknown argument $1" >&2; exit 1 ;;
	esac
done

work=$(mktemp -d /tmp/tenantmover-crash.XXXXXX)
chmod 755 "$work"
export TENANTMOVER_DEV_DIR=$work/servers
export TENANTMOVER_DEV_PORT=$((20000 + RANDOM % 20000))
[[ -n $plain ]] && export TENANTMOVER_DEV_PLAIN=1
log() { echo "crash-test: $*" >&2; }
cleanup() { scripts/dev-cluster.sh stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/tenantmover" ./cmd/tenantmover
go build -o "$work/gen-monolith" ./scripts/gen-monolith
eval "$(scripts/dev-cluster.sh start)"
src_base=${TENANTMOVER_SOURCE%%/tenantmover*}

# A pristine copy of the source to start fresh scenarios from.
"$work/gen-monolith" --url "$TENANTMOVER_SOURCE" --size "$size" >/dev/null
psql -qX -d "$src_base/postgres" -c "CREATE DATABASE pristine TEMPLATE tenantmover" >/dev/null

fresh_source() {
	psql -qX -d "$src_base/postgres" -c "DROP DATABASE tenantmover WITH (FORCE)" -c "CREATE DATABASE tenantmover TEMPLATE pristine" >/dev/null
}

migrate_args=(migrate --tenant-table store --no-progress --workers 2 --chunk-rows 2000)

# random_delay prints a random delay in seconds, 0.05 to max_delay.
random_delay() { awk -v max="$max_delay" -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.05 + (r / 32767) * (max - 0.05) }'; }

killed=0 finished=0 restart=
while [[ $killed -lt $crashes ]]; do
	# Started directly (not through a function) so $! is the tool itself.
	"$work/tenantmover" "${migrate_args[@]}" $restart >>"$work/migrate.log" 2>&1 &
	pid=$!
	restart=
	delay=$(random_delay)
	sleep "$delay"
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null || true
		killed=$((killed + 1))
		log "crash $killed/$crashes: SIGKILL after ${delay}s"
	else
		rc=0
		wait "$pid" || rc=$?
		if [[ $rc -ne 0 ]]; then
			log "migrate failed on its own (exit $rc); last lines of its log:"
			tail -20 "$work/migrate.log" >&2
			exit 1
		fi
		finished=$((finished + 1))
		# A whole run takes less than this delay: draw the next kills within
		# it, so they land in live runs (a fast target finishes in seconds).
		max_delay=$(awk -v d="$delay" 'BEGIN { printf "%.2f", (d > 0.5 ? d : 0.5) }')
		log "run finished before its kill (${delay}s): starting a fresh scenario; kills now within ${max_delay}s"
		fresh_source
		restart=--restart
	fi
done

log "final rerun to completion"
if ! "$work/tenantmover" "${migrate_args[@]}" $restart >>"$work/migrate.log" 2>&1; then
	log "the final rerun failed; last lines of its log:"
	tail -30 "$work/migrate.log" >&2
	exit 1
fi

# Compare every tenant of every table, content included.
rc=0
"$work/tenantmover" verify --tenant-table store --checksum --format json --no-progress >"$work/verify.json" 2>"$work/verify.log" || rc=$?
if [[ $rc -ne 0 && $rc -ne 2 ]]; then
	log "verify failed (exit $rc):"
	cat "$work/verify.log" >&2
	exit 1
fi
read -r lost duplicated other < <(python3 - "$work/verify.json" <<'PY'
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
echo "$killed crashes, $lost lost, $duplicated duplicated ($finished runs finished between crashes, $other other differences)"
if [[ $rc -ne 0 || $lost -ne 0 || $duplicated -ne 0 || $other -ne 0 ]]; then
	log "differences found:"
	head -c 4000 "$work/verify.json" >&2
	exit 1
fi
