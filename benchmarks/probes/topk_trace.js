// Diagnostic: clock64 cycles at the register top-k kernel's phase marks (cumulative from the kernel's
// start; -1: phase skipped), thread 0 of each CTA of row 0, with an addon built with -DNSA_TOPK_TRACE.
// The bench suite's rows (uniform in [-10, 10)). Usage:
//   NSA_ADDON_PATH=build-trace/Release/nsa_kernels.node node benchmarks/probes/topk_trace.js 64x8192 1x131072 ...
const { topk, Tensor } = require('../../dist/lib');
const { uniformLogits } = require('../../dist/benchmarks/suites/topk');
const device = 'cuda:0';
for (const shape of process.argv.slice(2)) {
  const [rows, len] = shape.split('x').map(Number);
  const logits = Tensor.from(uniformLogits(rows * len, 12345), [rows, len], { device });
  const lengths = Tensor.from(new Int32Array(rows).fill(len), [rows], { device });
  for (let i = 0; i < 3; i++) {
    console.log(`== ${shape} call ${i}`);
    topk(logits, lengths, { k: 2048 }).toTypedArraySync();
  }
}
