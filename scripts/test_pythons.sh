#!/usr/bin/env bash
# The library's tests (core, classical backend, interpolation, formats) on the oldest and newest Python that
# Slicer releases ship: 3.9 (Slicer 5.8: 3.9.10) and 3.12 (Slicer 5.10+: 3.12.10). Venvs are built from
# pyenv (3.9.18, 3.12.1) with the core + formats dependencies and cached in ~/.cache/segassist/pythons/<v>.
# Tests needing packages that do not exist there (slicer-core, torch/sam2, dask distributed, nilearn, itk,
# Label Studio, panopticapi, pydicom-data) skip or are left out, so skips are allowed here only.
set -euo pipefail
cd "$(dirname "$0")/.."
export SEGASSIST_ALLOW_SKIPS=1
CACHE="${SEGASSIST_PYTHONS:-$HOME/.cache/segassist/pythons}"
VERSIONS="${SEGASSIST_TEST_PYTHONS:-3.9.18 3.12.1}"
# Left out: SAM 2 and the pretrained models (torch), the Slicer glue (slicer-core), Dask, COCO panoptic
# (panopticapi), the server and its Label Studio backend (the `server` extra: Starlette, uvicorn, httpx,
# label-studio-converter; the server runs beside Slicer, not inside its Python).
FILES=$(ls Testing/Python/test_*.py \
  | grep -vE 'test_(backends_sam2|backends_pretrained|backends_auto|slicer_|batch_dask|formats_datasets2d_coco_panoptic|server_|cli_serve)')
for full in $VERSIONS; do
  short="${full%.*}"
  venv="$CACHE/$short"
  if [ ! -x "$venv/bin/python" ]; then
    base="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions/$full/bin/python"
    "$base" -m venv "$venv"
  fi
  # On 3.9: NumPy 1.x, as pyproject's `formats` extra says (highdicom 0.22, the last for 3.9, calls np.float_,
  # gone in NumPy 2; Slicer 5.8's Python 3.9 ships NumPy 1.26 too).
  numpy_spec="numpy>=1.24"
  if [ "$short" = "3.9" ]; then numpy_spec="numpy>=1.24,<2"; fi
  "$venv/bin/python" -m pip install -q "$numpy_spec" "scipy>=1.10" "SimpleITK>=2.3" "pydicom>=2.4" "tqdm>=4.60" \
    "scikit-image>=0.21" "threadpoolctl>=3.1" "highdicom>=0.22" "slicerio>=1.1" "pycocotools>=2.0.7" "pillow>=10.1" \
    "tifffile>=2023.1" "matplotlib>=3.7" "defusedxml>=0.7" "pytest>=7" "pydicom-data>=1.0" 2>&1 \
    | { grep -v "is ignored: it is neither" || true; }
  echo "== Python $("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])')"
  # Deselected: GrowCut runs in slicer-core (none for these Pythons); on 3.9 the DICOM SEG round trip, whose
  # check reads back with highdicom's Segmentation.get_volume, new in highdicom 0.23 (3.9 gets at most 0.22;
  # SegAssist's own DICOM SEG reader and writer are tested there by the other tests of that file).
  # test_operations' exception census imports every module, SAM 2's included (torch is not installed here).
  # The read-only-folder test runs the CLI as user `nobody`, who cannot load pyenv's libpython from /root/.pyenv
  # (the default venv's run covers it). `-m "not peers"`: ITK, the comparison peer, is not installed here.
  deselect=(-m "not peers"
            --deselect "Testing/Python/test_cli_failures.py::test_segment_into_a_read_only_folder_stops_before_computing"
            --deselect "Testing/Python/test_backends_classical.py::test_other_methods_are_real_segmentations[slicer_growcut]"
            --deselect "Testing/Python/test_operations.py::test_every_public_exception_class_lives_in_errors_and_is_a_segassist_error")
  if [ "$short" = "3.9" ]; then
    deselect+=(--deselect "Testing/Python/test_io_dicom_seg.py::test_round_trip_identical_and_aligned")
  fi
  PYTHONPATH="$PWD" "$venv/bin/python" -m pytest $FILES -q -p no:cacheprovider "${deselect[@]}"
  # The demo from the command line, in this Python.
  out="$(mktemp -d)"
  PYTHONPATH="$PWD" "$venv/bin/python" -m SegAssistLib.cli.main demo -o "$out" >/dev/null
  test -s "$out/demo.seg.nrrd"
  rm -rf "$out"
done
