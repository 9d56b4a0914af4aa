// Diagnostic: runs one bench case's op a few times, so that a profiler can take one launch of it (the
// second: the first pays module loading). Same data as the suites. Usage, on the GPU machine:
//   ncu --set full -k regex:topk_registers --launch-skip 1 --launch-count 1 -o topk64 \
//     node benchmarks/probes/ncu_cases.js topk 64x8192
// Cases: `topk RxL` (rows of L keys), `topk-prefill R` (row i of i + 1 keys), `ragged S Skv fast|exact`
// (the prefill suite's causal chunk after Skv - S prefix tokens, H = 64).
const { raggedMqaLogits, Stream, topk, Tensor } = require('../../dist/lib');
const { uniformLogits } = require('../../dist/benchmarks/suites/topk');
const { causalChunk } = require('../../dist/benchmarks/suites/prefill');
const device = process.env.NSA_PROBE_DEVICE ?? 'cuda:0'; // cpu: a dry run of the script
const [what, a, b, precision = 'fast'] = process.argv.slice(2);
const calls = 3;
const stream = device === 'cpu' ? undefined : Stream.create(device);

function run(fn, tensors) {
  for (let i = 0; i < calls; i++) {
    fn();
    stream?.synchronize();
  }
  tensors.forEach((t) => t.dispose());
  stream?.dispose();
}

if (what === 'topk' || what === 'topk-prefill') {
  const [rows, len] = what === 'topk' ? a.split('x').map(Number) : [Number(a), Number(a)];
  const logits = Tensor.from(uniformLogits(rows * len, 99), [rows, len], { device });
  const lens = Int32Array.from({ length: rows }, (_, i) => (what === 'topk' ? len : i + 1));
  const lengths = Tensor.from(lens, [rows], { device });
  const out = Tensor.empty([rows, 2048], { dtype: 'int32', device });
  run(() => topk(logits, lengths, { k: 2048, out, stream }), [logits, lengths, out]);
} else if (what === 'ragged') {
  const c = causalChunk(device, Number(a), Number(b));
  run(() => raggedMqaLogits(c.q, c.k, c.kScale, c.w, c.ks, c.ke, { out: c.out, precision, stream }), [c]);
} else {
  console.error('usage: ncu_cases.js topk RxL | topk-prefill R | ragged S Skv fast|exact');
  process.exit(2);
}
