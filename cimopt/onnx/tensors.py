"""What the importer knows of one ONNX tensor, and what an op handler returns for one output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cimopt.onnx.axes import Dims, Roles
from cimopt.workload import Access


@dataclass(frozen=True)
class Tensor:
    """What the importer knows of one ONNX tensor."""

    dims: Dims | None
    const: bool
    value: np.ndarray | None = None
    roles: Roles = ()
    node: str = ""  # the workload node producing it (activations only)
    elem: int = 0  # ONNX element type, 0 when unknown


@dataclass(frozen=True)
class Out:
    """One workload node to emit for one output of an ONNX node."""

    dims: Dims
    roles: Roles
    access: dict[int, Access]  # input position -> access (activation inputs only)
    kind: str = "other"
    layer: dict | None = None  # Layer fields when the node is an MVM layer
