#!/usr/bin/env bash
# The measurements of docs/PERFORMANCE.md: every setting of issue 7's
# targets, each run RUNS times (default 3), one JSON object per run in
# OUT/results.jsonl, and a summary of medians (needs python3).
#
#   scripts/bench.sh [--out DIR] [--runs N] [--quick] [--memory-minutes M]
#                    [--durability-only]
#
# --quick runs each setting once for 3 s; --memory-minutes (default 0: off)
# adds the long run that watches the replicas' memory (target 7: 10).
# The durability settings (issue 17) run "none" and "fsync" alternately, so
# that both see the same machine; --durability-only runs just those.
set -euo pipefail
cd "$(dirname "$0")/.."
out="bench-results/$(date +%Y%m%d-%H%M%S)"
runs=3
duration=10
warmup=3
memory_minutes=0
durability_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --quick) runs=1; duration=3; warmup=1; shift ;;
    --memory-minutes) memory_minutes="$2"; shift 2 ;;
    --durability-only) durability_only=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
pbft="${PBFT:-build/pbft}"
[[ -x "$pbft" ]] || { echo "build first: $pbft is missing" >&2; exit 1; }
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"

# bench NAME ARGS...: RUNS runs of pbft bench, each a line of results.jsonl
# tagged with NAME.
bench() {
  local name="$1"; shift
  for ((i = 1; i <= runs; i++)); do
    echo "== $name ($i/$runs): pbft bench $*" >&2
    "$pbft" bench --quiet --duration "$duration" --warmup "$warmup" "$@" |
      python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); j["setting"]=sys.argv[1]; print(json.dumps(j))' "$name" >> "$results"
  done
}

# interleaved NAME ARGS...: RUNS rounds of one run with --durability none
# then one with fsync, tagged "NAME none" and "NAME fsync".
interleaved() {
  local name="$1"; shift
  local runs_saved=$runs; runs=1
  for ((round = 1; round <= runs_saved; round++)); do
    bench "$name none" --durability none "$@"
    bench "$name fsync" --durability fsync "$@"
  done
  runs=$runs_saved
}

# The settings measure MAC'd requests unless they say "signed", as they
# always have: the cluster's default is signed requests (the big-MAC attack),
# so they ask for MACs. The unreplicated server checks no client tag.
mac=(--client-auth mac)
interleaved "D. 0/0 mac n=4" "${mac[@]}"
interleaved "D. 1KiB/1KiB mac n=4" --request-size 1024 --reply-size 1024 "${mac[@]}"
interleaved "D. 4KiB/4KiB mac n=4" --request-size 4096 --reply-size 4096 "${mac[@]}"
interleaved "D. 0/0 low load n=4" --clients 1 --outstanding 1 "${mac[@]}"
if [[ "$durability_only" == 0 ]]; then
# Issue 7's settings, measured with the default durability (fsync) since
# issue 17; their table in PERFORMANCE.md was taken with none.
bench "1. 0/0 mac n=4 (saturating)" "${mac[@]}"
bench "1. 0/0 unreplicated (saturating)" --unreplicated "${mac[@]}"
bench "2. 0/0 low load n=4" --clients 1 --outstanding 1 "${mac[@]}"
bench "2. 0/0 low load unreplicated" --clients 1 --outstanding 1 --unreplicated "${mac[@]}"
bench "4. 0/0 signed n=4" --client-auth signature
bench "5. 1KiB/1KiB mac n=4" --request-size 1024 --reply-size 1024 "${mac[@]}"
bench "5. 1KiB/1KiB unreplicated" --request-size 1024 --reply-size 1024 --unreplicated "${mac[@]}"
bench "size 4KiB/4KiB mac n=4" --request-size 4096 --reply-size 4096 "${mac[@]}"
bench "size 4KiB/4KiB unreplicated" --request-size 4096 --reply-size 4096 --unreplicated "${mac[@]}"
bench "6. 0/0 mac n=7" --replicas 7 "${mac[@]}"
bench "6. 0/0 mac n=10" --replicas 10 "${mac[@]}"
bench "6. 0/0 low load n=7" --replicas 7 --clients 1 --outstanding 1 "${mac[@]}"
bench "6. 0/0 low load n=10" --replicas 10 --clients 1 --outstanding 1 "${mac[@]}"
if [[ "$memory_minutes" != 0 ]]; then
  runs_saved=$runs; runs=1
  duration=$((memory_minutes * 60)) bench "7. memory, 0/0 mac n=4, ${memory_minutes} min" "${mac[@]}"
  runs=$runs_saved
fi
fi

python3 - "$results" <<'PY' | tee "$out/summary.txt"
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    j = json.loads(line)
    rows.setdefault(j["setting"], []).append(j)
print(f"{'setting':36} {'runs':>4} {'ops/s (median)':>15} {'p50 ms':>8} {'p99 ms':>8} {'batch':>6} {'lg cpu':>6} {'syncs/op':>8}  ops/s of each run")
for name, js in rows.items():
    med = lambda f: statistics.median(f(j) for j in js)
    tput = med(lambda j: j["throughput_ops_per_s"])
    print(f"{name:36} {len(js):>4} {tput:>15,.0f} {med(lambda j: j['latency_us']['p50'])/1e3:>8.3f} "
          f"{med(lambda j: j['latency_us']['p99'])/1e3:>8.3f} {med(lambda j: j.get('batch_size_mean', 1)):>6.1f} "
          f"{med(lambda j: j['load_generator']['cpu_share']):>6.2f} "
          f"{med(lambda j: j['replicas'][0].get('disk_syncs_per_op', 0) if j.get('replicas') else 0):>8.4f}  "
          + ", ".join(f"{j['throughput_ops_per_s']:,.0f}" for j in js))
    for j in js:
        for r in j["replicas"]:
            if "rss_kib_max" in r and name.startswith("7."):
                print(f"    server {r['id']}: RSS {r['rss_kib_start']/1024:.1f} MiB at the start, "
                      f"{r['rss_kib']/1024:.1f} MiB at the end, max {r['rss_kib_max']/1024:.1f} MiB")
PY
echo "results: $results" >&2
