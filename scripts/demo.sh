#!/usr/bin/env bash
# The project's main job (the README's first command).
#
# Installs what is missing (scripts/setup.sh), builds build/ exactly as the
# test command's main stage does, then shows the system at work: `pbft demo`,
# a real local cluster (4 replica processes on loopback ports, closed-loop
# clients, kill -9 of the primary, a restart that catches up by state
# transfer, a linearizability verdict). Arguments after the options go to
# `pbft demo` (e.g. --no-fault). With --sim it runs the deterministic
# simulator instead: one seeded run under every fault, then a multi-seed run
# that ends with `N passed, M failed` and the protocol situations it reached.
#
# Usage: scripts/demo.sh [--no-setup] [--sim] [pbft demo options...]
# Environment: SEEDS (multi-seed run, default 20), JOBS (ninja -j),
# BUILD_PREFIX (build directory, default "build", as in scripts/test.sh).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

skip_setup="${PBFT_SKIP_SETUP:-0}"
seeds="${SEEDS:-20}"
build="${BUILD_PREFIX:-build}"
sim=0
demo_args=()
for arg in "$@"; do
  case "$arg" in
    --no-setup) skip_setup=1 ;;
    --sim) sim=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) demo_args+=("$arg") ;;
  esac
done

step() { echo; echo "== $*"; }
run() { echo "+ $*"; "$@"; }

if [[ "$skip_setup" != 1 ]]; then
  step "setup: Debian packages"
  run scripts/setup.sh
fi

step "build: $build/ (RelWithDebInfo, warnings as errors)"
ninja_jobs=()
if [[ -n "${JOBS:-}" ]]; then
  ninja_jobs=(-j "$JOBS")
fi
fresh=()
if [[ -f "$build/CMakeCache.txt" ]] &&
   ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$build/CMakeCache.txt"; then
  fresh=(--fresh)  # configured earlier with another generator
fi
run cmake "${fresh[@]}" -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPBFT_WERROR=ON
run ninja -C "$build" "${ninja_jobs[@]}"

faults=all

simulator_demo() {
  step "simulator: seed 1, 4 replicas (f = 1), faults $faults"
  run "$build/pbft" sim --seed 1 --replicas 4 --faults "$faults"
  step "simulator: seeds 1..$seeds, 4 replicas, faults $faults"
  run "$build/pbft" sim --seeds "$seeds" --replicas 4 --faults "$faults"
}

if [[ "$sim" == 1 ]]; then
  simulator_demo
  exit 0
fi

# The main job: a real cluster on this machine.
step "pbft demo: 4 replica processes on loopback, clients, kill -9 and restart of a replica"
run "$build/pbft" demo "${demo_args[@]}"
