# A/B helpers for one device call, sourced by a call's script on the GPU machine, run from the project root
# as `bash .gpu/on-gpu bash <script>` with ".gpu" and ".ab" carried (variants built by benchmarks/ab/build.sh).
# Every step is cut to the time left of AB_BUDGET seconds (default 540), so a short lease still returns
# what ran. Output under $OUT: bench-VARIANT-ROUND.json/.log, ab.tsv (case x variant, median of rounds),
# default-BUILD.json, jest-BUILD.log, TOOL-BUILD.log. Example: benchmarks/ab/example-call.sh.
OUT=${OUT:-/tmp/ab-out}
mkdir -p "$OUT" /tmp/ab
AB_END=$(( $(date +%s) + ${AB_BUDGET:-540} ))
here_ab=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

ab_left() { echo $(( AB_END - $(date +%s) )); }
# the smaller of $1 seconds and the time left (less 5 s for the table)
ab_limit() { local l; l=$(ab_left); if [ "$1" -lt "$l" ]; then echo "$1"; else echo $(( l > 6 ? l - 5 : 1 )); fi; }
ab_addon() { [ -s "/tmp/ab/$1.node" ] || xz -dc ".ab/$1.node.xz" > "/tmp/ab/$1.node"; echo "/tmp/ab/$1.node"; }

ab_info() {
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv > "$OUT/gpu.txt" 2>&1
  cat "$OUT/gpu.txt"
}
# ab_nsa_bench BUILD SECONDS NAME [SUITE...]: `nsa-bench run` of BUILD's addon and benchmarks into
# $OUT/NAME.json and .log, cut to SECONDS (and the time left)
ab_nsa_bench() {
  local build=$1 limit=$2 name=$3; shift 3
  NSA_ADDON_PATH=$(ab_addon "$build") timeout "$(ab_limit "$limit")" node ".ab/$build-dist/benchmarks/cli.js" run "$@" \
    --json "$OUT/$name.json" > "$OUT/$name.log" 2>&1
}
# ab_bench VARIANT ROUND BUILD SUITE...: a variant is a build plus the environment the caller sets
# (e.g. NSA_TOPK_CANDIDATES=0 ab_bench cand0 1 plan topk)
ab_bench() {
  local v=$1 r=$2 build=$3; shift 3
  ab_nsa_bench "$build" 60 "bench-$v-$r" "$@" || echo "bench $v round $r: rc=$?"
}
# ab_default BUILD: the whole default set (what benchmarks/results/h100-latest.json holds)
ab_default() {
  local t0; t0=$(date +%s)
  ab_nsa_bench "$1" 90 "default-$1"
  echo "default set ($1): rc=$? $(( $(date +%s) - t0 )) s"
}
# ab_jest BUILD [PATTERN]: the gpu jest project (this checkout's tests) against BUILD's addon
ab_jest() {
  local t0; t0=$(date +%s)
  NSA_ADDON_PATH=$(ab_addon "$1") NSA_REQUIRE_GPU=1 timeout "$(ab_limit 240)" node node_modules/.bin/jest \
    --selectProjects gpu --runInBand ${2:+--testPathPatterns "$2"} > "$OUT/jest-$1.log" 2>&1
  echo "jest ($1${2:+, $2}): rc=$? $(( $(date +%s) - t0 )) s $(grep -E '^Tests:' "$OUT/jest-$1.log" | tail -1)"
  grep -E '✕' "$OUT/jest-$1.log" | head -20
}
# ab_sanitize TOOL BUILD PATTERN [TESTNAME]: compute-sanitizer (memcheck | racecheck) over those tests
ab_sanitize() {
  local t0; t0=$(date +%s)
  [ "$(ab_left)" -gt 40 ] || { echo "$1 ($2): skipped, $(ab_left) s left"; return; }
  NSA_ADDON_PATH=$(ab_addon "$2") NSA_REQUIRE_GPU=1 timeout "$(ab_limit 240)" compute-sanitizer --tool "$1" \
    --target-processes all node node_modules/.bin/jest --selectProjects gpu --runInBand --testPathPatterns "$3" \
    ${4:+-t "$4"} > "$OUT/$1-$2.log" 2>&1
  echo "$1 ($2, $3): rc=$? $(( $(date +%s) - t0 )) s $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$1-$2.log" | tail -1) $(grep -E '^Tests:' "$OUT/$1-$2.log" | tail -1)"
}
ab_table() { python3 "$here_ab/table.py" "$OUT" | tee "$OUT/ab.tsv"; }
