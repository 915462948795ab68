#!/usr/bin/env bash
# Install what is missing, build gatehouse into build/, and run `gatehouse demo`:
# a complete gateway (server, client, an echo resource) on loopback, no files needed.
# Extra arguments are passed to `gatehouse demo`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${GH_BUILD_DIR:-$ROOT/build}
JOBS=${GH_JOBS:-$(nproc)}

"$ROOT/scripts/deps.sh"

echo "demo: configuring $BUILD" >&2
cmake -S "$ROOT" -B "$BUILD" >/dev/null
echo "demo: building (-j$JOBS)" >&2
cmake --build "$BUILD" -j "$JOBS" --target gatehouse

echo "demo: running $BUILD/gatehouse demo (Ctrl-C to stop)" >&2
exec "$BUILD/gatehouse" demo "$@"
