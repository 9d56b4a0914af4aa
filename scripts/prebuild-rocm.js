#!/usr/bin/env node
// `npm run release:rocm`: the HIP build of the same sources (cmake-js, NSA_GPU=hip, clang's -x hip;
// NSA_HIP_CXX names the compiler, default clang++-15; extra cmake flags in NSA_PREBUILD_CMAKE_ARGS,
// e.g. --CDNSA_HIP_ARCHS=gfx942 with a ROCm 6 clang) -> prebuilds/<platform>-<arch>-rocm/nsa-kernels.node,
// stripped. lib/native.ts uses it when /dev/kfd exists and the HIP runtime sees a GPU.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const cxx = process.env.NSA_HIP_CXX || 'clang++-15';
const extra = (process.env.NSA_PREBUILD_CMAKE_ARGS || '').split(/\s+/).filter(Boolean);
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
run(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--out', 'build-hip', '--CDNSA_GPU=hip', `--CDCMAKE_CXX_COMPILER=${cxx}`, ...extra]);
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}-rocm`);
fs.mkdirSync(dir, { recursive: true });
const file = path.join(dir, 'nsa-kernels.node');
run('strip', ['--strip-all', '-o', file, path.join(root, 'build-hip', 'Release', 'nsa_kernels.node')]);
console.log(`nsa-kernels: ${path.relative(root, file)} ${(fs.statSync(file).size / 1048576).toFixed(2)} MiB`);
