#!/usr/bin/env bash
# Regenerates docs/configuration.md from the key table (core/conf/keys.c) and
# the shipped plugins' option declarations: `gatehouse reference` of a build.
#   scripts/reference.sh [BUILD_DIR]     (default: build)
# tests/e2e/test_reference.py fails while the committed file differs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build}
"$BUILD/gatehouse" reference --plugin-dir "$BUILD/plugins" >"$ROOT/docs/configuration.md.new"
mv "$ROOT/docs/configuration.md.new" "$ROOT/docs/configuration.md"
echo "wrote $ROOT/docs/configuration.md"
