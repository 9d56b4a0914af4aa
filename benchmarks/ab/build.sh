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
mkdir -p .ab "$(git rev-parse --git-common-dir)/info"
grep -qxF '/.ab/' "$(git rev-parse --git-common-dir)/info/exclude" 2>/dev/null || echo '/.ab/' >> "$(git rev-parse --git-common-dir)/info/exclude"
rm -rf ".ab/$name-dist"
if [ -z "$ref" ] && [ -n "${NSA_AB_CMAKE_ARGS:-}" ]; then
  echo "build.sh: building this tree with $NSA_AB_CMAKE_ARGS for ${NSA_CUDA_ARCHS:-90a-real}" >&2
  # shellcheck disable=SC2086  # (the arguments are words)
  NSA_CUDA_ARCHS=${NSA_CUDA_ARCHS:-90a-real} npx cmake-js build --out "build-ab-$name" $NSA_AB_CMAKE_ARGS > "/tmp/nsa-ab-$name.log" 2>&1 \
    || { tail -30 "/tmp/nsa-ab-$name.log"; exit 1; }
  src=build-ab-$name/Release/nsa_kernels.node
  cp -r dist ".ab/$name-dist"
elif [ -z "$ref" ]; then
  [ -s build/Release/nsa_kernels.node ] && [ -d dist ] || { echo "build.sh: no build/Release or dist here: npm run build first" >&2; exit 1; }
  src=build/Release/nsa_kernels.node
  cp -r dist ".ab/$name-dist"
else
  wt=$(mktemp -d /tmp/nsa-ab-XXXX)
  git worktree add -q --detach "$wt" "$ref"
  trap 'git worktree remove --force "$wt"' EXIT
  ln -s "$root/node_modules" "$wt/node_modules"
  echo "build.sh: building $ref ($(git rev-parse --short "$ref")) for ${NSA_CUDA_ARCHS:-90a-real}" >&2
  # shellcheck disable=SC2086
  (cd "$wt" && NSA_CUDA_ARCHS=${NSA_CUDA_ARCHS:-90a-real} npx cmake-js build --out build ${NSA_AB_CMAKE_ARGS:-} > "$wt/build.log" 2>&1) \
    || { tail -30 "$wt/build.log"; exit 1; }
  (cd "$wt" && npx tsc -p tsconfig.build.json --outDir "$root/.ab/$name-dist")
  src=$wt/build/Release/nsa_kernels.node
fi
xz -T2 -c "$src" > ".ab/$name.node.xz"
du -sh ".ab/$name.node.xz" ".ab/$name-dist" >&2
