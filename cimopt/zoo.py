"""The model zoo: names -> the shape-only ONNX files bundled with the package (`cimopt/data/models/`).

The files are built by `scripts/make_zoo.py` (its docstring and `models/README.md` name each network's source);
the repository's top-level `models/` is a link to the same folder, and the files ship inside the wheel.
A model spec is either a path to an ONNX file (an existing file wins) or a zoo name, case-insensitive, with
common spellings accepted (`yolov3-tiny`, `TinyYOLOv3`, `resnet-18`, `mobilenet_v2`, `squeezenet1.1`, ...).
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from cimopt.errors import InputError

if TYPE_CHECKING:
    from cimopt.workload import Workload

MODELS_DIR = Path(str(files("cimopt.data") / "models"))

ZOO: dict[str, str] = {
    "tiny-yolov3": "tiny-yolov3.onnx",
    "tiny-yolov4": "tiny-yolov4.onnx",
    "vgg16": "vgg16.onnx",
    "resnet18": "resnet18.onnx",
    "resnet50": "resnet50.onnx",
    "alexnet": "alexnet.onnx",
    "mobilenetv2": "mobilenetv2.onnx",
    "squeezenet1_1": "squeezenet1_1.onnx",
    "mini-cnn": "mini-cnn.onnx",
    "mini-yolo": "mini-yolo.onnx",
}

# Extra spellings, in normalized form (lower case, without '-', '_', '.' and spaces); every zoo name's own
# normalized form is accepted too.
_ALIASES: dict[str, str] = {
    "yolov3tiny": "tiny-yolov3",
    "yolotinyv3": "tiny-yolov3",
    "yolov4tiny": "tiny-yolov4",
    "yolotinyv4": "tiny-yolov4",
    "squeezenet": "squeezenet1_1",  # the zoo's only SqueezeNet; `squeezenet1.1`, `SqueezeNet-1.1` normalize to its name
}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.\s]", "", name.lower())


_LOOKUP: dict[str, str] = {_normalize(n): n for n in ZOO} | _ALIASES


def zoo_name(spec: str | Path) -> str | None:
    """The zoo name `spec` spells (case-insensitive, aliases accepted), or None."""
    return _LOOKUP.get(_normalize(str(spec)))


def resolve_model(spec: str | Path) -> Path:
    """The ONNX file for `spec`: an existing file path, else a zoo name; raises InputError otherwise."""
    path = Path(spec)
    if path.is_file():
        return path
    name = zoo_name(spec)
    if name is not None:
        file = MODELS_DIR / ZOO[name]
        if not file.is_file():
            raise InputError(f"zoo model {name!r}: {file} does not exist (build it with python scripts/make_zoo.py)")
        return file
    if path.exists():
        raise InputError(f"{spec}: is not a file (expected an ONNX file or a zoo name: {', '.join(ZOO)})")
    raise InputError(f"{spec}: no such file, and not a zoo model (zoo names: {', '.join(ZOO)})")


def load_model(spec: str | Path) -> Workload:
    """The Workload of a zoo name or an ONNX path, named after the zoo name (or the file's stem)."""
    from cimopt.onnx import load_workload

    path = resolve_model(spec)
    name = zoo_name(spec) if not Path(spec).is_file() else None
    return load_workload(path, name=name or path.stem)
