// Diagnostic: per-CTA timeline of the sm90 paged-logits kernel. Needs an addon built with
// -DNSA_MQA_TRACE (the kernel printf's one line per CTA: block, sm, tiles, entry, schedule done, first TMA
// issued, first tile landed, q staged, exit; globaltimer ns). Usage:
//   NSA_ADDON_PATH=build-trace/Release/nsa_kernels.node node benchmarks/probes/mqa_trace.js B CTX | python3 benchmarks/probes/mqa_trace.py
const { pagedMqaLogits, Stream } = require('../../dist/lib');
const { mqaInputs } = require('../../dist/benchmarks/suites/mqa-logits');
const B = Number(process.argv[2] ?? 64), ctx = Number(process.argv[3] ?? 8192);
const stream = Stream.create('cuda:0');
const x = mqaInputs('cuda:0', B, ctx, 64, 'preshuffle');
for (let i = 0; i < 3; i++) {
  console.log(`CALL ${i}`);
  pagedMqaLogits(x.q, x.cache, x.w, x.cl, x.bt, { maxContextLen: ctx, out: x.out, stream });
  stream.synchronize();
}
x.dispose();
