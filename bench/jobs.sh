#!/usr/bin/env bash
# Job start/stop speed and supervisor memory, against plain processes measured in the
# same run.
#
#   bench/jobs.sh [N]      (default N=50)
#
# Prints: seconds until N `sleep 300` jobs are all running (N sequential `mrsm run -d`),
# supervisor memory per job (RSS counts the binary's and libc's shared pages in every
# process; PSS divides shared pages among their users; USS is what one more job adds), `show jobs --json` latency with the N jobs, and seconds to
# stop them all; each beside a baseline of plain processes (`sleep 300 &` started by
# this shell, its RSS, `true` run N times, `kill` + wait).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50}
cargo build --release --quiet
MRSM="$PWD/target/release/mrsm"
ROOT=$(mktemp -d /tmp/mrsm-bench.XXXXXX)
export MRSM_ROOT_DIR="$ROOT"
pids=()
# On any exit, success or failure: kill every process this run started. mrsm's
# supervisors and all their processes carry MRSM_ROOT_DIR=$ROOT in their environment;
# the baseline sleeps are in $pids.
cleanup() {
  for p in /proc/[0-9]*; do
    if { tr '\0' '\n' < "$p/environ"; } 2>/dev/null | grep -qxF "MRSM_ROOT_DIR=$ROOT"; then
      kill -9 "${p#/proc/}" 2>/dev/null || true
    fi
  done
  if [ ${#pids[@]} -gt 0 ]; then kill -9 "${pids[@]}" 2>/dev/null || true; fi
  rm -rf "$ROOT"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.4f}')"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
uss_kb() { awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s}' "/proc/$1/smaps_rollup"; }

# Baseline: plain background processes.
t0=$(now)
for _ in $(seq "$N"); do sleep 300 & pids+=($!); done
t1=$(now)
base_start=$(secs "$t0" "$t1")
base_rss=$(rss_kb "${pids[0]}")
base_pss=$(pss_kb "${pids[0]}")
base_uss=$(uss_kb "${pids[0]}")
t0=$(now)
for _ in $(seq 20); do /bin/true; done
t1=$(now)
base_exec=$(python3 -c "print(f'{($t1 - $t0) / 20 * 1000:.2f}')")
t0=$(now)
kill "${pids[@]}"
wait "${pids[@]}" 2>/dev/null || true
t1=$(now)
pids=()
base_stop=$(secs "$t0" "$t1")

# mrsm jobs.
# `run -d` returns once its job is running, so the loop's end is when all run.
t0=$(now)
for i in $(seq "$N"); do "$MRSM" run -d --name "bench-$i" -- sleep 300 >/dev/null; done
t1=$(now)
start=$(secs "$t0" "$t1")
running=$("$MRSM" show jobs --json | python3 -c "import json,sys;print(sum(j['status']=='running' and j['pid'] is not None for j in json.load(sys.stdin)))")
[ "$running" = "$N" ] || { echo "only $running of $N jobs running" >&2; exit 1; }

total=0; total_pss=0; total_uss=0
for s in "$ROOT"/jobs/*/state.json; do
  pid=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['supervisor']['pid'])" "$s")
  total=$((total + $(rss_kb "$pid")))
  total_pss=$((total_pss + $(pss_kb "$pid")))
  total_uss=$((total_uss + $(uss_kb "$pid")))
done
rss=$((total / N)); pss=$((total_pss / N)); uss=$((total_uss / N))

t0=$(now)
for _ in $(seq 20); do "$MRSM" show jobs --json >/dev/null; done
t1=$(now)
show=$(python3 -c "print(f'{($t1 - $t0) / 20 * 1000:.2f}')")

names=()
for i in $(seq "$N"); do names+=("bench-$i"); done
t0=$(now)
"$MRSM" stop jobs "${names[@]}" >/dev/null
t1=$(now)
stop=$(secs "$t0" "$t1")

ratio() { python3 -c "print(f'{$1 / $2:.1f}x')"; }
echo "jobs: $N (2-core goal: all running < 0.25 s, < 2 MB RSS per supervisor, show jobs < 10 ms, stop < 0.1 s per job)"
printf '%-34s %12s %14s %8s\n' "measure" "mrsm" "baseline" "ratio"
printf '%-34s %12s %14s %8s\n' "seconds until all running" "$start" "$base_start" "$(ratio "$start" "$base_start")"
printf '%-34s %12s %14s %8s\n' "RSS per supervisor (KiB)" "$rss" "$base_rss" "$(ratio "$rss" "$base_rss")"
printf '%-34s %12s %14s %8s\n' "PSS per supervisor (KiB)" "$pss" "$base_pss" "$(ratio "$pss" "$base_pss")"
printf '%-34s %12s %14s %8s\n' "private (USS) per supervisor (KiB)" "$uss" "$base_uss" "$(ratio "$uss" "$base_uss")"
printf '%-34s %12s %14s %8s\n' "show jobs --json latency (ms)" "$show" "$base_exec" "$(ratio "$show" "$base_exec")"
printf '%-34s %12s %14s %8s\n' "seconds to stop all" "$stop" "$base_stop" "$(ratio "$stop" "$base_stop")"
printf '%-34s %12s\n' "stop per job (s)" "$(python3 -c "print(f'{$stop / $N:.4f}')")"
