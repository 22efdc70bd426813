#!/usr/bin/env bash
# Fill a database with the sample monolith; see scripts/gen-monolith/main.go.
#   scripts/gen-monolith.sh --url postgres://... --size large
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./scripts/gen-monolith "$@"
