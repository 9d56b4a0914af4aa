#!/usr/bin/env node
// `npm run release`: prebuildify --napi --strip with scripts/prebuild-gyp.js standing in for node-gyp
// → prebuilds/<platform>-<arch>/nsa-kernels.node, then reports its size and the newest glibc/libstdc++
// symbol versions it needs (the oldest Linux it can load on). (Named `release`, not `prebuild`: npm would
// run a script called `prebuild` as the pre-hook of every `npm run build`.)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const bin = require.resolve('prebuildify/bin.js');
const r = spawnSync(process.execPath, [bin, '--napi', '--strip', '--node-gyp', path.join(__dirname, 'prebuild-gyp.js')], {
  cwd: root,
  stdio: 'inherit',
});
if (r.status !== 0) process.exit(r.status ?? 1);

const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const file = path.join(dir, 'nsa-kernels.node');
const bytes = fs.statSync(file).size;
let needs = '';
const dump = spawnSync('objdump', ['-T', file], { encoding: 'utf8' });
if (dump.status === 0) {
  const newest = (prefix) => {
    const vs = [...dump.stdout.matchAll(new RegExp(`${prefix}_([0-9.]+)`, 'g'))].map((m) => m[1]);
    const key = (v) => v.split('.').map((x) => x.padStart(4, '0')).join('.');
    return vs.sort((a, b) => (key(a) < key(b) ? 1 : -1))[0];
  };
  needs = `; needs GLIBC_${newest('GLIBC')}, GLIBCXX_${newest('GLIBCXX')}`;
}
console.log(`nsa-kernels: ${path.relative(root, file)} ${(bytes / 1048576).toFixed(2)} MiB (${bytes} bytes)${needs}`);
