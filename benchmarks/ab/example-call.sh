#!/usr/bin/env bash
# Session 19's call (never ran: no machine was lent), kept as the example of a call: main against the
# `mqa-plan` build and switches of the plan build, the per-warpgroup-Q build (gq), then the candidate's
# whole default set, gpu jest and memcheck. Here: benchmarks/ab/build.sh main main; build.sh plan (this
# tree, built); NSA_AB_CMAKE_ARGS=--CDCMAKE_CUDA_FLAGS=-DNSA_MQA_GROUP_Q=1 build.sh gq; bash ../shared/gpu/pack.
# Device: carry [".gpu", ".ab"], command `AB_BUDGET=540 bash .gpu/on-gpu bash benchmarks/ab/example-call.sh`.
set -u
source benchmarks/ab/lib.sh
ab_info
round() {
  local s="mqa-logits topk decode-step pipeline"
  ab_bench main "$1" main $s
  ab_bench plan "$1" plan $s
  NSA_MQA_PLAN=0 ab_bench plan0 "$1" plan mqa-logits decode-step
  NSA_TOPK_CANDIDATES=0 ab_bench cand0 "$1" plan topk
  NSA_TOPK_CANDIDATES=2 ab_bench cand2 "$1" plan topk
  NSA_MQA_SWITCH_TILES=2 ab_bench sw2 "$1" plan mqa-logits decode-step
  ab_bench gq "$1" gq mqa-logits decode-step
  NSA_MQA_SWITCH_TILES=1 ab_bench gq-sw1 "$1" gq mqa-logits decode-step
}
round 1
ab_default plan
ab_jest plan 'mqa-logits|paged-mqa|indexer|topk|robustness'
ab_jest gq 'mqa-logits|paged-mqa'
[ "$(ab_left)" -gt 90 ] && round 2
ab_sanitize memcheck plan 'mqa-logits|paged-mqa'
ab_table
