#!/usr/bin/env bash
# Fetches, on a machine with PyPI, the wheels that benchmarks/device_check.sh installs on a
# device machine that has no network: what gamify needs beyond that machine's image (its
# python3 3.12 has jax with CUDA, optax, chex, numba, nanobind, scikit-build-core, rich,
# matplotlib, tabulate; dm-haiku, its jmp and mctx are missing). Pure-Python wheels, ~1 MB.
#
#   bash benchmarks/device_wheels.sh            # into .whl/ (git-ignored: *.whl, .whl/ excluded)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 -d .whl "dm-haiku==0.0.17" "jmp==0.0.4" "mctx==0.0.71"
ls -1 .whl
