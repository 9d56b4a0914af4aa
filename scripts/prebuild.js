#!/usr/bin/env node
// `npm run prebuild`: prebuildify --napi --strip with scripts/prebuild-gyp.js standing in for node-gyp
// → prebuilds/<platform>-<arch>/nsa-kernels.node, then reports its size and the newest glibc/libstdc++
// symbol versions it needs (the oldest Linux it can load on).
//
// npm also runs a script named "prebuild" as the pre-hook of `npm run build`; a release build there
// would double every developer build, so when the npm process above us was asked for `build` this
// does nothing. (npm gives a hook and a direct run the same environment; its command line differs.)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function npmTarget() {
  let pid = process.ppid;
  for (let depth = 0; depth < 4 && pid > 1; depth++) {
    let cmd;
    try {
      // npm retitles itself ("npm run build"), so argv may arrive as one string: match on the joined line.
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    } catch {
      return null; // not Linux, or no /proc: assume a direct run
    }
    const m = /(?:^|[\s/])npm(?:-cli\.js)?\s+(?:run|run-script|rum|urn)\s+(\S+)/.exec(cmd);
    if (m) return m[1];
    pid = Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)\s+\S+\s+/, '').split(' ')[0]);
  }
  return null;
}

if (process.env.npm_lifecycle_event === 'prebuild' && npmTarget() === 'build') {
  console.error('nsa-kernels: not making release prebuilds as the pre-hook of `npm run build` (run `npm run prebuild`)');
  process.exit(0);
}

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
