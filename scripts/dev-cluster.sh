#!/usr/bin/env bash
# Local servers for trying tenantmover by hand:
#
#   scripts/dev-cluster.sh start    # source PostgreSQL + Citus coordinator and 2 workers
#   scripts/dev-cluster.sh status   # which servers are running
#   scripts/dev-cluster.sh restart-node NAME   # start one server again (after a crash)
#   scripts/dev-cluster.sh stop     # stop them and remove the state directory
#
# `start` prints `export TENANTMOVER_SOURCE=... TENANTMOVER_TARGET=...` lines on
# stdout (everything else goes to stderr), so `eval "$(scripts/dev-cluster.sh start)"`
# sets up a shell. When citus.so is not installed the target is a second plain
# PostgreSQL, and the script says so.
#
# TENANTMOVER_DEV_PLAIN=1 makes the target a plain PostgreSQL even when Citus is
# installed. State lives in $TENANTMOVER_DEV_DIR (default /tmp/tenantmover-dev); ports start
# at $TENANTMOVER_DEV_PORT (default 55432: source, then coordinator or target,
# then workers). Binaries are found like internal/pgtest finds them:
# $PGTEST_BINDIR, `pg_config --bindir`, initdb on PATH, newest /usr/lib/postgresql/*/bin.
# The data is disposable: fsync is off. So is synchronous_commit, unless
# TENANTMOVER_DEV_SYNC_COMMIT=1 (set at creation): then a commit survives a
# SIGKILL of its server, as scripts/crash-test.sh needs (fsync only matters
# when the operating system itself crashes).
set -euo pipefail

DIR=${TENANTMOVER_DEV_DIR:-/tmp/tenantmover-dev}
BASE_PORT=${TENANTMOVER_DEV_PORT:-55432}
DB=tenantmover
WORKERS=2

log() { echo "dev-cluster: $*" >&2; }
die() {
	log "$*"
	exit 1
}

find_bindir() {
	local d
	if [[ -n ${PGTEST_BINDIR:-} ]]; then
		[[ -x $PGTEST_BINDIR/initdb ]] || die "PGTEST_BINDIR=$PGTEST_BINDIR has no initdb"
		echo "$PGTEST_BINDIR"
		return
	fi
	if d=$(pg_config --bindir 2>/dev/null) && [[ -x $d/initdb ]]; then
		echo "$d"
		return
	fi
	if d=$(command -v initdb 2>/dev/null); then
		# Resolve symlinks: the lib directory (for citus.so) sits beside the real bin.
		dirname "$(readlink -f "$d")"
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4 -rn); do
		if [[ -x $d/initdb ]]; then
			echo "$d"
			return
		fi
	done
	die "no PostgreSQL server binaries found (tried \$PGTEST_BINDIR, pg_config --bindir, PATH, /usr/lib/postgresql/*/bin): install them, e.g. apt-get install -y postgresql"
}

BIN=$(find_bindir)

citus_installed() {
	local lib
	lib=$("$BIN/pg_config" --pkglibdir 2>/dev/null || echo "$(dirname "$BIN")/lib")
	[[ -f $lib/citus.so || -f $(dirname "$BIN")/lib/citus.so ]]
}

# as_server runs a server tool; as root it runs as postgres with HOME in the
# state directory (PostgreSQL refuses root, and Citus's node-to-node
# connections would otherwise read root's home).
as_server() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- env HOME="$DIR" LC_ALL=C "$@"
	else
		env HOME="$DIR" LC_ALL=C "$@"
	fi
}

url() { echo "postgres://postgres@127.0.0.1:$1/$DB?sslmode=disable"; }

psql_at() {
	local port=$1 db=$2
	shift 2
	"$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

# nodes lists "name port" for every node of the cluster as recorded at start.
nodes() { cat "$DIR/nodes"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# grep reads all its input: with -q it would exit early and pipefail would
# report the SIGPIPE of the writers as a failure.
has_setting() { "$BIN/postgres" --describe-config 2>/dev/null | cut -f1 | grep -x "$1" >/dev/null; }

init_node() {
	local name=$1 port=$2 citus=$3 dir="$DIR/$1"
	mkdir -p "$dir"
	if [[ $(id -u) -eq 0 ]]; then chown -R postgres: "$DIR"; fi
	as_server "$BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
		die "initdb for $name failed: $(tail -5 "$dir/initdb.log")"
	{
		echo "listen_addresses = '127.0.0.1'"
		echo "port = $port"
		echo "unix_socket_directories = '$dir'"
		echo "fsync = off"
		if [[ -z ${TENANTMOVER_DEV_SYNC_COMMIT:-} ]]; then echo "synchronous_commit = off"; fi
		echo "full_page_writes = off"
		echo "max_connections = 200"
		echo "max_prepared_transactions = 200"
		echo "max_wal_size = '4GB'"
		echo "wal_level = logical"
		echo "log_min_messages = warning"
		if [[ $citus == yes ]]; then
			echo "shared_preload_libraries = 'citus'"
			echo "max_replication_slots = 50"
			echo "max_wal_senders = 50"
			echo "max_worker_processes = 32"
			# Recent minor releases only let listed libraries serve as logical
			# decoding output plugins; Citus shard moves need citus there.
			if has_setting output_plugin_libraries; then
				echo "output_plugin_libraries = 'pgoutput,citus'"
			fi
		fi
	} >>"$dir/data/postgresql.auto.conf"
}

start_node() {
	local name=$1 port=$2 dir="$DIR/$1"
	if as_server "$BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		return
	fi
	as_server "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
		die "$name did not start on port $port: $(tail -5 "$dir/server.log")"
}

create_db() {
	local port=$1 citus=$2
	psql_at "$port" postgres -c "CREATE DATABASE $DB"
	if [[ $citus == yes ]]; then
		psql_at "$port" "$DB" -c "CREATE EXTENSION citus"
	fi
}

setup_citus() {
	local coord=$1 port
	shift
	psql_at "$coord" "$DB" -c "SELECT citus_set_coordinator_host('127.0.0.1', $coord)" >/dev/null
	for port in "$@"; do
		psql_at "$coord" "$DB" -c "SELECT citus_add_node('127.0.0.1', $port)" >/dev/null
	done
}

create_cluster() {
	local citus=no i
	if [[ -n ${TENANTMOVER_DEV_PLAIN:-} ]]; then
		log "TENANTMOVER_DEV_PLAIN is set: the target is a plain PostgreSQL"
	elif citus_installed; then
		citus=yes
	else
		log "citus.so is not installed next to $BIN: the target is a plain PostgreSQL, not Citus"
	fi
	mkdir -p "$DIR"
	{
		echo "source $BASE_PORT"
		if [[ $citus == yes ]]; then
			echo "coordinator $((BASE_PORT + 1))"
			for ((i = 1; i <= WORKERS; i++)); do echo "worker$i $((BASE_PORT + 1 + i))"; done
		else
			echo "target $((BASE_PORT + 1))"
		fi
	} >"$DIR/nodes"
	echo "$citus" >"$DIR/citus"
	local name port node_citus
	while read -r name port; do
		if port_in_use "$port"; then
			die "port $port (for $name) is in use: set TENANTMOVER_DEV_PORT to another base port"
		fi
	done < <(nodes)
	while read -r name port; do
		node_citus=$citus
		[[ $name == source || $name == target ]] && node_citus=no
		init_node "$name" "$port" "$node_citus"
		start_node "$name" "$port"
		create_db "$port" "$node_citus"
	done < <(nodes)
	if [[ $citus == yes ]]; then
		setup_citus $((BASE_PORT + 1)) $(nodes | awk '$1 ~ /^worker/ {print $2}')
	fi
}

cmd_start() {
	if [[ -f $DIR/nodes ]]; then
		log "restarting the servers in $DIR"
		local name port
		while read -r name port; do start_node "$name" "$port"; done < <(nodes)
	else
		log "creating servers in $DIR with $BIN"
		# A half-made cluster is useless: say how to clear it.
		trap 'log "start failed; clear the half-made cluster with: TENANTMOVER_DEV_DIR=$DIR $0 stop"' EXIT
		create_cluster
		trap - EXIT
	fi
	local target_port name port
	target_port=$(nodes | awk '$1 == "coordinator" || $1 == "target" {print $2}')
	echo "export TENANTMOVER_SOURCE='$(url "$(nodes | awk '$1 == "source" {print $2}')")'"
	echo "export TENANTMOVER_TARGET='$(url "$target_port")'"
	while read -r name port; do
		[[ $name == worker* ]] && echo "# $name: $(url "$port")"
	done < <(nodes)
	if [[ $(cat "$DIR/citus") == yes ]]; then
		log "Citus coordinator on port $target_port with $WORKERS workers"
	fi
}

cmd_status() {
	if [[ ! -f $DIR/nodes ]]; then
		log "no dev cluster in $DIR"
		return 1
	fi
	local name port down=0
	while read -r name port; do
		if as_server "$BIN/pg_ctl" -D "$DIR/$name/data" status >/dev/null 2>&1; then
			printf '%-12s running  %s\n' "$name" "$(url "$port")"
		else
			printf '%-12s stopped  (port %s)\n' "$name" "$port"
			down=1
		fi
	done < <(nodes)
	return $down
}

# pid_state prints a process's state (R, S, Z for a zombie, ...), nothing
# once it is gone.
pid_state() { ps -o stat= -p "$1" 2>/dev/null || true; }

# cmd_restart_node starts one server of the cluster again, typically after
# its postmaster was killed, and returns once it accepts connections. A new
# postmaster refuses to start while the old one's pid is still taken (even
# by a zombie not yet reaped) or while the old backends, which exit when
# they next wait, still hold its shared memory: so it waits for the first,
# and retries the start for the second.
cmd_restart_node() {
	local name=${1:-} port old state i
	[[ -f $DIR/nodes ]] || die "no dev cluster in $DIR"
	port=$(nodes | awk -v n="$name" '$1 == n {print $2}')
	[[ -n $name && -n $port ]] || die "restart-node needs the name of a node: one of $(nodes | awk '{print $1}' | paste -sd' ')"
	if [[ -f $DIR/$name/data/postmaster.pid ]]; then
		old=$(head -1 "$DIR/$name/data/postmaster.pid")
		for ((i = 0; ; i++)); do
			state=$(pid_state "$old")
			[[ -z $state ]] && break
			[[ $state != Z* ]] && return # still running: nothing to do
			((i < 600)) || die "the old postmaster of $name (pid $old) is still a zombie after 60s: nothing reaps it"
			sleep 0.1
		done
	fi
	for ((i = 0; i < 30; i++)); do
		if (start_node "$name" "$port") 2>/dev/null; then
			return
		fi
		sleep 1
	done
	start_node "$name" "$port"
}

cmd_stop() {
	if [[ ! -d $DIR ]]; then
		log "nothing to stop: $DIR does not exist"
		return
	fi
	local name port
	if [[ -f $DIR/nodes ]]; then
		# Workers first, so the coordinator never sees them vanish mid-query.
		while read -r name port; do
			if [[ -f $DIR/$name/data/postmaster.pid ]]; then
				as_server "$BIN/pg_ctl" -D "$DIR/$name/data" -m fast -w stop >/dev/null || log "could not stop $name"
			fi
		done < <(nodes | tac)
	fi
	rm -rf "$DIR"
	log "stopped; removed $DIR"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
restart-node) cmd_restart_node "${2:-}" ;;
*)
	echo "usage: $0 start|stop|status|restart-node NAME" >&2
	exit 2
	;;
esac
