# shellcheck shell=bash
# CPU seconds of the benchmark's PostgreSQL servers, read from /proc: they do
# not depend on how busy the machine is. Sourced by the bench scripts, which
# set DIR (the nodes' parent directory) and NODES (the node names) first.

TCK=$(getconf CLK_TCK)
# ticks NODE: utime+stime+cutime+cstime of the postmaster (the cumulative
# children times keep the ticks of backends that exited) plus utime+stime of
# its live children.
ticks() {
	local pm c sum
	pm=$(head -1 "$DIR/$1/data/postmaster.pid")
	sum=$(sed 's/.*) //' "/proc/$pm/stat" | awk '{print $12 + $13 + $14 + $15}')
	for c in $(ps -o pid= --ppid "$pm"); do
		sum=$((sum + $(sed 's/.*) //' "/proc/$c/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0)))
	done
	echo "$sum"
}
declare -A CPU0
# cpu_start remembers every node's ticks; cpu_seconds NODE is the CPU time
# the node used since.
cpu_start() { local n; for n in "${NODES[@]}"; do CPU0[$n]=$(ticks "$n"); done; }
cpu_seconds() { awk -v t="$(ticks "$1")" -v t0="${CPU0[$1]}" -v hz="$TCK" 'BEGIN { printf "%.1f", (t - t0) / hz }'; }
