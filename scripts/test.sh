#!/usr/bin/env bash
# Install what is missing, then build and run every test, three times:
#   1. build/       the normal build; all ctest tests (unit, abi, e2e)
#   2. build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer (-DGH_SANITIZE=ON);
#                   all ctest tests again, leaks and UB are fatal
#   3. build-fuzz/  clang + libFuzzer (-DGH_FUZZ=ON); the fuzz smoke tests
# Exits non-zero if any configure, build or test fails, and prints one summary
# line per build and a closing "N passed, M failed" over all the tests run.
#
# Developer overrides (CI sets none of these and so runs everything):
#   GH_SKIP_ASAN=1   skip build 2          GH_SKIP_FUZZ=1   skip build 3
#   GH_JOBS=N        compiler jobs (default: nproc)
#   GH_ASAN_CC=cc    compiler of build 2 (default: clang; read when build-asan/ is new)
#   GH_CTEST_JOBS=N  tests run at once (default: 2)
#   GH_CTEST_ARGS    extra ctest arguments, e.g. "-R e2e" (not for the fuzz build)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${GH_JOBS:-$(nproc)}
CTEST_JOBS=${GH_CTEST_JOBS:-2}
read -r -a EXTRA_CTEST <<<"${GH_CTEST_ARGS:-}"
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-test.XXXXXX")

# --bench: the benchmark harness's smoke test (ctest label "bench") runs its
# peers (iperf3, wrk, nginx, openssh, stunnel4) in the normal build.
"$ROOT/scripts/deps.sh" --bench || { echo "test: installing dependencies failed" >&2; exit 1; }

SUMMARY=()
TOTAL_PASSED=0
TOTAL_FAILED=0
RC=0
START_ALL=$SECONDS

banner() { printf '\n===== %s =====\n' "$*"; }

# ctest prints "NN% tests passed, F tests failed out of T"; add them up.
count_ctest() {
  local log=$1 line failed total
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [ -z "$line" ]; then
    echo "0 0"
    return
  fi
  failed=$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"$line")
  total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  echo "$((total - failed)) $failed"
}

# run_build NAME DIR CC "CMAKE ARGS" "CTEST ARGS" [ENV=VAL...]
run_build() {
  local name=$1 dir=$2 cc=$3 cmake_args=$4 ctest_args=$5
  shift 5
  local t0=$SECONDS log="$LOGDIR/$name.ctest.log" p f
  local -a cargs targs
  read -r -a cargs <<<"$cmake_args"
  read -r -a targs <<<"$ctest_args"

  banner "build $name: configure ($dir, CC=$cc)"
  # CC is read only when a build dir is first configured; later runs keep it.
  if ! CC=$cc cmake -S "$ROOT" -B "$dir" "${cargs[@]}"; then
    SUMMARY+=("build $name: FAIL (configure) after $((SECONDS - t0))s")
    TOTAL_FAILED=$((TOTAL_FAILED + 1)); RC=1; return
  fi
  banner "build $name: compile (-j$JOBS)"
  if ! cmake --build "$dir" -j "$JOBS"; then
    SUMMARY+=("build $name: FAIL (compile) after $((SECONDS - t0))s")
    TOTAL_FAILED=$((TOTAL_FAILED + 1)); RC=1; return
  fi
  if [ "$ctest_args" = "@fuzz" ]; then
    if (cd "$dir" && ctest -N -L fuzz | grep -q 'Total Tests: [1-9]'); then
      targs=(-L fuzz)
    else
      targs=(-R '^fuzz')
    fi
  fi
  banner "build $name: ctest ${targs[*]}"
  if (cd "$dir" && env "$@" ctest --output-on-failure -j "$CTEST_JOBS" --no-tests=error \
        "${targs[@]}") 2>&1 | tee "$log"; then
    read -r p f < <(count_ctest "$log")
    SUMMARY+=("build $name: PASS ($p tests passed) in $((SECONDS - t0))s")
  else
    read -r p f < <(count_ctest "$log")
    [ "$f" -gt 0 ] || f=1 # ctest failed without a count (e.g. no tests)
    SUMMARY+=("build $name: FAIL ($p passed, $f failed) in $((SECONDS - t0))s")
    RC=1
  fi
  TOTAL_PASSED=$((TOTAL_PASSED + p))
  TOTAL_FAILED=$((TOTAL_FAILED + f))
}

# ---- 1. normal build
run_build normal "$ROOT/build" "${CC:-cc}" "" "${EXTRA_CTEST[*]}"

# ---- 2. ASan + UBSan
if [ "${GH_SKIP_ASAN:-0}" = 1 ]; then
  SUMMARY+=("build asan: SKIPPED (GH_SKIP_ASAN=1)")
else
  # clang by default (gcc when there is none): a different compiler from
  # build 1, so its warnings (-Werror) are seen too.
  if command -v clang >/dev/null 2>&1; then asan_cc=clang; else asan_cc=gcc; fi
  # The benchmark smoke test measures nothing worth sanitizing twice.
  run_build asan "$ROOT/build-asan" "${GH_ASAN_CC:-$asan_cc}" "-DGH_SANITIZE=ON" "-LE bench ${EXTRA_CTEST[*]}" \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

# ---- 3. libFuzzer smoke
if [ "${GH_SKIP_FUZZ:-0}" = 1 ]; then
  SUMMARY+=("build fuzz: SKIPPED (GH_SKIP_FUZZ=1)")
elif [ ! -f "$ROOT/fuzz/CMakeLists.txt" ]; then
  SUMMARY+=("build fuzz: SKIPPED (no fuzz/CMakeLists.txt in the tree yet)")
else
  # The fuzz smoke tests carry the ctest label "fuzz" or are named fuzz.*:
  # run_build picks whichever selects something once the tree is configured.
  run_build fuzz "$ROOT/build-fuzz" clang "-DGH_FUZZ=ON" "@fuzz"
fi

banner "summary ($((SECONDS - START_ALL))s in all; logs in $LOGDIR)"
for s in "${SUMMARY[@]}"; do echo "$s"; done
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
exit $RC
