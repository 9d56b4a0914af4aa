#!/usr/bin/env bash
# Here (no GPU needed): builds one A/B variant into .ab/ (git-ignored), for benchmarks/ab/lib.sh to time on
# the GPU machine. `build.sh NAME REF` builds git REF in a scratch worktree (sm_90a only, ~2 min on 2 cores);
# `build.sh NAME` takes this tree's current build/Release and dist as they are (build them first).
# NSA_AB_CMAKE_ARGS adds cmake-js arguments (e.g. --CDCMAKE_CUDA_FLAGS=-DNSA_MQA_GROUP_Q=1); without a REF
# the tree is then built again with them into build-ab-NAME/ (git-ignored), dist as it is.
# Writes .ab/NAME.node.xz (the addon, xz: ~3-4 MB) and .ab/NAME-dist/ (compiled TypeScript: the benchmarks
# of that variant). Carry ".ab" with ".gpu" in the device call.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
name=${1:?usage: build.sh NAME [REF]}
ref=${2:-}
mkdir -p .ab  # (git-ignored)
rm -rf ".ab/$name-dist"
# cmake_build DIR OUT: the addon of the tree at DIR into DIR/OUT (sm_90a unless NSA_CUDA_ARCHS says)
cmake_build() {
  echo "build.sh: building $1 into $2 for ${NSA_CUDA_ARCHS:-90a-real} ${NSA_AB_CMAKE_ARGS:-}" >&2
  # shellcheck disable=SC2086  # (NSA_AB_CMAKE_ARGS: words)
  (cd "$1" && NSA_CUDA_ARCHS=${NSA_CUDA_ARCHS:-90a-real} npx cmake-js build --out "$2" ${NSA_AB_CMAKE_ARGS:-} > "/tmp/nsa-ab-$name.log" 2>&1) \
    || { tail -30 "/tmp/nsa-ab-$name.log"; exit 1; }
}
if [ -z "$ref" ]; then
  [ -d dist ] || { echo "build.sh: no dist here: npm run build first" >&2; exit 1; }
  if [ -n "${NSA_AB_CMAKE_ARGS:-}" ]; then
    cmake_build "$root" "build-ab-$name"
    src=build-ab-$name/Release/nsa_kernels.node
  else
    [ -s build/Release/nsa_kernels.node ] || { echo "build.sh: no build/Release here: npm run build first" >&2; exit 1; }
    src=build/Release/nsa_kernels.node
  fi
  cp -r dist ".ab/$name-dist"
else
  wt=$(mktemp -d /tmp/nsa-ab-XXXX)
  git worktree add -q --detach "$wt" "$ref"
  trap 'git worktree remove --force "$wt"' EXIT
  ln -s "$root/node_modules" "$wt/node_modules"
  cmake_build "$wt" build
  (cd "$wt" && npx tsc -p tsconfig.build.json --outDir "$root/.ab/$name-dist")
  src=$wt/build/Release/nsa_kernels.node
fi
xz -T2 -c "$src" > ".ab/$name.node.xz"
du -sh ".ab/$name.node.xz" ".ab/$name-dist" >&2
