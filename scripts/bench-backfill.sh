#!/usr/bin/env bash
# Time tenantmover backfill (--workers 2) against one plain
#   UPDATE purchase SET store_id = product.store_id FROM product WHERE ...
# on identical copies of the sample monolith, in the same run, with a
# concurrent single-row writer's latency during each; see
# scripts/bench-backfill/main.go.
#   scripts/bench-backfill.sh                          # throwaway server, 5M purchases
#   scripts/bench-backfill.sh --size medium --index-first
#   scripts/bench-backfill.sh --url postgres://postgres@127.0.0.1:5432/postgres --reuse
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/bench-backfill "$@"
