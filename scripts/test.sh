#!/usr/bin/env bash
# shellcheck disable=SC2317  # the stage_* functions are called as "stage_$name"
# The project's test command (the README's, and the one .ci/run executes).
#
# Stages, all run by default, in this order:
#   main   build/       RelWithDebInfo, warnings are errors; ctest
#   asan   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer, fewer
#                       simulator seeds; ctest
#   fuzz   build-fuzz/  clang-14 + libFuzzer; every fuzz/<name>_fuzz.cpp target
#                       runs for FUZZ_SECONDS with its seed corpus
#                       fuzz/corpus/<name>/ (read only; new inputs go to a
#                       temporary directory, so the tree is not modified)
#                       and the libFuzzer flags in fuzz/<name>_fuzz.flags,
#                       if any (one a line, # comments)
#   mutants build-mutants/ PBFT_MUTANTS=ON (include/pbft/mutant.h): the
#                       simulator against deliberately broken protocol
#                       variants; each must be caught within 2,000 seeds
#                       (ctest -L mutants, which names the checker)
# Every stage runs even if an earlier one failed (unless --fail-fast). The
# last line sums the ctest results of both builds and the fuzz targets as
# exactly `N passed, M failed`; a build that fails counts as one failure (for
# the fuzz stage: one per target). The exit status is non-zero on any failure.
#
# Usage: scripts/test.sh [options]
#   --quick              main stage only (same as --stages main)
#   --stages LIST        comma list of main,asan,fuzz   (env PBFT_TEST_STAGES)
#   --fuzz-seconds N     seconds per fuzz target, default 30  (env FUZZ_SECONDS)
#   --fail-fast          stop after the first failed stage
#   --no-setup           do not run scripts/setup.sh   (env PBFT_SKIP_SETUP=1)
#   --dry-run            print the commands, run nothing
# More environment: JOBS (ninja -j, default ninja's), CTEST_JOBS (default 2),
# CTEST_TIMEOUT (seconds per test, default 1500), ASAN_SIM_SEEDS (default 100),
# BUILD_PREFIX (default "build": build dirs are $BUILD_PREFIX, -asan, -fuzz, -mutants).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

stages="${PBFT_TEST_STAGES:-main,asan,fuzz,mutants}"
fuzz_seconds="${FUZZ_SECONDS:-30}"
skip_setup="${PBFT_SKIP_SETUP:-0}"
fail_fast=0
dry_run=0
ctest_jobs="${CTEST_JOBS:-2}"
ctest_timeout="${CTEST_TIMEOUT:-1500}"
asan_sim_seeds="${ASAN_SIM_SEEDS:-100}"
build_prefix="${BUILD_PREFIX:-build}"

usage() { awk '/^# shellcheck/ { next } NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

while (($# > 0)); do
  case "$1" in
    --quick) stages=main ;;
    --stages) stages="${2:?--stages needs a list}"; shift ;;
    --stages=*) stages="${1#*=}" ;;
    --fuzz-seconds) fuzz_seconds="${2:?--fuzz-seconds needs a number}"; shift ;;
    --fuzz-seconds=*) fuzz_seconds="${1#*=}" ;;
    --fail-fast) fail_fast=1 ;;
    --no-setup) skip_setup=1 ;;
    --dry-run) dry_run=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "test.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

selected=()
IFS=',' read -r -a requested <<<"$stages"
for s in "${requested[@]}"; do
  case "$s" in
    main|asan|fuzz|mutants) selected+=("$s") ;;
    "") ;;
    *) echo "test.sh: unknown stage '$s' (stages: main, asan, fuzz, mutants)" >&2; exit 2 ;;
  esac
done
if ((${#selected[@]} == 0)); then
  echo "test.sh: no stage selected" >&2
  exit 2
fi
if ! [[ "$fuzz_seconds" =~ ^[0-9]+$ ]] || ((fuzz_seconds < 1)); then
  echo "test.sh: FUZZ_SECONDS must be a positive integer, got '$fuzz_seconds'" >&2
  exit 2
fi

# ---------------------------------------------------------------- helpers

total_passed=0
total_failed=0
any_failure=0
summary_lines=()
log_dir="$(mktemp -d "${TMPDIR:-/tmp}/pbft-test.XXXXXX")"
trap 'rm -rf "$log_dir"' EXIT

banner() {
  echo
  echo "=================================================================="
  echo "== $*"
  echo "=================================================================="
}

duration() {  # seconds -> "4m07s"
  printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

run() {  # echo a command, then run it (unless --dry-run)
  echo "+ $*"
  ((dry_run)) || "$@"
}

ninja_jobs=()
if [[ -n "${JOBS:-}" ]]; then
  ninja_jobs=(-j "$JOBS")
fi

# configure <build dir> <cmake args...>: re-creates the cache when the
# directory was configured earlier with another generator or compiler, which
# cmake would otherwise refuse or handle badly.
configure() {
  local dir="$1"
  shift
  local fresh=()
  if [[ -f "$dir/CMakeCache.txt" ]]; then
    if ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$dir/CMakeCache.txt"; then
      fresh=(--fresh)
    fi
    local arg want
    for arg in "$@"; do
      if [[ "$arg" == -DCMAKE_CXX_COMPILER=* ]]; then
        want="$(command -v "${arg#*=}" || true)"
        if ! grep -q "^CMAKE_CXX_COMPILER:[A-Z]*=\(${arg#*=}\|$want\)$" "$dir/CMakeCache.txt"; then
          fresh=(--fresh)
        fi
      fi
    done
  fi
  run cmake "${fresh[@]}" -S . -B "$dir" -G Ninja "$@"
}

# run_ctest <name> <build dir> [VAR=value...]: runs ctest, adds its
# counts to the totals; returns non-zero when a test failed.
ctest_counts=""
ctest_extra=()  # more ctest arguments for the next run_ctest
run_ctest() {
  local name="$1" dir="$2"
  shift 2
  local log="$log_dir/ctest-$name.log"
  local cmd=(ctest --test-dir "$dir" --output-on-failure -j "$ctest_jobs"
             --timeout "$ctest_timeout" --no-tests=error "${ctest_extra[@]}")
  echo "+ $* ${cmd[*]}"
  if ((dry_run)); then
    ctest_counts="(dry run)"
    return 0
  fi
  local status=0
  env "$@" "${cmd[@]}" 2>&1 | tee "$log" || status=$?
  # "100% tests passed, 0 tests failed out of 57"
  local line
  line="$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)"
  if [[ "$line" =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    local failed="${BASH_REMATCH[1]}" total="${BASH_REMATCH[2]}"
    local passed=$((total - failed))
    if ((status != 0 && failed == 0)); then
      failed=1  # ctest failed without a failed test (e.g. a crash of ctest itself)
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    ctest_counts="$passed passed, $failed failed"
  else
    total_failed=$((total_failed + 1))
    ctest_counts="ctest reported no results (exit $status)"
    status=1
  fi
  return "$status"
}

record() {  # record <stage> <ok|FAILED> <detail> <seconds>
  summary_lines+=("$(printf '  %-5s %-7s %-40s %s' "$1" "$2" "$3" "$(duration "$4")")")
  [[ "$2" == ok ]] || any_failure=1
}

# ---------------------------------------------------------------- stages

stage_main() {
  local dir="$build_prefix"
  banner "stage main: RelWithDebInfo build in $dir/, warnings as errors, ctest"
  if ! configure "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPBFT_WERROR=ON ||
     ! run ninja -C "$dir" "${ninja_jobs[@]}"; then
    total_failed=$((total_failed + 1))
    ctest_counts="build failed"
    return 1
  fi
  run_ctest main "$dir"
}

stage_mutants() {
  local dir="$build_prefix-mutants"
  banner "stage mutants: PBFT_MUTANTS=ON build of pbft in $dir/, each mutant must be caught"
  if ! configure "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPBFT_WERROR=ON -DPBFT_MUTANTS=ON \
         -DPBFT_BENCH=OFF ||
     ! run ninja -C "$dir" "${ninja_jobs[@]}" pbft; then
    total_failed=$((total_failed + 1))
    ctest_counts="build failed"
    return 1
  fi
  ctest_extra=(-L mutants --verbose)
  local status=0
  run_ctest mutants "$dir" || status=$?
  ctest_extra=()
  return "$status"
}

stage_asan() {
  local dir="$build_prefix-asan"
  banner "stage asan: AddressSanitizer + UBSan build in $dir/, $asan_sim_seeds simulator seeds, ctest"
  if ! configure "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPBFT_WERROR=ON -DPBFT_SANITIZE=ON \
         -DPBFT_BENCH=OFF -DPBFT_SIM_SEEDS="$asan_sim_seeds" ||
     ! run ninja -C "$dir" "${ninja_jobs[@]}"; then
    total_failed=$((total_failed + 1))
    ctest_counts="build failed"
    return 1
  fi
  run_ctest asan "$dir" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
}

stage_fuzz() {
  local dir="$build_prefix-fuzz"
  banner "stage fuzz: clang-14 + libFuzzer build in $dir/, ${fuzz_seconds}s per target"
  local targets=() source
  for source in fuzz/*_fuzz.cpp; do
    [[ -e "$source" ]] || continue
    targets+=("$(basename "$source" .cpp)")
  done
  if ((${#targets[@]} == 0)); then
    echo "test.sh: no fuzz targets (fuzz/*_fuzz.cpp) found" >&2
    total_failed=$((total_failed + 1))
    ctest_counts="no fuzz targets"
    return 1
  fi
  echo "fuzz targets: ${targets[*]}"
  if ! configure "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
         -DPBFT_FUZZ=ON -DPBFT_BENCH=OFF ||
     ! run ninja -C "$dir" "${ninja_jobs[@]}" "${targets[@]}"; then
    total_failed=$((total_failed + ${#targets[@]}))
    ctest_counts="build failed"
    return 1
  fi

  local passed=0 failed=0 target
  for target in "${targets[@]}"; do
    local corpus_name="${target%_fuzz}"
    local seed_dir="fuzz/corpus/$corpus_name"
    local work_dir="$log_dir/corpus-$corpus_name"
    local artifact_dir="$dir/fuzz-artifacts/$target"
    local log="$dir/fuzz-logs/$target.log"
    local binary
    binary="$(find "$dir" -type f -name "$target" -perm -u+x 2>/dev/null | head -n 1)"
    if ((dry_run)); then
      binary="${binary:-$dir/fuzz/$target}"
    fi
    mkdir -p "$work_dir"
    ((dry_run)) || mkdir -p "$artifact_dir" "$(dirname "$log")"
    local corpora=("$work_dir")
    if [[ -d "$seed_dir" ]]; then
      corpora+=("$seed_dir")  # libFuzzer writes new inputs to the first directory only
    else
      echo "note: no seed corpus $seed_dir/ for $target"
    fi
    if [[ -z "$binary" ]]; then
      echo "test.sh: fuzz target $target was not built" >&2
      failed=$((failed + 1))
      continue
    fi
    local flags=()
    if [[ -f "fuzz/$target.flags" ]]; then
      mapfile -t flags < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "fuzz/$target.flags")
    fi
    local cmd=("$binary" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -timeout=60
               -print_final_stats=1 -artifact_prefix="$artifact_dir/" "${flags[@]}" "${corpora[@]}")
    echo "--- $target (log: $log)"
    echo "+ ${cmd[*]}"
    ((dry_run)) && { passed=$((passed + 1)); continue; }
    local status=0
    # Sanitizer reports must abort the run, so that libFuzzer saves the input.
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
      UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
      "${cmd[@]}" >"$log" 2>&1 || status=$?
    if ((status == 0)); then
      grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::new_units_added)' "$log" || true
      echo "$target: ok"
      passed=$((passed + 1))
    else
      tail -n 60 "$log"
      echo "$target: FAILED (exit $status); crashing inputs, if any, are in $artifact_dir/"
      echo "replay one with: $binary $artifact_dir/<crash-file>"
      failed=$((failed + 1))
    fi
  done
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  ctest_counts="$passed passed, $failed failed (fuzz targets)"
  ((failed == 0))
}

# ---------------------------------------------------------------- main

start=$SECONDS
echo "pbft test: stages ${selected[*]} (repo $repo_root)"

if [[ "$skip_setup" != 1 ]]; then
  banner "setup: Debian packages"
  run "$repo_root/scripts/setup.sh"
fi

for stage in "${selected[@]}"; do
  stage_start=$SECONDS
  ctest_counts=""
  if "stage_$stage"; then
    record "$stage" ok "$ctest_counts" $((SECONDS - stage_start))
  else
    record "$stage" FAILED "$ctest_counts" $((SECONDS - stage_start))
    if ((fail_fast)); then
      echo "test.sh: --fail-fast: stopping after the failed stage '$stage'" >&2
      break
    fi
  fi
done

banner "summary"
printf '%s\n' "${summary_lines[@]}"
echo "total time $(duration $((SECONDS - start)))"
echo "$total_passed passed, $total_failed failed"
exit "$any_failure"
