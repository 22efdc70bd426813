#!/usr/bin/env bash
# Try plan --apply on an application's own schema, as a new user would:
# load a schema dump (Rails db/structure.sql, pg_dump --schema-only) into a
# throwaway source, plan it, plan again with the --relation flags the first
# plan suggests, create the target schema on a throwaway Citus cluster (a
# plain PostgreSQL when Citus is not installed), and compare the source's
# and the target's objects by kind and name: every object of the source is
# on the target or named by plan with its reason.
#
#   scripts/try-schema.sh FILE TENANT_TABLE [plan flags...]
#   scripts/try-schema.sh db/structure.sql accounts --exclude public.audits
#
# The servers live in $TENANTMOVER_DEV_DIR (default /tmp/tenantmover-try,
# port 57432 on) and are stopped and removed at the end unless KEEP=1.
# Statements of FILE the local server cannot run (an extension it does not
# have) are shown and skipped, as psql does without ON_ERROR_STOP.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
file=$1 tenant=$2
shift 2
export TENANTMOVER_DEV_DIR=${TENANTMOVER_DEV_DIR:-/tmp/tenantmover-try}
export TENANTMOVER_DEV_PORT=${TENANTMOVER_DEV_PORT:-57432}
work=$(mktemp -d)
cleanup() {
  [ "${KEEP:-}" = 1 ] || scripts/dev-cluster.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

eval "$(scripts/dev-cluster.sh start)"
go build -o "$work/tenantmover" ./cmd/tenantmover
tm=$work/tenantmover

echo "== loading $file into the source"
psql -q "$TENANTMOVER_SOURCE" -f "$file" >/dev/null 2>"$work/load.err" || true
grep ERROR "$work/load.err" || echo "loaded without errors"

echo "== plan (no flags of yours but: $*)"
"$tm" plan --source "$TENANTMOVER_SOURCE" --tenant-table "$tenant" --no-progress "$@" >/dev/null 2>"$work/plan1.err" || true
relations=()
while IFS= read -r r; do
  relations+=(--relation "$r")
done < <(grep -o "plan with --relation '[^']*'" "$work/plan1.err" | sed "s/^plan with --relation '//; s/'\$//" | sort -u)
echo "plan suggests ${#relations[@]} flag words: ${relations[*]:-none}"

echo "== plan --apply with them"
status=0
"$tm" plan --source "$TENANTMOVER_SOURCE" --tenant-table "$tenant" --no-progress "$@" "${relations[@]}" \
  --apply --target "$TENANTMOVER_TARGET" >/dev/null 2>"$work/apply.err" || status=$?
grep -E '^(BLOCKING|not created)' "$work/apply.err" || true
tail -n 5 "$work/apply.err"
if [ "$status" != 0 ]; then
  echo "plan --apply failed (exit $status): the whole output is above the last lines, in $work/apply.err when KEEP=1" >&2
  exit "$status"
fi

echo "== objects by kind: source, target"
objects="
SELECT 'table', count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'tenantmover')
UNION ALL SELECT 'view', count(*) FROM pg_views WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND viewname NOT LIKE 'citus%'
UNION ALL SELECT 'materialized view', count(*) FROM pg_matviews
UNION ALL SELECT 'function', count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'tenantmover', 'citus', 'citus_internal', 'columnar', 'columnar_internal')
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
UNION ALL SELECT 'trigger', count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND n.nspname NOT IN ('pg_catalog', 'tenantmover')
UNION ALL SELECT 'extension', count(*) FROM pg_extension WHERE extname NOT LIKE 'citus%'
UNION ALL SELECT 'index', count(*) FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'tenantmover')"
paste -d '|' <(psql -Atq "$TENANTMOVER_SOURCE" -c "$objects") <(psql -Atq "$TENANTMOVER_TARGET" -c "$objects") |
  awk -F '|' '{ printf "%-18s %6s %6s\n", $1, $2, $4 }'
echo "(the target's triggers wait for the data: copy creates them; its indexes leave out the tenant indexes plan says a key covers)"
