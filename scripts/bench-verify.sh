#!/usr/bin/env bash
# Time tenantmover verify against the plain per-tenant GROUP BY count of every
# table on source and target (same run, same databases) and print the ratio,
# for a plain PostgreSQL target and a Citus coordinator with 2 workers, with
# each server's CPU seconds from /proc; see scripts/bench-verify/main.go.
#   scripts/bench-verify.sh                      # throwaway server, 5M purchases
#   scripts/bench-verify.sh --size medium --runs 5
#   scripts/bench-verify.sh --url postgres://postgres@127.0.0.1:5432/postgres --reuse
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/bench-verify "$@"
