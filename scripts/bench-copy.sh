#!/usr/bin/env bash
# Benchmark tenantmover copy against the plain psql pipe, table by table:
#
#   psql src -c "COPY (SELECT cols FROM t) TO STDOUT (FORMAT binary)" |
#     psql dst -c "COPY t (cols) FROM STDIN (FORMAT binary)"
#
# into the same empty target (schema from 'tenantmover plan --apply'), in the
# same run, alternately, and prints the times and their ratio, plus the
# tool's peak RSS (/usr/bin/time -v). Targets: a plain PostgreSQL database and,
# when citus.so is installed, a Citus coordinator with two workers.
#
#   scripts/bench-copy.sh                       # sample monolith, 5M purchases
#   scripts/bench-copy.sh --size medium --runs 1
#   scripts/bench-copy.sh --sweep               # also time --workers / --chunk-rows choices
#   scripts/bench-copy.sh --keep                # keep the servers (rerun reuses the source)
#
# Servers come from scripts/dev-cluster.sh in $BENCH_DIR (default
# /tmp/tenantmover-bench-copy, ports from 29432) and are stopped at the end
# unless --keep. Results go to stdout; progress to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=large RUNS=2 SWEEP=no KEEP=no WORKERS=4 CHUNK_ROWS=100000
while [[ $# -gt 0 ]]; do
	case $1 in
	--size) SIZE=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--chunk-rows) CHUNK_ROWS=$2; shift 2 ;;
	--sweep) SWEEP=yes; shift ;;
	--keep) KEEP=yes; shift ;;
	*) echo "bench-copy: unknown argument $1" >&2; exit 2 ;;
	esac
done

export TENANTMOVER_DEV_DIR=${BENCH_DIR:-/tmp/tenantmover-bench-copy}
export TENANTMOVER_DEV_PORT=${BENCH_PORT:-29432}
TABLES=(auth_user company campaign company_users store product purchase refund) # parents first
log() { echo "bench-copy: $*" >&2; }

[[ -x /usr/bin/time ]] || { log "/usr/bin/time is missing: apt-get install -y time"; exit 1; }
BIN=$(mktemp -d)/tenantmover
go build -o "$BIN" ./cmd/tenantmover
if [[ $KEEP == no ]]; then trap 'scripts/dev-cluster.sh stop' EXIT; fi
exports=$(scripts/dev-cluster.sh start)
eval "$exports"
SRC=$TENANTMOVER_SOURCE
CITUS=$(cat "$TENANTMOVER_DEV_DIR/citus")
TARGET_PORT=$(awk '$1 == "coordinator" || $1 == "target" {print $2}' "$TENANTMOVER_DEV_DIR/nodes")
PLAIN="postgres://postgres@127.0.0.1:$TARGET_PORT/tm_plain?sslmode=disable"

q() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

# The source is generated once per size and kept with --keep.
if [[ $(cat "$TENANTMOVER_DEV_DIR/bench-size" 2>/dev/null) != "$SIZE" ]]; then
	log "generating the $SIZE monolith and backfilling store_id"
	go run ./scripts/gen-monolith --url "$SRC" --size "$SIZE" --workers 2 --drop >&2
	q "$SRC" -c "ALTER TABLE purchase ADD COLUMN store_id bigint;
		UPDATE purchase p SET store_id = pr.store_id FROM product pr WHERE pr.id = p.product_id;
		ALTER TABLE refund ADD COLUMN store_id bigint;
		UPDATE refund r SET store_id = p.store_id FROM purchase p WHERE p.id = r.purchase_id" -c "VACUUM ANALYZE"
	echo "$SIZE" >"$TENANTMOVER_DEV_DIR/bench-size"
fi

# targets lists "name url" of the targets to measure, creating their schema.
targets() {
	q "postgres://postgres@127.0.0.1:$TARGET_PORT/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS tm_plain WITH (FORCE)" -c "CREATE DATABASE tm_plain"
	"$BIN" plan --source "$SRC" --target "$PLAIN" --tenant-table store --apply 2>/dev/null
	echo "postgres $PLAIN"
	if [[ $CITUS == yes ]]; then
		q "$TENANTMOVER_TARGET" -c "DROP SCHEMA IF EXISTS tenantmover CASCADE" \
			-c "DROP TABLE IF EXISTS refund, purchase, product, store, company_users, campaign, company, auth_user CASCADE"
		"$BIN" plan --source "$SRC" --target "$TENANTMOVER_TARGET" --tenant-table store --apply 2>/dev/null
		echo "citus $TENANTMOVER_TARGET"
	fi
}

empty() { q "$1" -c "TRUNCATE $(IFS=,; echo "${TABLES[*]}")" -c "DROP SCHEMA IF EXISTS tenantmover CASCADE"; }

now() { date +%s.%N; }

# pipe copies every table with one psql pipe at a time; prints seconds.
pipe() {
	local dst=$1 t cols start
	start=$(now)
	for t in "${TABLES[@]}"; do
		cols=$(q "$SRC" -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
			WHERE attrelid = 'public.$t'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''")
		q "$SRC" -c "COPY (SELECT $cols FROM public.$t) TO STDOUT (FORMAT binary)" |
			q "$dst" -c "COPY public.$t ($cols) FROM STDIN (FORMAT binary)"
	done
	echo "$(now) - $start" | bc
}

# tool copies with tenantmover; prints "seconds peak_rss_kb".
tool() {
	local dst=$1 workers=$2 chunk=$3 start end out
	out=$(mktemp)
	start=$(now)
	/usr/bin/time -v -o "$out" "$BIN" copy --source "$SRC" --target "$dst" --tenant-table store \
		--workers "$workers" --chunk-rows "$chunk" --no-progress --log-format json 2>/dev/null
	end=$(now)
	echo "$(echo "$end - $start" | bc) $(awk -F': ' '/Maximum resident set size/ {print $2}' "$out")"
	rm -f "$out"
}

check() {
	local dst=$1 t
	for t in "${TABLES[@]}"; do
		[[ $(q "$SRC" -c "SELECT count(*) FROM $t") == $(q "$dst" -c "SELECT count(*) FROM $t") ]] ||
			{ log "row counts differ on $t"; exit 1; }
	done
}

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

ROWS=$(for t in "${TABLES[@]}"; do q "$SRC" -c "SELECT count(*) FROM $t"; done | paste -sd+ | bc)
echo "# sample monolith '$SIZE': $ROWS rows in ${#TABLES[@]} tables; $(nproc) cores; tool --workers $WORKERS --chunk-rows $CHUNK_ROWS"
while read -r kind url; do
	pipes=() tools=() rss=()
	for ((r = 1; r <= RUNS; r++)); do
		empty "$url"
		pipes+=("$(pipe "$url")")
		check "$url"
		empty "$url"
		read -r secs kb < <(tool "$url" "$WORKERS" "$CHUNK_ROWS")
		check "$url"
		tools+=("$secs") rss+=("$kb")
		log "$kind run $r: psql pipe ${pipes[-1]}s, tenantmover ${secs}s, peak RSS $((kb / 1024)) MB"
	done
	p=$(printf '%s\n' "${pipes[@]}" | median)
	t=$(printf '%s\n' "${tools[@]}" | median)
	peak=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
	printf '%-9s psql pipe %7.1fs   tenantmover %7.1fs   ratio %.2fx   %6.0f rows/s   peak RSS %d MB\n' \
		"$kind" "$p" "$t" "$(echo "$t / $p" | bc -l)" "$(echo "$ROWS / $t" | bc -l)" $((peak / 1024))
	if [[ $SWEEP == yes ]]; then
		# Each choice is timed right after the default, so both see the same
		# load; the ratio to that default run is what picks the defaults.
		for combo in "2 100000" "8 100000" "4 20000" "4 500000"; do
			read -r w c <<<"$combo"
			empty "$url"
			read -r base _ < <(tool "$url" "$WORKERS" "$CHUNK_ROWS")
			empty "$url"
			read -r secs kb < <(tool "$url" "$w" "$c")
			check "$url"
			printf '%-9s   --workers %d --chunk-rows %-7d %7.1fs   vs default just before (%.1fs) %.2fx   peak RSS %d MB\n' \
				"$kind" "$w" "$c" "$secs" "$base" "$(echo "$secs / $base" | bc -l)" $((kb / 1024))
		done
	fi
done < <(targets)
