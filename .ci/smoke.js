// Run inside a project that installed the nsa-kernels tarball: loads the package the way a user does,
// prints which binary and backend loaded, and checks one op (top-k) against a sort. argv[2]: a path
// fragment the loaded binary must contain ("prebuilds/" or "build/Release").
'use strict';
const nsa = require('nsa-kernels');
const want = process.argv[2];
const b = nsa.backend();
console.log(`smoke: ${b.addonPath} -> backend ${b.backend} (${b.reason})`);
if (want && !b.addonPath.includes(want)) throw new Error(`expected the binary under ${want}, loaded ${b.addonPath}`);
const device = b.backend === 'cpu' ? 'cpu' : 'cuda:0';
const n = 5000, k = 64;
const vals = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1000);
const logits = nsa.Tensor.from(vals, [1, n], { device });
const lengths = nsa.Tensor.from(new Int32Array([n]), [1], { device });
const got = [...nsa.topk(logits, lengths, { k }).toTypedArraySync()].map((i) => vals[i]).sort((x, y) => y - x);
const want_ = [...vals].sort((x, y) => y - x).slice(0, k);
if (got.some((v, i) => v !== want_[i])) throw new Error('top-k values differ from a sort');
console.log(`smoke: top-${k} of ${n} on ${device} matches a sort`);
