#!/usr/bin/env bash
# One GPU sitting on the device machine (run through `bash .gpu/on-gpu bash benchmarks/gpu-session.sh`):
# the gpu jest project, the same under compute-sanitizer memcheck, nsa-bench and the PyTorch peers.
# Logs and JSON go to $OUT (or ./gpu-out); a short table is printed last.
# STEPS (default "jest memcheck bench peers"; also racecheck, ncu) picks a subset; BENCH_ARGS is passed to
# nsa-bench run; JEST_ARGS (test path patterns) narrows jest and memcheck; NCU_ARGS to ncu's nsa-bench run.
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
steps=${STEPS:-jest memcheck bench peers}
summary=()
has() { [[ " $steps " == *" $1 "* ]]; }

# At most 8 files come back from $OUT: info.txt, jest-gpu.{json,log}, memcheck.log, racecheck.log, bench.{json,txt}, torch.json.
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv; node dist/benchmarks/cli.js info; } 2>&1 | tee "$out/info.txt"

if has jest; then
  NSA_REQUIRE_GPU=1 node node_modules/.bin/jest --selectProjects gpu --runInBand ${JEST_ARGS:-} --json --outputFile="$out/jest-gpu.json" > "$out/jest-gpu.log" 2>&1
  rc=$?
  summary+=("jest gpu: rc=$rc $(grep -E '^Tests:' "$out/jest-gpu.log" | tail -1)")
  grep -E '✕|●' "$out/jest-gpu.log" | head -20
fi
if has memcheck; then
  compute-sanitizer --tool memcheck --target-processes all --error-exitcode 3 \
    node node_modules/.bin/jest --selectProjects gpu --runInBand ${JEST_ARGS:-} > "$out/memcheck.log" 2>&1
  rc=$?
  summary+=("memcheck: rc=$rc $(grep -E 'ERROR SUMMARY' "$out/memcheck.log" | tail -1) $(grep -E '^Tests:' "$out/memcheck.log" | tail -1)")
fi
if has racecheck; then
  timeout ${RACECHECK_TIMEOUT:-300} compute-sanitizer --tool racecheck --target-processes all --error-exitcode 3 \
    node node_modules/.bin/jest --selectProjects gpu --runInBand ${RACECHECK_TESTS:-} > "$out/racecheck.log" 2>&1
  rc=$?
  summary+=("racecheck: rc=$rc $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$out/racecheck.log" | tail -1)")
fi
if has bench; then
  node dist/benchmarks/cli.js run ${BENCH_ARGS:-} --json "$out/bench.json" > "$out/bench.txt" 2> /tmp/bench.err || tail -5 /tmp/bench.err
  summary+=("nsa-bench: rc=$?")
fi
if has ncu; then  # one profile of the first mqa-logits launch (B=64 ctx=8192 preshuffle p64 in --quick)
  ncu --kernel-name regex:mqa_logits --launch-count 1 --section SpeedOfLight --section MemoryWorkloadAnalysis \
    --section WarpStateStats --section Occupancy --section LaunchStats --section SchedulerStats \
    node dist/benchmarks/cli.js run ${NCU_ARGS:-mqa-logits --quick} > "$out/ncu.txt" 2>&1
  summary+=("ncu: rc=$?")
fi
if has peers; then
  PYTHONUNBUFFERED=1 python3 benchmarks/peers/torch_peers.py --json "$out/torch.json" > /tmp/torch.txt 2>&1
  summary+=("torch peers: rc=$?")
fi
echo "==== torch peers"; tail -20 /tmp/torch.txt 2>/dev/null
echo "==== nsa-bench"; cat "$out/bench.txt" 2>/dev/null
echo "==== summary"; printf '%s\n' "${summary[@]}"
