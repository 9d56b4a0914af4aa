#!/usr/bin/env node
// prebuildify has no cmake-js backend: it runs `<node-gyp> rebuild --target=… --arch=… --release` and
// then takes the first .node in build/Release. This stands in for node-gyp: a clean cmake-js build
// (default CUDA targets sm_80, sm_89, sm_90a SASS + compute_90 PTX unless NSA_CUDA_ARCHS says
// otherwise), in build-release/, copied to build/Release as the one .node there for prebuildify to pick up.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
if (args[0] !== 'rebuild') {
  console.error(`prebuild-gyp: expected prebuildify's "rebuild" call, got: ${args.join(' ') || '(nothing)'}`);
  process.exit(2);
}
const arch = (args.find((a) => a.startsWith('--arch=')) || '').slice('--arch='.length);
if (arch && arch !== process.arch) {
  console.error(`prebuild-gyp: cross-compiling to ${arch} is not supported (this machine is ${process.arch})`);
  process.exit(2);
}
const debug = args.includes('--debug');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
// A prebuild must carry the GPU kernels (and ships without line info, fatbinary compressed for size): NSA_GPU=cuda fails the build when nvcc is missing instead of
// silently shipping a CPU-only binary. The release targets are fixed here (a developer's narrower
// NSA_CUDA_ARCHS must not leak into a published binary) unless NSA_PREBUILD_CUDA_ARCHS says otherwise.
const env = { ...process.env };
delete env.NSA_CUDA_ARCHS;
if (process.env.NSA_PREBUILD_CUDA_ARCHS) env.NSA_CUDA_ARCHS = process.env.NSA_PREBUILD_CUDA_ARCHS;
const extra = (process.env.NSA_PREBUILD_CMAKE_ARGS || '').split(/\s+/).filter(Boolean);
const cmd = [cmakeJs, 'rebuild', '--out', 'build-release', '--CDNSA_GPU=cuda', '--CDNSA_RELEASE_BINARY=ON', ...(debug ? ['--debug'] : []), ...extra];
const r = spawnSync(process.execPath, cmd, { cwd: root, stdio: 'inherit', env });
if (r.status !== 0) process.exit(r.status ?? 1);

// The release build has its own CMake cache (build-release/), so a developer's build/ keeps its
// options; its one .node is copied to where prebuildify looks, as the only .node there.
const config = debug ? 'Debug' : 'Release';
const built = path.join(root, 'build-release', config, 'nsa_kernels.node');
const out = path.join(root, 'build', config);
fs.mkdirSync(out, { recursive: true });
for (const f of fs.readdirSync(out)) if (f.endsWith('.node')) fs.rmSync(path.join(out, f));
fs.copyFileSync(built, path.join(out, 'nsa_kernels.node'));
console.error(`prebuild-gyp: built ${path.relative(root, built)} (${fs.statSync(built).size} bytes before strip) -> ${path.relative(root, out)}/`);
