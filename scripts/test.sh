#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to every test:
#   1. installs the packages (scripts/install-deps.sh)
#   2. plain build with -Werror: unit tests three times (a flaky one shows
#      up), integration tests
#   3. AddressSanitizer + UndefinedBehaviorSanitizer build: the same tests
#   4. ThreadSanitizer build: queue, store, router and peer-table unit tests and the
#      integration tests (the whole server, all its threads)
#   5. clang-14 libFuzzer build: each fuzz target for XMPPD_FUZZ_SECONDS (default 30)
#   6. build against Debian's libwolfssl-dev instead of the lean wolfSSL: unit tests
# Build trees go to build-test/<name>.  Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc)
fuzz_seconds=${XMPPD_FUZZ_SECONDS:-30}
bash scripts/install-deps.sh

failed=()
step() { # name, cmake args..., -- ctest args...
  local name=$1; shift
  local cargs=() targs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do cargs+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  targs=("$@")
  local dir="$root/build-test/$name"
  echo "=== [$name] configure + build"
  if ! cmake -S "$root" -B "$dir" -DXMPPD_WERROR=ON "${cargs[@]}" >"$dir.configure.log" 2>&1; then
    mkdir -p "$(dirname "$dir")"; cat "$dir.configure.log"; failed+=("$name"); return
  fi
  if ! cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1; then
    tail -50 "$dir.build.log"; failed+=("$name"); return
  fi
  echo "=== [$name] ctest ${targs[*]}"
  if ! ctest --test-dir "$dir" --output-on-failure "${targs[@]}"; then
    failed+=("$name")
  fi
}
# More tests of a build already made by step.
more_tests() { # name, ctest args...
  local name=$1; shift
  case " ${failed[*]} " in *" $name "*) return;; esac
  echo "=== [$name] ctest $*"
  ctest --test-dir "$root/build-test/$name" --output-on-failure "$@" || failed+=("$name")
}
mkdir -p build-test

# The unit tests of the plain build run three times, so that a test that
# fails now and then shows up here before it lands.
step plain -DCMAKE_BUILD_TYPE=RelWithDebInfo -- -L unit --repeat until-fail:3
more_tests plain -L integration
step asan -DCMAKE_BUILD_TYPE=Debug "-DXMPPD_SANITIZE=address;undefined" -- -L 'unit|integration'
step tsan -DCMAKE_BUILD_TYPE=Debug -DXMPPD_SANITIZE=thread -- -R 'unit\.test_(queue|store|router|peer_table)|integration\.'
CC=clang-14 step fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXMPPD_FUZZ=ON -DXMPPD_FUZZ_SECONDS="$fuzz_seconds" -- -L fuzz
step system-wolfssl -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXMPPD_SYSTEM_WOLFSSL=ON -- -L unit

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED steps: ${failed[*]}"
  exit 1
fi
echo "all test steps passed"
