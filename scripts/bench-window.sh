#!/usr/bin/env bash
# Benchmark the overnight-run machinery of issue 17 against its "Done means":
# the estimate printed after calibration is within 30% of the actual time,
# and the rate limit holds the measured rate within 10% of the limit. One
# run on a Citus 1+2 cluster, each phase as its own command (tenantmover
# backfill, tenantmover copy), so a phase ends when its process exits:
#
#   1. baseline     backfill (on a fresh copy of the sample) and copy (of
#                   that backfilled source into the empty Citus target),
#                   unthrottled: rows, bytes, wall time, rates.
#   2. rows limit   the same two phases with --max-rows-per-second --rate
#                   (backfill on another fresh copy of the sample, copy into
#                   the emptied target).
#   3. bytes limit  copy once more with --max-bytes-per-second --bytes-rate.
#
# Rate figures, per limited run:
#   whole    rows (or bytes) over the command's wall time vs the limit,
#            PASS within 10%; next to it the rate after the first commit
#            seen (the start-up before it, planning and checkpoints, runs
#            unthrottled and counts in the wall time; a loaded machine
#            stretches it by seconds);
#   steady   the rate over the run less its first and last --edge seconds,
#            the least-squares slope of the run's checkpoints (the sum of
#            rows and bytes of its tenantmover.units, which commit with the
#            work) sampled every second; judged only when its resolution
#            (the largest step between two samples over the window's total)
#            is within 10%, else "coarse": a unit commits all its rows at
#            once, and with the default 100,000-row chunks a copy of the
#            small or medium sample commits purchase in a few big steps
#            (COPY_FLAGS='--chunk-rows N' gives finer steps, and more
#            estimates);
#   peak     the most committed in any 5 s, as a rate: the limit accounts
#            for a unit after it is done, so the unit runs at full speed and
#            the wait follows it;
#   baseline the unthrottled rate over the limit: it shows the limit is
#            what bound the rate.
#
# Estimate figures, per run (baselines too): the first "estimate: N left at
# R/s, ..." note the phase prints after its 15 s calibration, stamped when
# the line reached this script; the time left it predicts ("in 1m7s": rows
# left over rows per second, or for copy bytes left over bytes per second)
# against the actual (the command's exit minus that stamp), error in percent, PASS
# within 30%; n/a when the command ended within 5 s of the note (too short
# to judge); none when no note came (a phase shorter than the calibration,
# or no progress event after it while work was left). On the medium sample
# the baselines may end before they calibrate: the limited runs then carry
# the estimate figures, which also test the estimate under a limit.
#
# Also the CPU seconds, per run, of every server (source, coordinator,
# worker1, worker2: utime+stime of the postmaster, of its live children and
# of its reaped children, from /proc, before and after; they include the
# checkpoint sampler's one query a second) and of tenantmover.
#
#   scripts/bench-window.sh                         # medium sample, limited runs of ~60 s
#   scripts/bench-window.sh --size small --duration 30
#   scripts/bench-window.sh --rate 20000 --bytes-rate 4000000
#   COPY_FLAGS='--chunk-rows 20000' scripts/bench-window.sh   # extra flags for every copy
#
# Flags: --size small|medium|large (default medium); --duration S (how long
# each limited run should take, default 60: it sets the default limits);
# --rate R (rows/s, for --max-rows-per-second; default the smaller of the
# baselines' rows / --duration, to two significant digits rounded down);
# --bytes-rate B (bytes/s, for --max-bytes-per-second; default the baseline
# copy's bytes / --duration, likewise); --edge S (seconds left out at each
# end of the steady window, default 5); --keep (leave the servers running).
# BACKFILL_FLAGS and COPY_FLAGS add flags to every backfill and copy.
#
# Servers come from scripts/dev-cluster.sh in $BENCH_DIR (default
# /tmp/tenantmover-bench-window, ports from $BENCH_PORT, default 31432); the
# backfills change the source, so every run starts from new servers, and they
# are stopped at the end unless --keep. The sample is generated once into
# database tm_sample on the source; each backfill runs in a copy of it
# (CREATE DATABASE ... TEMPLATE) and every copy reads the baseline
# backfill's. Figures go to stdout, progress to stderr; each command's
# report, stamped stderr and samples stay in a directory named at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=medium DURATION=60 RATE='' BYTES_RATE='' EDGE=5 KEEP=no
while [[ $# -gt 0 ]]; do
	case $1 in
	--size) SIZE=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--bytes-rate) BYTES_RATE=$2; shift 2 ;;
	--edge) EDGE=$2; shift 2 ;;
	--keep) KEEP=yes; shift ;;
	*) echo "bench-window: unknown argument $1" >&2; exit 2 ;;
	esac
done
case $SIZE in small | medium | large) ;; *) echo "bench-window: --size takes small, medium or large" >&2; exit 2 ;; esac
for v in "$DURATION" "$EDGE" ${RATE:+"$RATE"} ${BYTES_RATE:+"$BYTES_RATE"}; do
	[[ $v =~ ^[0-9]+$ && $v -gt 0 ]] || { echo "bench-window: --duration, --edge, --rate and --bytes-rate take positive whole numbers, got $v" >&2; exit 2; }
done
BACKFILL_FLAGS=${BACKFILL_FLAGS:-} COPY_FLAGS=${COPY_FLAGS:-}

export TENANTMOVER_DEV_DIR=${BENCH_DIR:-/tmp/tenantmover-bench-window}
export TENANTMOVER_DEV_PORT=${BENCH_PORT:-31432}
DIR=$TENANTMOVER_DEV_DIR
RUN=bench
CALIBRATE=15 # internal/phase/estimate.go: CalibrateFor's default
MIN_LEFT=5   # an estimate whose phase ends sooner is not judged
RATE_TOL=10 EST_TOL=30
TABLES=(auth_user company campaign company_users store product purchase refund)
log() { echo "bench-window: $(date +%T) $*" >&2; }
die() { log "$*"; exit 1; }

[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing: apt-get install -y time"
command -v jq >/dev/null || die "jq is missing: apt-get install -y jq"
WORK=$(mktemp -d /tmp/bench-window.XXXXXX)
chmod 755 "$WORK"

SPID='' # the checkpoint sampler, while a command runs
finish() {
	if [[ -n $SPID ]]; then kill "$SPID" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	if [[ $KEEP == no ]]; then scripts/dev-cluster.sh stop >/dev/null 2>&1 || true; fi
	log "logs in $WORK"
}
trap finish EXIT

if [[ -d $DIR ]]; then
	log "removing the servers of an earlier run in $DIR (every run starts afresh)"
	scripts/dev-cluster.sh stop >/dev/null 2>&1
fi
mkdir -p "$DIR"
BIN=$DIR/tenantmover
go build -o "$BIN" ./cmd/tenantmover
go build -o "$WORK/gen-monolith" ./scripts/gen-monolith
eval "$(scripts/dev-cluster.sh start)"
[[ $(cat "$DIR/citus") == yes ]] || die "Citus is not installed: this benchmark needs a Citus coordinator and workers"
DST=$TENANTMOVER_TARGET
NODES=(source coordinator worker1 worker2)
port_of() { awk -v n="$1" '$1 == n {print $2}' "$DIR/nodes"; }
url_on() { echo "postgres://postgres@127.0.0.1:$1/$2?sslmode=disable"; }
SRC_PORT=$(port_of source)

q() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
# calc prints an awk expression's value (numbers only).
calc() { awk "BEGIN { printf \"%.6f\", $* }"; }
# sig2 rounds a positive number down to two significant digits (366.7 -> 360).
sig2() { awk -v x="$1" 'BEGIN { if (x < 100) { printf "%d", (x < 1 ? 1 : x); exit }
	e = 10 ^ (int(log(x) / log(10)) - 1); printf "%d", int(x / e) * e }'; }
# stamp puts the arrival time (epoch seconds) before every line.
stamp() { local l; while IFS= read -r l || [[ -n $l ]]; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }

# ---- CPU seconds of the servers, from /proc (as bench-follow.sh) -----------
# shellcheck source=scripts/lib/cpu.sh
. "$(dirname "$0")/lib/cpu.sh"
# cpu_line RUN CLIENT_SECONDS: one row of the CPU table (printed at the end).
CPU_ROWS=()
cpu_line() {
	local n row
	row=$(printf '%-44s' "$1")
	for n in "${NODES[@]}"; do row+=$(printf ' %11s' "$(cpu_seconds "$n")"); done
	CPU_ROWS+=("$row$(printf ' %11.1f' "$2")")
}

# ---- one command, measured ----------------------------------------------------
# sample_once URL: "time rows bytes" committed so far by run $RUN in the
# checkpoints of URL (0 0 before the command made them).
sample_once() {
	local t=$EPOCHREALTIME v
	v=$(q "$1" -F' ' -c "SELECT coalesce(sum(rows), 0), coalesce(sum(bytes), 0) FROM tenantmover.units WHERE run = '$RUN'" 2>/dev/null) || v="0 0"
	echo "$t $v"
}
sampler() { while :; do sample_once "$1"; sleep 1; done; }

# measure NAME CHECKPOINT_URL COMMAND ARGS...: runs tenantmover COMMAND with
# its --format json report in $WORK/NAME.json and its stderr, each line
# stamped with its arrival, in $WORK/NAME.err, while the checkpoints in
# CHECKPOINT_URL are sampled into $WORK/NAME.samples; sets T0 and T1 (epoch
# seconds around the command) and adds the run's CPU row.
measure() {
	local name=$1 ckpt=$2 rc
	shift 2
	sampler "$ckpt" >"$WORK/$name.samples" &
	SPID=$!
	cpu_start
	T0=$EPOCHREALTIME
	set +e
	/usr/bin/time -f '%U %S' -o "$WORK/$name.time" "$BIN" "$@" --run "$RUN" --no-progress --log-format json --format json \
		2>&1 >"$WORK/$name.json" | stamp >"$WORK/$name.err"
	rc=${PIPESTATUS[0]}
	set -e
	T1=$EPOCHREALTIME
	kill "$SPID" 2>/dev/null || true
	wait "$SPID" 2>/dev/null || true
	SPID=
	sample_once "$ckpt" >>"$WORK/$name.samples"
	[[ $rc -eq 0 ]] || die "$name: tenantmover $1 exited $rc: $(tail -5 "$WORK/$name.err")"
	cpu_line "$name" "$(awk 'END {print $1 + $2}' "$WORK/$name.time")"
}
field() { jq -r "$2" "$WORK/$1.json"; }

# ---- figures ------------------------------------------------------------------
RATE_PASS=0 RATE_FAIL=0 STEADY_PASS=0 STEADY_FAIL=0 STEADY_COARSE=0 EST_PASS=0 EST_FAIL=0 EST_NA=0 EST_NONE=0
verdict() { # verdict ERROR_PERCENT TOLERANCE
	awk -v e="$1" -v t="$2" 'BEGIN { print ((e < 0 ? -e : e) <= t) ? "PASS" : "FAIL" }'
}

# baseline_line NAME: an unthrottled run's figures.
baseline_line() {
	local name=$1 rows bytes wall extra=
	rows=$(field "$name" .rows) bytes=$(field "$name" '.bytes // 0')
	wall=$(calc "$T1 - $T0")
	[[ $bytes -gt 0 ]] && extra=$(printf ', %.2f MB/s (%d bytes)' "$(calc "$bytes / $wall / 1e6")" "$bytes")
	printf '%-44s %9d rows  in %6.1fs: %9.0f rows/s%s\n' "$name" "$rows" "$wall" "$(calc "$rows / $wall")" "$extra"
}

# limited_line NAME UNIT COLUMN LIMIT BASELINE_RATE: a limited run's rate
# figures; UNIT is rows or bytes, COLUMN its column in the samples.
limited_line() {
	local name=$1 unit=$2 col=$3 limit=$4 base=$5 total wall rate err v steady first after
	total=$(field "$name" ".$unit")
	# The first sample with work committed: the command's start-up before
	# it (planning, checkpoints) counts in the wall time, unthrottled.
	# after: the rate from there to the end, without that first commit.
	read -r first after < <(awk -v c="$col" -v t0="$T0" -v t1="$T1" -v total="$total" \
		'$c > 0 && $1 < t1 - 1 { printf "%.1f %.0f\n", $1 - t0, (total - $c) / (t1 - $1); f = 1; exit } END { if (!f) print "? 0" }' "$WORK/$name.samples")
	wall=$(calc "$T1 - $T0")
	rate=$(calc "$total / $wall")
	err=$(calc "($rate - $limit) * 100 / $limit")
	v=$(verdict "$err" "$RATE_TOL")
	if [[ $v == PASS ]]; then RATE_PASS=$((RATE_PASS + 1)); else RATE_FAIL=$((RATE_FAIL + 1)); fi
	printf '%-44s %9d %-5s in %6.1fs: %9.0f %s/s, limit %d: %+6.1f%% %s; after the first commit (seen %ss in) %.0f/s %+.1f%%; baseline %.1fx the limit\n' \
		"$name" "$total" "$unit" "$wall" "$rate" "$unit" "$limit" "$err" "$v" "$first" "$after" "$(calc "($after - $limit) * 100 / $limit")" "$(calc "$base / $limit")"
	# The steady window: the samples in [T0+EDGE, T1-EDGE], the rate their
	# least-squares slope; its resolution, the largest step between two
	# samples in it over the window's total (a unit commits all its work
	# at once); the peak, the most committed between two samples at most
	# 5 s apart, anywhere in the run, over 5 s.
	read -r steady < <(awk -v c="$col" -v t0="$T0" -v t1="$T1" -v e="$EDGE" -v lim="$limit" -v tol="$RATE_TOL" '
		{ t[NR] = $1 - t0; v[NR] = $c; n = NR }
		END {
			peak = 0
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n && t[j] - t[i] <= 5.05; j++) if (v[j] - v[i] > peak) peak = v[j] - v[i]
			ptxt = sprintf("peak 5s %.0f/s (%.1fx the limit)", peak / 5, peak / 5 / lim)
			for (i = 1; i <= n; i++) if (t[i] >= e && t[i] <= t1 - t0 - e) {
				if (!a) a = i
				b = i; k++; st += t[i]; sv += v[i]; stt += t[i] * t[i]; stv += t[i] * v[i]
			}
			if (k < 5 || t[b] - t[a] < 5) { printf "window too short; %s\n", ptxt; exit }
			r = (k * stv - st * sv) / (k * stt - st * st)
			dv = v[b] - v[a]; step = 0
			for (i = a + 1; i <= b; i++) if (v[i] - v[i - 1] > step) step = v[i] - v[i - 1]
			res = dv > 0 ? step * 100 / dv : 100; err = (r - lim) * 100 / lim
			verdict = res > tol ? "coarse" : ((err < 0 ? -err : err) <= tol ? "PASS" : "FAIL")
			printf "%.0f-%.0fs: %.0f/s %+.1f%% %s (resolution %.0f%%: the largest commit step over the window); %s\n", t[a], t[b], r, err, verdict, res, ptxt
		}' "$WORK/$name.samples")
	case $steady in
	*" PASS "*) STEADY_PASS=$((STEADY_PASS + 1)) ;;
	*" FAIL "*) STEADY_FAIL=$((STEADY_FAIL + 1)) ;;
	*) STEADY_COARSE=$((STEADY_COARSE + 1)) ;;
	esac
	echo "  steady $steady"
	if awk -v b="$base" -v l="$limit" 'BEGIN { exit !(b < 3 * l) }'; then
		echo "  (the unthrottled rate is under 3x the limit: a lower limit would show it binding more clearly)"
	fi
}

# go_seconds reads a Go duration ("1h2m3s", "44s") and prints its seconds.
go_seconds() {
	awk '{ s = 0; d = $0; while (match(d, /^[0-9.]+[hms]/)) { n = substr(d, 1, RLENGTH - 1); u = substr(d, RLENGTH, 1); s += n * (u == "h" ? 3600 : u == "m" ? 60 : 1); d = substr(d, RLENGTH + 1) } print s }'
}

# estimate_line NAME: the first estimate note of a run against the run's end.
estimate_line() {
	local name=$1 line ts note at pred actual err v wall
	wall=$(calc "$T1 - $T0")
	line=$(grep -m1 -E 'estimate: [0-9]+ left at [0-9.]+/s' "$WORK/$name.err" || true)
	if [[ -z $line ]]; then
		EST_NONE=$((EST_NONE + 1))
		if awk -v w="$wall" -v c="$CALIBRATE" 'BEGIN { exit !(w < c) }'; then
			printf 'estimate %-35s none: the phase ended %.1fs in, before the %ds calibration\n' "$name" "$wall" "$CALIBRATE"
		else
			printf 'estimate %-35s none, although the phase ran %.1fs: no progress event after the %ds calibration while work was left\n' "$name" "$wall" "$CALIBRATE"
		fi
		return
	fi
	ts=${line%% *}
	note=$(grep -oE 'estimate: [^"]*' <<<"$line")
	at=$(calc "$ts - $T0")
	# The time left the note predicts, "(in 1m7s)": rows left over rows per
	# second, or (copy) bytes left over bytes per second.
	pred=$(sed -E 's/.*\(in ([0-9hms.]+)\).*/\1/' <<<"$note" | go_seconds)
	actual=$(calc "$T1 - $ts")
	err=$(calc "($pred - $actual) * 100 / $actual")
	if awk -v a="$actual" -v m="$MIN_LEFT" 'BEGIN { exit !(a < m) }'; then
		v="n/a (ended within ${MIN_LEFT}s of it)"
		EST_NA=$((EST_NA + 1))
	else
		v=$(verdict "$err" "$EST_TOL")
		if [[ $v == PASS ]]; then EST_PASS=$((EST_PASS + 1)); else EST_FAIL=$((EST_FAIL + 1)); fi
	fi
	printf 'estimate %-35s at %5.1fs: %6.1fs left predicted, %6.1fs actual: %+6.1f%% %s (total %.1fs predicted, %.1fs actual) "%s"\n' \
		"$name" "$at" "$pred" "$actual" "$err" "$v" "$(calc "$at + $pred")" "$wall" "$note"
}

# ---- setup ----------------------------------------------------------------------
log "generating the $SIZE monolith into tm_sample"
q "$(url_on "$SRC_PORT" postgres)" -c "CREATE DATABASE tm_sample"
SAMPLE=$(url_on "$SRC_PORT" tm_sample)
"$WORK/gen-monolith" --url "$SAMPLE" --size "$SIZE" --workers 2 >"$WORK/gen.log" 2>&1 || die "gen-monolith failed: $(tail -5 "$WORK/gen.log")"
q "$SAMPLE" -c "VACUUM ANALYZE"
# fresh_source NAME: a new copy of the sample; prints its URL.
fresh_source() {
	q "$(url_on "$SRC_PORT" postgres)" -c "CREATE DATABASE $1 TEMPLATE tm_sample"
	url_on "$SRC_PORT" "$1"
}
# backfill NAME SOURCE_URL [FLAGS...]
backfill() {
	local name=$1 src=$2
	shift 2
	# shellcheck disable=SC2086 # BACKFILL_FLAGS are words
	measure "$name" "$src" backfill --source "$src" --tenant-table store "$@" $BACKFILL_FLAGS
	[[ $(field "$name" '[.tables[].nulls_left] | add') == 0 ]] || die "$name left NULLs: $(field "$name" '[.tables[] | {table, nulls_left}]')"
}
# copy NAME [FLAGS...]: into the emptied target, checking the row counts after.
copy() {
	local name=$1 t
	shift
	q "$DST" -c "TRUNCATE $(IFS=,; echo "${TABLES[*]}") CASCADE" -c "DROP SCHEMA IF EXISTS tenantmover CASCADE"
	# shellcheck disable=SC2086 # COPY_FLAGS are words
	measure "$name" "$DST" copy --source "$COPY_SRC" --target "$DST" --tenant-table store "$@" $COPY_FLAGS
	for t in "${TABLES[@]}"; do
		[[ $(q "$COPY_SRC" -c "SELECT count(*) FROM $t") == $(q "$DST" -c "SELECT count(*) FROM $t") ]] ||
			die "$name: row counts of $t differ between source and target"
	done
}

echo "# bench-window: sample '$SIZE', Citus 1+2 on this machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); BACKFILL_FLAGS='$BACKFILL_FLAGS' COPY_FLAGS='$COPY_FLAGS'"

# ---- 1. baselines -------------------------------------------------------------------
log "backfill, unthrottled"
COPY_SRC=$(fresh_source bf_base)
backfill "backfill unthrottled" "$COPY_SRC"
BF_T0=$T0 BF_T1=$T1
BF_ROWS=$(field "backfill unthrottled" .rows)
BF_RATE=$(calc "$BF_ROWS / ($T1 - $T0)")
q "$COPY_SRC" -c "VACUUM ANALYZE" # the backfill's UPDATEs left a dead version of every row
"$BIN" plan --source "$COPY_SRC" --target "$DST" --tenant-table store --apply >"$WORK/plan.log" 2>&1 ||
	die "plan --apply failed: $(tail -5 "$WORK/plan.log")"
log "copy, unthrottled"
copy "copy unthrottled"
CP_T0=$T0 CP_T1=$T1
CP_ROWS=$(field "copy unthrottled" .rows)
CP_BYTES=$(field "copy unthrottled" .bytes)
CP_RATE=$(calc "$CP_ROWS / ($T1 - $T0)")
CP_BRATE=$(calc "$CP_BYTES / ($T1 - $T0)")

RATE=${RATE:-$(sig2 "$(calc "($BF_ROWS < $CP_ROWS ? $BF_ROWS : $CP_ROWS) / $DURATION")")}
BYTES_RATE=${BYTES_RATE:-$(sig2 "$(calc "$CP_BYTES / $DURATION")")}
echo "# limits: --max-rows-per-second $RATE, --max-bytes-per-second $BYTES_RATE (limited runs of about $(calc "$BF_ROWS / $RATE" | cut -d. -f1)s, $(calc "$CP_ROWS / $RATE" | cut -d. -f1)s and $(calc "$CP_BYTES / $BYTES_RATE" | cut -d. -f1)s); PASS: rate within ${RATE_TOL}% of the limit, first estimate's time left within ${EST_TOL}% of the actual"
T0=$BF_T0 T1=$BF_T1 baseline_line "backfill unthrottled"
T0=$CP_T0 T1=$CP_T1 baseline_line "copy unthrottled"
T0=$BF_T0 T1=$BF_T1 estimate_line "backfill unthrottled"
T0=$CP_T0 T1=$CP_T1 estimate_line "copy unthrottled"

# ---- 2. rows limit ----------------------------------------------------------------------
name="backfill --max-rows-per-second $RATE"
log "$name"
src=$(fresh_source bf_rows)
backfill "$name" "$src" --max-rows-per-second "$RATE"
limited_line "$name" rows 2 "$RATE" "$BF_RATE"
estimate_line "$name"
q "$(url_on "$SRC_PORT" postgres)" -c "DROP DATABASE bf_rows WITH (FORCE)"

name="copy --max-rows-per-second $RATE"
log "$name"
copy "$name" --max-rows-per-second "$RATE"
limited_line "$name" rows 2 "$RATE" "$CP_RATE"
estimate_line "$name"

# ---- 3. bytes limit ---------------------------------------------------------------------
name="copy --max-bytes-per-second $BYTES_RATE"
log "$name"
copy "$name" --max-bytes-per-second "$BYTES_RATE"
limited_line "$name" bytes 3 "$BYTES_RATE" "$CP_BRATE"
estimate_line "$name"

# ---- CPU and verdicts ---------------------------------------------------------------------
echo "# CPU seconds (utime+stime, /proc)"
printf '%-44s %11s %11s %11s %11s %11s\n' run "${NODES[@]}" tenantmover
printf '%s\n' "${CPU_ROWS[@]}"
echo "# rate limits, whole runs: $RATE_PASS PASS, $RATE_FAIL FAIL; steady windows: $STEADY_PASS PASS, $STEADY_FAIL FAIL, $STEADY_COARSE not judged (coarse or too short); estimates: $EST_PASS PASS, $EST_FAIL FAIL, $EST_NA n/a, $EST_NONE none"
