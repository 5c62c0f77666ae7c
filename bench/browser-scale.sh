#!/usr/bin/env bash
# How many concurrent browser sessions of the demo flow this machine sustains.
#
# For each session count N (one session first, as the baseline), runs
#   throng run flows/shop.json --mode browser --users N
# against `throng demo-site` (its own process), and samples /proc every 0.5 s for the CPU
# of throng, of every Chromium process it started (their process groups), and of the demo
# site, plus the PSS of the Chromium processes. A count passes while page-load p50 stays
# within 2x of the single session's and throng's own CPU stays under 10% of throng +
# Chromium. Prints one table row per count and the largest passing count.
#
# Usage: bench/browser-scale.sh [N ...]          (default: 1 10 20 30 40 50 60 70)
# Env:   DURATION (60s), RAMP (15s), THRONG (target/release/throng), PORT (18080),
#        EXTRA (more `throng run` flags, e.g. "--processes 6 --sessions-per-process 12")
# The machine should be otherwise idle: other CPU load shows up as slower page loads.
set -euo pipefail
cd "$(dirname "$0")/.."

THRONG=${THRONG:-target/release/throng}
DURATION=${DURATION:-60s}
RAMP=${RAMP:-15s}
PORT=${PORT:-18080}
EXTRA=${EXTRA:-}
FLOW=${FLOW:-flows/shop.json}
COUNTS=("$@")
[ ${#COUNTS[@]} -eq 0 ] && COUNTS=(1 10 20 30 40 50 60 70)
[ -x "$THRONG" ] || cargo build --release --quiet
OUT=$(mktemp -d /tmp/throng-browser-scale.XXXXXX)

"$THRONG" demo-site --port "$PORT" >"$OUT/demo.log" 2>&1 &
DEMO=$!
trap 'kill $DEMO 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break
  sleep 0.1
done

# Samples CPU (jiffies) and PSS of throng, its Chromium process groups and the demo site
# until throng exits; prints "throng_cpu chrome_cpu demo_cpu chrome_pss_kb_peak
# throng_pss_kb_peak renderers_started split", split being Chromium CPU per process type
# ("browser=J,renderer=J,..."), types from `--type=` (utility processes by sub-type).
# A process that exits between samples would lose its last CPU: its parent's cutime
# (the zygote reaps renderers) says how much it really used, so that is counted instead.
SAMPLER=$(cat <<'PY'
import os, sys, time
throng, demo = int(sys.argv[1]), int(sys.argv[2])
def stat(pid):
    try:
        s = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    f = s.rsplit(")", 1)[1].split()
    return {"ppid": int(f[1]), "pgrp": int(f[2]), "cpu": int(f[11]) + int(f[12]),
            "ccpu": int(f[13]) + int(f[14])}
def ptype(pid):
    try:
        args = open(f"/proc/{pid}/cmdline").read().replace("\0", " ").split()
    except OSError:
        return "?"
    t = next((a[7:] for a in args if a.startswith("--type=")), "browser")
    if t == "utility":
        sub = next((a.split("=", 1)[1] for a in args if a.startswith("--utility-sub-type=")), "")
        t = "network" if "network" in sub.lower() else "utility"
    return t
def pss(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
groups, info, last, threads = set(), {}, {}, {}
pss_peak = throng_pss_peak = 0
start = stat(throng)
demo_start = stat(demo)["cpu"]
while True:
    me = stat(throng)
    if me is None:
        break
    last["throng"], last["demo"] = me["cpu"], (stat(demo) or {"cpu": 0})["cpu"]
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    stats = {p: stat(p) for p in pids}
    groups |= {p for p, s in stats.items() if s and s["ppid"] == throng}
    total_pss = 0
    for p, s in stats.items():
        if s and s["pgrp"] in groups:
            i = info.setdefault(p, {"type": ptype(p), "ppid": s["ppid"], "cpu": 0,
                                    "c0": s["ccpu"], "c": s["ccpu"], "alive": True})
            i["cpu"], i["c"] = max(i["cpu"], s["cpu"]), max(i["c"], s["ccpu"])
            total_pss += pss(p)
            try:
                for t in os.listdir(f"/proc/{p}/task"):
                    ts = open(f"/proc/{p}/task/{t}/stat").read()
                    name = ts[ts.index("(") + 1:ts.rindex(")")]
                    tf = ts.rsplit(")", 1)[1].split()
                    k = (i["type"], name, int(t))
                    threads[k] = max(threads.get(k, 0), int(tf[11]) + int(tf[12]))
            except (OSError, ValueError):
                pass
    for p, i in info.items():
        i["alive"] = p in stats and stats[p] is not None
    pss_peak = max(pss_peak, total_pss)
    throng_pss_peak = max(throng_pss_peak, pss(throng))
    time.sleep(0.5)
split = {}
for p, i in info.items():
    split[i["type"]] = split.get(i["type"], 0) + i["cpu"]
    parent = info.get(i["ppid"])
    if parent and not i["alive"]:
        split[i["type"]] -= i["cpu"]  # counted in full through the parent's cutime below
for p, i in info.items():
    # Children reaped by a zygote are renderers; by the browser, its helper processes.
    t = "renderer" if i["type"] == "zygote" else "helpers"
    split[t] = split.get(t, 0) + i["c"] - i["c0"]
renderers = sum(1 for i in info.values() if i["type"] == "renderer")
by_thread = {}
for (t, name, _), v in threads.items():
    by_thread[f"{t}:{name}"] = by_thread.get(f"{t}:{name}", 0) + v
top = sorted(by_thread.items(), key=lambda kv: -kv[1])[:10]
print(last["throng"] - start["cpu"], sum(split.values()), last["demo"] - demo_start,
      pss_peak, throng_pss_peak, renderers,
      ",".join(f"{k}={v}" for k, v in sorted(split.items()) if v),
      ",".join(f"{k.replace(' ', '_')}={v}" for k, v in top))
PY
)

printf "%8s %8s %8s %8s %8s %8s %8s %8s %8s %10s %7s %s\n" sessions loads "p50_ms" "p95_ms" \
  "x_single" "throng%" "chrome%" "demo%" "cpu_s" "ms_cpu/ld" "MB/sess" "failed verdict"
BASE=""
BEST=0
for N in "${COUNTS[@]}"; do
  LOG="$OUT/run-$N.log"
  # shellcheck disable=SC2086
  THRONG_DEMO_PASSWORD=wonderland "$THRONG" run "$FLOW" --mode browser \
    --target "http://127.0.0.1:$PORT" --users "$N" --ramp "$RAMP" --duration "$DURATION" \
    --quiet $EXTRA >"$LOG" 2>&1 &
  RUN=$!
  read -r T_CPU C_CPU D_CPU PSS_KB T_PSS_KB RENDERERS SPLIT THREADS < <(python3 -c "$SAMPLER" "$RUN" "$DEMO")
  wait "$RUN" || true
  # "  browser  page-load  count fail err rps p50 p90 p95 p99 max"
  read -r LOADS P50 P95 < <(awk '$1=="browser" && $2=="page-load" {print $3, $7, $9; exit}' "$LOG")
  FAILED=$(awk '/ sessions\.failed / {print $NF}' "$LOG" | tail -1)
  FAILED=${FAILED:-0}
  TOTAL=$((T_CPU + C_CPU))
  TPCT=$(awk -v a="$T_CPU" -v t="$TOTAL" 'BEGIN {printf "%.1f", t ? 100*a/t : 0}')
  CPCT=$(awk -v a="$C_CPU" -v t="$TOTAL" 'BEGIN {printf "%.1f", t ? 100*a/t : 0}')
  DPCT=$(awk -v a="$D_CPU" -v t="$((TOTAL + D_CPU))" 'BEGIN {printf "%.1f", t ? 100*a/t : 0}')
  PSS=$(awk -v k="$PSS_KB" -v n="$N" 'BEGIN {printf "%.0f", k/1024/n}')
  [ -z "$BASE" ] && BASE=$P50
  RATIO=$(awk -v p="$P50" -v b="$BASE" 'BEGIN {printf "%.2f", p/b}')
  OK=$(awk -v r="$RATIO" -v t="$TPCT" 'BEGIN {print (r <= 2.0 && t < 10.0) ? "pass" : "FAIL"}')
  [ "$OK" = pass ] && [ "$N" -gt "$BEST" ] && BEST=$N
  HZ=$(getconf CLK_TCK)
  CPU_S=$(awk -v t="$TOTAL" -v hz="$HZ" 'BEGIN {printf "%.0f", t/hz}')
  PER_LOAD=$(awk -v t="$TOTAL" -v hz="$HZ" -v n="$LOADS" 'BEGIN {printf "%.0f", n ? 1000*t/hz/n : 0}')
  printf "%8s %8s %8s %8s %8s %8s %8s %8s %8s %10s %7s %s\n" "$N" "$LOADS" "$P50" "$P95" "$RATIO" \
    "$TPCT" "$CPCT" "$DPCT" "$CPU_S" "$PER_LOAD" "$PSS" "$FAILED $OK"
  # Where Chromium's CPU went: ms per page load by process type, and renderers started.
  SPLIT_MS=$(echo "$SPLIT" | tr ',' '\n' | awk -F= -v hz="$HZ" -v n="$LOADS" \
    'NF==2 {printf "%s%s=%.0f", sep, $1, n ? 1000*$2/hz/n : 0; sep=" "}')
  echo "         chromium ms/load by process: $SPLIT_MS; renderers started: $RENDERERS"
  # The busiest threads (process type:thread name), sampled (exits lose their last 0.5 s).
  THREADS_MS=$(echo "$THREADS" | tr ',' '\n' | awk -F= -v hz="$HZ" -v n="$LOADS" \
    'NF==2 {printf "%s%s=%.0f", sep, $1, n ? 1000*$2/hz/n : 0; sep=" "}')
  echo "         busiest threads, ms/load: $THREADS_MS"
done
echo "throng PSS at the last count: $((T_PSS_KB / 1024)) MB; logs in $OUT"
echo "largest passing session count: $BEST"
