"""Bundled sample photos (from scikit-image's data folder) to try productshot without an image of your own.

``load_image("sample:coffee")`` resolves through here. The files ship inside the scikit-image wheel, so they
are found without importing scikit-image (which is slow) and without a network.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import MappingProxyType
from typing import Final

from productshot.errors import BadImageError

# name -> (file in skimage/data, description a person or a model can choose from)
_SAMPLES: Final = {
    "coffee": ("coffee.png", "a cup of coffee on a saucer, seen from above at an angle (600×400 PNG)"),
    "rocket": ("rocket.jpg", "a rocket standing on its launch pad against the sky (640×427 JPEG)"),
    "chelsea": ("chelsea.png", "Chelsea the cat, a tabby, sitting (451×300 PNG)"),
    "astronaut": ("astronaut.png", "astronaut Eileen Collins in her flight suit, a portrait (512×512 PNG)"),
    "motorcycle": ("motorcycle_left.png", "a motorcycle in a workshop, seen from the side (741×500 PNG)"),
}

SAMPLES: Final = MappingProxyType({name: description for name, (_, description) in _SAMPLES.items()})
"""Sample names → what each picture shows."""


def _data_dir() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise BadImageError(
            "sample images need scikit-image, which is not installed (pip install scikit-image)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def sample_path(name: str) -> Path:
    """The file behind a sample name; `BadImageError` listing the valid names for an unknown one."""
    key = name.strip().lower()
    if key not in _SAMPLES:
        valid = ", ".join(sorted(_SAMPLES))
        raise BadImageError(f"unknown sample {name!r}; valid samples: {valid}")
    path = _data_dir() / _SAMPLES[key][0]
    if not path.is_file():
        raise BadImageError(f"sample {key!r} is missing from the scikit-image install (expected {path})")
    return path


__all__ = ["SAMPLES", "sample_path"]
