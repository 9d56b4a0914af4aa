#!/usr/bin/env node
// npm install hook: use a prebuilt or already-built addon when one loads; otherwise build from source
// with cmake-js (CUDA when nvcc is found); otherwise say what to install.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const root = path.join(__dirname, '..');

function loads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}
function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

if (process.env.NSA_FORCE_BUILD !== '1' && loads()) process.exit(0);
let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js');
} catch {
  cmakeJs = null;
}
const missing = [];
if (!has('cmake')) missing.push('cmake (>= 3.18)');
if (!has('c++') && !has('g++') && !has('clang++')) missing.push('a C++17 compiler (g++ or clang++)');
if (!cmakeJs) missing.push('the cmake-js package (npm install cmake-js)');
if (missing.length) {
  console.error(`nsa-kernels: no prebuilt binary for ${process.platform}-${process.arch} loaded, and building from source needs: ${missing.join(', ')}.`);
  console.error('nsa-kernels: install those (plus nvcc from the CUDA toolkit for GPU kernels) and run npm rebuild nsa-kernels.');
  process.exit(1);
}
console.error('nsa-kernels: building the native addon from source (cmake-js; CUDA when nvcc is found) ...');
const r = spawnSync(process.execPath, [cmakeJs, 'build', '--out', 'build'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
