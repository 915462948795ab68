#!/usr/bin/env bash
# Install what gatehouse needs to build and test on Debian 12 (bookworm).
#
# Idempotent: when every package is already installed it only checks (with
# dpkg-query) and returns at once, without touching the network. Otherwise it
# runs `apt-get update` once and installs only what is missing.
# Runs as root, or through sudo when not root and sudo exists.
# --bench: also the peers the benchmarks compare with (stunnel, wrk, sshd,
# iperf3, nginx).
set -euo pipefail

# clang is for the libFuzzer build: on Debian 12, `clang -fsanitize=fuzzer`
# links against libclang_rt.fuzzer-*.a, which ships in libclang-rt-14-dev (only
# *recommended* by libclang-common-14-dev, so name it explicitly since we
# install without recommends). libfuzzer-14-dev is the standalone libFuzzer.a
# and is not needed for -fsanitize=fuzzer.
# haproxy (run in the foreground by tests/e2e/test_lb.py, never as a service),
# iproute2 (ip netns/veth and ss in the fault tests) and util-linux (prlimit).
# valgrind runs the server and client in tests/e2e/test_valgrind.py (it sees
# accesses inside libuv that ASan cannot); nginx is the real HTTP resource of
# the burst test (tests/e2e/test_opens.py), run in the foreground, never as a
# service. postgresql: tests/e2e/test_unix.py starts a private cluster of
# its own (initdb in a temporary directory, as the postgres user) and reaches
# it over its Unix socket with psql and pgbench; the packaged cluster and
# service are not used.
PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libuv1-dev libssl-dev libinih-dev libcmocka-dev
  python3 openssl curl socat netcat-openbsd ca-certificates
  haproxy iproute2 util-linux valgrind nginx chromium postgresql
)
# The benchmarks' peers (bench/): `scripts/deps.sh --bench` adds them.
# (Debian 12 names: `nginx` is the server itself; nginx-light is only a
# wrapper that pulls nginx plus a module. iperf3 drives the bulk scenarios.)
BENCH_PACKAGES=(stunnel4 wrk openssh-server openssh-client iperf3 nginx)
if [ "${1:-}" = "--bench" ]; then
  PACKAGES+=("${BENCH_PACKAGES[@]}")
fi

say() { printf 'deps: %s\n' "$*" >&2; }

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  say "this script expects Debian 12 (dpkg and apt-get); install by hand:"
  say "  ${PACKAGES[*]}"
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  if [ "$status" != "installed" ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  say "all ${#PACKAGES[@]} packages present"
  exit 0
fi

say "missing: ${missing[*]}"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    say "not root and no sudo: as root, run"
    say "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
say "apt-get update"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
say "apt-get install ${missing[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"

# Verify: a package that could not be installed is a hard error.
still=()
for p in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
  say "still missing after install: ${still[*]}"
  exit 1
fi
say "installed: ${missing[*]}"
