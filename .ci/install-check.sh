#!/usr/bin/env bash
# Packaging proofs (issue #8), run by .ci/run after the repo's own install:
#  1. npm run release -> prebuilds/linux-x64/nsa-kernels.node (CUDA, 4 targets, stripped); size printed.
#  2. npm pack; in a temp project whose PATH holds only node and npm (no cmake, nvcc, compiler),
#     npm install <tarball> must load the prebuild; smoke op + nsa-bench info.
#  3. the same tarball without prebuilds/, installed with the toolchain: the install script builds from
#     source with cmake-js; smoke op on that build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d /tmp/nsa-pack.XXXX)

echo "== prebuild"
if [ "${NSA_REUSE_PREBUILD:-0}" != 1 ]; then npm run release 2>&1 | tail -3; fi  # (reuse: local re-runs only)
test -f prebuilds/linux-x64/nsa-kernels.node

echo "== npm pack (with the prebuild)"
tgz=$(npm pack --silent --pack-destination "$work" | tail -1)
mv "$work/$tgz" "$work/with-prebuild.tgz"
tar -tzf "$work/with-prebuild.tgz" > "$work/list.txt"  # (grep -q on a pipe would SIGPIPE tar under pipefail)
grep -q 'package/prebuilds/linux-x64/nsa-kernels.node' "$work/list.txt"
echo "tarball: $(du -h "$work/with-prebuild.tgz" | cut -f1)"

echo "== install without a toolchain"
mkdir -p "$work/bin" "$work/no-toolchain"
for t in node npm npx sh; do ln -s "$(command -v $t)" "$work/bin/$t"; done
(
  cd "$work/no-toolchain"
  cp "$root/.ci/smoke.js" .
  export PATH="$work/bin"
  for t in cmake nvcc g++ c++ clang++; do if command -v $t; then echo "$t is on PATH"; exit 1; fi; done
  echo '{"name":"consumer","version":"1.0.0","private":true}' > package.json
  npm install --no-audit --no-fund "$work/with-prebuild.tgz" > install.log 2>&1 || { cat install.log; exit 1; }
  node smoke.js prebuilds/
  npx nsa-bench info
) 2>&1 | sed 's/^/  /'

echo "== install with the toolchain and no prebuild (source build)"
mv prebuilds "$work/prebuilds.aside"
tgz=$(npm pack --silent --pack-destination "$work" | tail -1)
mv "$work/prebuilds.aside" prebuilds
mv "$work/$tgz" "$work/source-only.tgz"
tar -tzf "$work/source-only.tgz" > "$work/list.txt"
if grep -q 'package/prebuilds/' "$work/list.txt"; then echo "prebuilds/ in the source-only tarball"; exit 1; fi
mkdir -p "$work/source"
(
  cd "$work/source"
  echo '{"name":"consumer","version":"1.0.0","private":true}' > package.json
  npm install --no-audit --no-fund --foreground-scripts "$work/source-only.tgz" > install.log 2>&1 || { tail -40 install.log; exit 1; }
  grep -q 'building the native addon from source' install.log
  cp "$root/.ci/smoke.js" .
  node smoke.js build/Release
) 2>&1 | sed 's/^/  /'
rm -rf "$work"
echo "== packaging checks passed"
