# Shared by bench/http-*.sh (sourced, not run): the release binary, the demo site in its own
# process, an RSS sampler, and reading counters out of results.json.

# Builds (or reuses) the release binary; a separate target dir keeps benchmarks off the
# debug build's lock.
throng_bin() {
  if [ -n "${THRONG:-}" ]; then echo "$THRONG"; return; fi
  local dir=${CARGO_TARGET_DIR:-/work/target-bench}
  CARGO_TARGET_DIR=$dir cargo build --release --quiet >&2
  echo "$dir/release/throng"
}

# Thousands of users need thousands of sockets, in throng and in the demo site.
raise_fd_limit() {
  ulimit -Hn 1048576 2>/dev/null || true
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

# start_demo_site BIN PORT LATENCY: the demo site in its own process; sets DEMO_PID.
start_demo_site() {
  "$1" demo-site --port "$2" --latency-ms "$3" >"$OUT/demo-site.log" 2>&1 &
  DEMO_PID=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$2/" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "demo site did not start on port $2" >&2
  return 1
}

# sample_rss PID EVERY FILE: appends "elapsed_s rss_kb hwm_kb open_fds cpu_s anon_kb file_kb
# threads huge_kb" until PID exits (cpu_s: the process's user + system CPU seconds so far;
# anon_kb: the heap, stacks and other private memory; file_kb: mapped file pages, mostly the
# binary's code; huge_kb: anonymous memory in transparent huge pages, which mimalloc asks for on
# its arena, so the heap's RSS moves in 2 MiB steps).
sample_rss() {
  local pid=$1 every=$2 file=$3 start
  start=$(date +%s.%N)
  while kill -0 "$pid" 2>/dev/null; do
    local status rss hwm conns cpu now anon mapped threads huge
    status=$(cat "/proc/$pid/status" 2>/dev/null) || break
    rss=$(awk '/^VmRSS:/ {print $2}' <<<"$status")
    hwm=$(awk '/^VmHWM:/ {print $2}' <<<"$status")
    anon=$(awk '/^RssAnon:/ {print $2}' <<<"$status")
    mapped=$(awk '/^RssFile:/ {print $2}' <<<"$status")
    threads=$(awk '/^Threads:/ {print $2}' <<<"$status")
    huge=$(awk '/^AnonHugePages:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null) || huge=0
    conns=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
    cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$pid/stat" 2>/dev/null) || cpu=0
    now=$(date +%s.%N)
    printf '%.0f %s %s %s %s %s %s %s %s\n' "$(echo "$now - $start" | bc)" "$rss" "$hwm" "$conns" "$cpu" \
      "$anon" "$mapped" "$threads" "${huge:-0}" >>"$file"
    sleep "$every"
  done
}

# counter RESULTS NAME: a run counter from results.json (0 when absent).
counter() {
  jq -r --arg k "$2" '.summary.counters[$k] // 0' "$1"
}
