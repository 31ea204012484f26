#!/usr/bin/env bash
# The measurements of docs/PERFORMANCE.md: every setting of issue 7's
# targets, each run RUNS times (default 3), one JSON object per run in
# OUT/results.jsonl, and a summary of medians (needs python3).
#
#   scripts/bench.sh [--out DIR] [--runs N] [--quick] [--memory-minutes M]
#                    [--durability-only] [--encryption-only]
#                    [--attacks-only [--attacks M1,M2]]
#
# --quick runs each setting once for 3 s; --memory-minutes (default 0: off)
# adds the long run that watches the replicas' memory (target 7: 10).
# The durability settings (issue 17) run "none" and "fsync" alternately, so
# that both see the same machine; --durability-only runs just those.
# --encryption-only (issue 18) runs the links' settings: TLS (the default)
# and cleartext (encryption = "none") alternately, so that both see the same
# machine; the main run includes them.
# --attacks-only (issue 18) runs, for each attack mode of `pbft attack
# --list` (or those of --attacks), the baseline (--attack none) and the
# attack alternately, RUNS rounds, and writes the table (median ops/s, % of
# the baseline, peak RSS per replica, the honest clients' longest wait) as
# markdown to docs/bench-results/<date>-<commit>-attacks.md (TEST-ONLY
# attackers; measure on a quiet machine).
set -euo pipefail
cd "$(dirname "$0")/.."
out="bench-results/$(date +%Y%m%d-%H%M%S)"
runs=3
duration=10
warmup=3
memory_minutes=0
durability_only=0
attacks_only=0
encryption_only=0
attacks=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --quick) runs=1; duration=3; warmup=1; shift ;;
    --memory-minutes) memory_minutes="$2"; shift 2 ;;
    --durability-only) durability_only=1; shift ;;
    --attacks-only) attacks_only=1; shift ;;
    --encryption-only) encryption_only=1; shift ;;
    --attacks) attacks="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
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

# alternate NAME FLAG A B ARGS...: RUNS rounds of one run with FLAG A then
# one with FLAG B, tagged "NAME A" and "NAME B", so that both see the same
# machine.
alternate() {
  local name="$1" flag="$2" a="$3" b="$4"; shift 4
  local runs_saved=$runs; runs=1
  for ((round = 1; round <= runs_saved; round++)); do
    bench "$name $a" "$flag" "$a" "$@"
    bench "$name $b" "$flag" "$b" "$@"
  done
  runs=$runs_saved
}
# The durability settings: none then fsync; the links': TLS then cleartext.
interleaved() { local name="$1"; shift; alternate "$name" --durability none fsync "$@"; }
links() { local name="$1"; shift; alternate "$name" --encryption tls none "$@"; }

# The settings measure MAC'd requests unless they say "signed", as they
# always have: the cluster's default is signed requests (the big-MAC attack),
# so they ask for MACs. The unreplicated server checks no client tag.
mac=(--client-auth mac)

# attacks: for each mode, RUNS rounds of the baseline then the attack, with
# the same options (MAC'd requests, the default load; [kv] limits that
# memory-fill reaches: 256 MiB in all, 32 MiB per client). replay-requests
# runs once more with signed requests, where each replay costs an Ed25519
# verification.
if [[ "$attacks_only" == 1 ]]; then
  if [[ -z "$attacks" ]]; then
    attacks="$("$pbft" attack --list | paste -sd, -)"
    attacks="$attacks,replay-requests/signed"
  fi
  kv_limits=(--kv-bytes-max 268435456 --kv-client-bytes-max 33554432)
  IFS=',' read -r -a attack_list <<<"$attacks"
  rounds=$runs; runs=1
  for attack in "${attack_list[@]}"; do
    auth=("${mac[@]}")
    mode="${attack%/signed}"
    [[ "$attack" == */signed ]] && auth=(--client-auth signature)
    for ((round = 1; round <= rounds; round++)); do
      bench "A. $attack: baseline" --attack none "${auth[@]}" "${kv_limits[@]}"
      bench "A. $attack: attack" --attack "$mode" "${auth[@]}" "${kv_limits[@]}"
    done
  done
  runs=$rounds
  commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  table="docs/bench-results/$(date +%Y-%m-%d)-$commit-attacks.md"
  mkdir -p docs/bench-results
  python3 - "$results" "$commit" <<'PY' | tee "$table"
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    j = json.loads(line)
    attack, kind = j["setting"][3:].rsplit(": ", 1)
    rows.setdefault(attack, {}).setdefault(kind, []).append(j)
print(f"# Throughput under attack (commit {sys.argv[2]}, `scripts/bench.sh --attacks-only`)")
print()
print("n = 4, MAC'd requests unless the mode says signed, 8 clients x 64 outstanding, "
      "[kv] bytes_max 256 MiB and client_bytes_max 32 MiB; baseline and attack alternated; "
      "medians of the runs. Peak RSS: each replica's VmHWM, the highest over the attack runs "
      "(`-`: the attacker's place). Longest wait: the honest clients' (completed or still in "
      "flight at the end), the highest over the runs; the bound is 2 view-change timeouts.")
print()
print("| mode | runs | baseline ops/s | attack ops/s | % of baseline | peak RSS MiB under attack "
      "(baseline) | longest honest wait ms under attack (baseline) | attacker sent |")
print("|---|---|---|---|---|---|---|---|")
def peaks(js):
    n = max(len(j["attack"]["replicas_peak_rss_kib"]) for j in js)
    out = []
    for i in range(n):
        values = [j["attack"]["replicas_peak_rss_kib"][i] for j in js]
        values = [v for v in values if v is not None]
        out.append(f"{max(values) / 1024:.0f}" if values else "-")
    return "/".join(out)
for attack, kinds in rows.items():
    base, hit = kinds.get("baseline", []), kinds.get("attack", [])
    if not base or not hit:
        continue
    b = statistics.median(j["throughput_ops_per_s"] for j in base)
    a = statistics.median(j["throughput_ops_per_s"] for j in hit)
    wait = lambda js: max(j["attack"]["honest_latency_max_us"] for j in js) / 1e3
    sent = hit[-1]["attack"]
    print(f"| {attack} | {len(hit)} | {b:,.0f} | {a:,.0f} | {100 * a / b:.0f}% | "
          f"{peaks(hit)} ({peaks(base)}) | {wait(hit):,.0f} ({wait(base):,.0f}) | "
          f"{sent.get('frames_sent', 0):,} frames, {sent.get('bytes_sent', 0) / 1e6:,.0f} MB, "
          f"{sent.get('connections_opened', 0):,} connections |")
PY
  echo "table: $table (commit it only if the machine was quiet)" >&2
fi

if [[ "$attacks_only" == 0 && "$durability_only" == 0 ]]; then
links "L. 0/0 mac n=4" "${mac[@]}"
links "L. 4KiB/4KiB mac n=4" --request-size 4096 --reply-size 4096 "${mac[@]}"
links "L. 0/0 low load n=4" --clients 1 --outstanding 1 "${mac[@]}"
fi
if [[ "$attacks_only" == 0 && "$encryption_only" == 0 ]]; then
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
