// Diagnostic: per-CTA timeline of the sm90 kernel on a causal ragged chunk (S = Skv, H = 64), with an
// addon built with -DNSA_MQA_TRACE (see mqa_trace.js for the columns). Usage:
//   NSA_ADDON_PATH=build-trace/Release/nsa_kernels.node node benchmarks/probes/ragged_trace.js S [precision] | python3 benchmarks/probes/mqa_trace.py
const { raggedMqaLogits, Tensor } = require('../../dist/lib');
const S = Number(process.argv[2] ?? 8192), precision = process.argv[3] ?? 'exact', H = 64, device = 'cuda:0';
const bytes = new Uint8Array(S * H * 128).map((_, i) => (i * 37 + 11) & 0x7e);
const q = Tensor.from(bytes, [S, H, 128], { dtype: 'float8_e4m3fn', device });
const k = Tensor.from(bytes.subarray(0, S * 128), [S, 128], { dtype: 'float8_e4m3fn', device });
const kScale = Tensor.full([S], 0.01, { device }), w = Tensor.full([S, H], 0.5, { device });
const ks = Tensor.from(new Int32Array(S), [S], { device }), ke = Tensor.from(Int32Array.from({ length: S }, (_, i) => i + 1), [S], { device });
const out = Tensor.empty([S, S], { device });
for (let i = 0; i < 3; i++) {
  console.log(`CALL ${i}`);
  raggedMqaLogits(q, k, kScale, w, ks, ke, { out, precision });
  out.toTypedArraySync();
}
