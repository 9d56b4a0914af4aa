// Accuracy of precision 'fast' against 'exact' (SPEC §3; issue #16's report), ragged causal prefill
// S = Skv = 4096, H = 64, on the device given (default cuda:0). Per valid position: the error of fast
// against exact, over SPEC's fast allowance 2^-10 * |scale| * sum_h |w_h| * sum_d |q_hd k_d| (computed
// by the exact op on magnitudes: every product >= 0, so relu is the identity) — max and p99; and per
// row with more than 2048 keys, the fraction of its top-2048 positions (deterministic top-k) that fast
// and exact share. Two data sets: random fp8 (every finite code), and near-ties (q and k from 4
// levels, so many scores are equal or nearly so). Prints one JSON line per data set.
//   node benchmarks/probes/fast_accuracy.js [cuda:0] [S]
const { raggedMqaLogits, topk, Tensor } = require('../../dist/lib');
const { lcg32 } = require('../../dist/benchmarks/suites/topk');
const device = process.argv[2] ?? 'cuda:0';
const S = Number(process.argv[3] ?? 4096), Skv = S, H = 64, D = 128, K = Math.min(2048, S >> 1);

function lcg(seed) {
  const next = lcg32(seed);
  return () => (next() >>> 8) / 16777216;
}
function fp8Bytes(n, rand, levels) {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let b = levels ? levels[Math.floor(rand() * levels.length)] : Math.floor(rand() * 256);
    if ((b & 0x7f) === 0x7f) b ^= 1; // no NaN codes
    a[i] = b;
  }
  return a;
}

function run(name, q, k, w) {
  const ks = new Int32Array(S), ke = Int32Array.from({ length: S }, (_, i) => i + 1);
  const kScale = Float32Array.from({ length: Skv }, (_, i) => 0.01 * (1 + (i % 7) / 7));
  const logits = (qb, kb, wt, precision) => {
    const t = [
      Tensor.from(qb, [S, H, D], { dtype: 'float8_e4m3fn', device }),
      Tensor.from(kb, [Skv, D], { dtype: 'float8_e4m3fn', device }),
      Tensor.from(kScale, [Skv], { device }),
      Tensor.from(wt, [S, H], { device }),
      Tensor.from(ks, [S], { device }),
      Tensor.from(ke, [S], { device }),
    ];
    const out = raggedMqaLogits(...t, { precision, clean: true });
    t.forEach((x) => x.dispose());
    return out;
  };
  const exact = logits(q, k, w, 'exact'), fast = logits(q, k, w, 'fast');
  const mag = logits(q.map((b) => b & 0x7f), k.map((b) => b & 0x7f), w.map(Math.abs), 'exact').toTypedArraySync();
  const e = exact.toTypedArraySync(), f = fast.toTypedArraySync();
  const ratios = [];
  let bitEqual = 0, valid = 0;
  for (let i = 0; i < S; i++)
    for (let p = 0; p <= i; p++) {
      const j = i * Skv + p;
      valid++;
      if (Object.is(e[j], f[j])) bitEqual++;
      ratios.push(Math.abs(f[j] - e[j]) / Math.max(mag[j] * 2 ** -10, 1e-30));
    }
  ratios.sort((a, b) => a - b);
  const lengths = Tensor.from(ke, [S], { device });
  const ie = topk(exact, lengths, { k: K, deterministic: true }).toTypedArraySync();
  const iff = topk(fast, lengths, { k: K, deterministic: true }).toTypedArraySync();
  let shared = 0, rows = 0, identicalRows = 0;
  for (let i = K; i < S; i++) {
    const a = new Set(ie.subarray(i * K, (i + 1) * K));
    let n = 0;
    for (const x of iff.subarray(i * K, (i + 1) * K)) if (a.has(x)) n++;
    shared += n / K;
    rows++;
    if (n === K) identicalRows++;
  }
  console.log(JSON.stringify({
    data: name, shape: `ragged S=${S} Skv=${Skv} causal H=${H}`, positions: valid,
    errOverBound: { max: +ratios[ratios.length - 1].toExponential(3), p99: +ratios[Math.floor(0.99 * (ratios.length - 1))].toExponential(3), median: +ratios[ratios.length >> 1].toExponential(3) },
    bitEqualFraction: +(bitEqual / valid).toFixed(4),
    [`top${K}`]: { rows, meanSharedFraction: +(shared / rows).toFixed(5), identicalRows },
  }));
  [exact, fast, lengths].forEach((x) => x.dispose());
}

const rand = lcg(7);
const w = Float32Array.from({ length: S * H }, () => rand() * 2 - 1);
run('random', fp8Bytes(S * H * D, rand), fp8Bytes(Skv * D, rand), w);
// Near-ties: +-1, +-0.5 (e4m3 codes 0x38, 0xb8, 0x30, 0xb0) in q and k.
const levels = [0x38, 0xb8, 0x30, 0xb0];
run('near-ties', fp8Bytes(S * H * D, rand, levels), fp8Bytes(Skv * D, rand, levels), w);
