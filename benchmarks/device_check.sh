#!/usr/bin/env bash
# The GPU check (issue 14, item 4), one short prepared run for a session lent an H100/H200:
# installs gamify there, then measures simulations/s and where an iteration's time goes
# (benchmarks/iteration_profile.py, presets cpu and gpu), and runs the learned search on
# ⟨2,2,3⟩ and ⟨3,3,3⟩ over Z2 with the gpu preset. About 7 minutes; everything it prints
# is also in OUT/device_check.log, a table in OUT/summary.md, schemes in OUT/*.json.
#
# Here, once:    bash benchmarks/device_wheels.sh
# The device:    run(command="bash benchmarks/device_check.sh", carry=[".whl"], timeout_s=540)
# Smoke (CPU):   DEVICE_CHECK_SMOKE=1 bash benchmarks/device_check.sh /tmp/device-check
#                (tiny preset, seconds-long searches, gamify as installed; CI runs this)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-${OUT:-/tmp/device-check}}"
smoke="${DEVICE_CHECK_SMOKE:-0}"
mkdir -p "$out"
exec > >(tee "$out/device_check.log") 2>&1
export PYTHONUNBUFFERED=1
python="${PYTHON:-python3}"
began=$SECONDS
say() { echo "== [$((SECONDS - began)) s] $*"; }

if [[ "$smoke" == 1 ]]; then
  profiles=("2x2x2:z2 tiny") searches=("2 2 2:7:5s") preset=tiny repeats=1
else
  # cpu beside gpu on one case: what the larger preset buys on this machine
  profiles=("2x2x3:z2 cpu" "2x2x3:z2 gpu" "3x3x3:z2 gpu") searches=("2 2 3:11:60s" "3 3 3:23:120s")
  preset=gpu repeats=2
  say "install: carried wheels and gamify (its C++ core built against this jaxlib) into /tmp/gamify-site"
  site=/tmp/gamify-site
  if compgen -G ".whl/*.whl" > /dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --target "$site" .whl/*.whl || exit 1
  fi
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
  "$python" -m pip install -q --no-index --no-deps --no-build-isolation --target "$site" . || exit 1
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
repo="$PWD"
cd "${TMPDIR:-/tmp}"  # import the installed package, not the source tree
"$python" -c "import jax, gamify, gamify.native as n; print('gamify', gamify.__version__, '| jax', \
jax.__version__, 'on', jax.default_backend(), jax.devices(), '| native core:', n.available())" || exit 1
status=0

for profile in "${profiles[@]}"; do
  read -r case profile_preset <<< "$profile"
  say "profile $case, preset $profile_preset"
  "$python" "$repo/benchmarks/iteration_profile.py" --case "$case" --preset "$profile_preset" \
    --repeats "$repeats" | tee -a "$out/profile.txt" || status=1
done

printf '| case | preset | budget | result |\n|---|---|---|---|\n' > "$out/summary.md"
for search in "${searches[@]}"; do
  IFS=: read -r sizes target budget <<< "$search"
  name="${sizes// /x}"
  say "search $name over Z2, preset $preset, $budget, target rank $target"
  # shellcheck disable=SC2086  # $sizes is the three sizes
  "$python" -m gamify.cli search matmul $sizes --preset "$preset" --budget "$budget" --target-rank "$target" \
    --quiet --out "$out/runs/$name" | tee "$out/search-$name.txt" || status=1
  result=$(grep -E "verified exactly|best game ended" "$out/search-$name.txt" | head -1)
  echo "| $name:z2 | $preset | $budget | ${result:-no result} |" >> "$out/summary.md"
  if [[ -f "$out/runs/$name/scheme.json" ]]; then cp "$out/runs/$name/scheme.json" "$out/scheme-$name.json"; fi
done
rm -rf "$out/runs"  # at most 8 files come back from a device: the log, the tables, the schemes
grep -h "simulations/s" "$out/profile.txt" | sed 's/^/- /' >> "$out/summary.md"
cat "$out/summary.md"
say "done (exit $status)"
exit $status
