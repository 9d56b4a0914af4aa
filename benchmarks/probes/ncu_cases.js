// Diagnostic: runs one bench case's op a few times, so that a profiler can take one launch of it (the
// second: the first pays module loading). Same data as the suites. Usage, on the GPU machine:
//   ncu --set full -k regex:topk_registers --launch-skip 1 --launch-count 1 -o topk64 \
//     node benchmarks/probes/ncu_cases.js topk 64x8192
// Cases: `topk RxL` (rows of L keys), `topk-prefill R` (row i of i + 1 keys), `ragged S Skv fast|exact`
// (a causal chunk after Skv - S prefix tokens, H = 64).
const { raggedMqaLogits, Stream, topk, Tensor } = require('../../dist/lib');
const { lcg32, uniformLogits } = require('../../dist/benchmarks/suites/topk');
const device = process.env.NSA_PROBE_DEVICE ?? 'cuda:0'; // cpu: a dry run of the script
const [what, a, b, c] = process.argv.slice(2);
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
  const S = Number(a), Skv = Number(b), precision = c ?? 'fast', H = 64, D = 128;
  const bytes = (n, seed) => {
    const v = new Uint8Array(n), next = lcg32(seed);
    for (let i = 0; i < n; i++) v[i] = (next() >>> 24) & 0x7e; // positive fp8, no NaN codes
    return v;
  };
  const ke = Int32Array.from({ length: S }, (_, i) => Skv - S + i + 1);
  const t = [
    Tensor.from(bytes(S * H * D, 1), [S, H, D], { dtype: 'float8_e4m3fn', device }),
    Tensor.from(bytes(Skv * D, 2), [Skv, D], { dtype: 'float8_e4m3fn', device }),
    Tensor.full([Skv], 0.01, { device }),
    Tensor.from(Float32Array.from({ length: S * H }, (_, i) => Math.sin(i)), [S, H], { device }),
    Tensor.from(new Int32Array(S), [S], { device }),
    Tensor.from(ke, [S], { device }),
    Tensor.empty([S, Skv], { device }),
  ];
  const [q, k, ks_, w, ks, kend, out] = t;
  run(() => raggedMqaLogits(q, k, ks_, w, ks, kend, { out, precision, stream }), t);
} else {
  console.error('usage: ncu_cases.js topk RxL | topk-prefill R | ragged S Skv fast|exact');
  process.exit(2);
}
