#!/usr/bin/env bash
# A long simulator campaign: more than 100,000 seeds across n = 4, 7 and 10
# and every fault set, one `pbft sim --seeds` process per (n, faults) pair,
# JOBS of them at a time (default: one per core). Too long for CI (about
# 40 minutes on two cores); run it after a change to the protocol core or
# the simulator, and before a release.
#
# Each pair's output goes to OUT/n<N>-<faults>.log; the summary at the end
# gives, per pair, the seeds run, passed and failed, and the wall time, then
# every failed seed with its replay command, then the coverage over the
# whole campaign. A failed seed is a bug: fix it and make the seed a
# regression test (docs/design.md, "Sweeps and the long campaign").
#
# Usage: scripts/campaign.sh [--pbft PATH] [--out DIR] [--scale X] [--jobs N]
#   --pbft PATH   the binary (default build/pbft)
#   --out DIR     where the logs go (default campaign-<date>/ in the repo)
#   --scale X     multiply every seed count by X (0.01 for a smoke run)
#   --jobs N      processes at once (default: nproc)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pbft="$repo_root/build/pbft"
out="$repo_root/campaign-$(date +%Y%m%d-%H%M%S)"
scale=1
jobs="$(nproc)"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --pbft) pbft="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --scale) scale="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "campaign.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -x "$pbft" ]] || { echo "campaign.sh: no binary at $pbft (build first)" >&2; exit 2; }
mkdir -p "$out"

network="drop,dup,reorder,delay,partition"
nodes="crash,wipe,lag,badstate"
# n, fault set, seeds. `all` takes the bulk; the narrower sets make each
# kind of fault strike more often than it does among all the others.
plan=(
  "4 all 40000"     "7 all 20000"     "10 all 10000"
  "4 byzantine 3000" "7 byzantine 1500" "10 byzantine 1000"
  "4 $network 3000"  "7 $network 1500"  "10 $network 1000"
  "4 $nodes 3000"    "7 $nodes 1500"    "10 $nodes 1000"
  "4 $network,crash,wipe,lag 3000" "7 $network,crash,wipe,lag 1500" "10 $network,crash,wipe,lag 1000"
  "4 conflict 3000"  "7 conflict 1500"  "10 conflict 1000"
  "4 collude 3000"   "7 collude 1500"   "10 collude 1000"
  "4 replay-requests 3000" "7 replay-requests 1500" "10 replay-requests 1000"
)

run_one() {
  local n="$1" faults="$2" seeds="$3" log="$4"
  local start end
  start=$(date +%s)
  "$pbft" sim --seeds "$seeds" --replicas "$n" --faults "$faults" >"$log" 2>&1 || true
  end=$(date +%s)
  echo "wall_s $((end - start))" >>"$log"
}
export -f run_one
export pbft

list="$out/plan.txt"
: >"$list"
for entry in "${plan[@]}"; do
  read -r n faults seeds <<<"$entry"
  seeds=$(awk -v s="$seeds" -v x="$scale" 'BEGIN { v = int(s * x); print (v < 1 ? 1 : v) }')
  name="n$n-$(echo "$faults" | tr ',' '+')"
  echo "$n $faults $seeds $out/$name.log" >>"$list"
done
echo "campaign: $(wc -l <"$list") runs of pbft sim, $jobs at a time, logs in $out"
xargs -P "$jobs" -L 1 bash -c 'run_one "$@"' _ <"$list"

# The summary.
summary="$out/summary.txt"
{
  printf '%-4s %-36s %8s %8s %8s %8s\n' n faults seeds passed failed wall_s
  while read -r n faults seeds log; do
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)
    passed=$(echo "$line" | awk '{print $1}')
    failed=$(echo "$line" | awk '{print $3}')
    wall=$(awk '/^wall_s/ {print $2}' "$log")
    if [[ -z "$line" ]]; then passed=0; failed="crashed"; fi
    printf '%-4s %-36s %8s %8s %8s %8s\n' "$n" "$faults" "$seeds" "$passed" "$failed" "$wall"
  done <"$list"
  cat "$out"/n*.log | awk '/^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3 }
    END { printf "in all: %d seeds, %d passed, %d failed\n", p + f, p, f }'
  echo
  echo "failed seeds:"
  grep -h 'FAILED' "$out"/n*.log || echo "  none"
  echo
  echo "coverage over the campaign (runs in which each situation occurred):"
  cat "$out"/n*.log | awk '/^coverage [a-z_0-9]+: [0-9]+ runs/ {
      name = $2; sub(":", "", name); runs[name] += $3; times[name] += $5 }
    END { for (s in runs) printf "  %-48s %8d runs %10d times\n", s, runs[s], times[s] }' | sort
} >"$summary" 2>&1 || true
cat "$summary"
if grep -q 'FAILED\|crashed' "$summary"; then exit 1; fi
