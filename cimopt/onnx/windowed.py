"""Windowed ops: pooling windows, transposed convolution and resizing. Each output pixel reads a window of input
pixels per spatial axis (an `AxisMap`); channels stay where they are. Windows are 2-D on NCHW tensors, or 1-D on
[N, C, L] tensors, which are C x 1 x L feature maps (`ROLES_1D`: height 1, the sequence axis as pixel columns); a
3-D pool or convolution is refused (depth would otherwise be folded into the pixel rows). Pads must be >= 0 (the
ONNX spec of Conv and the pools; a negative one is an error naming the node)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import onnx

from cimopt.onnx.axes import Dims, Roles, auto_pads, axis_access, default_roles, fit_axis, norm_axis, pool_out
from cimopt.onnx.graph import attrs, label
from cimopt.onnx.tensors import Out
from cimopt.workload import WHOLE, AxisMap

if TYPE_CHECKING:
    from cimopt.onnx.importer import Handler, Importer

POOL_OPS = frozenset({"MaxPool", "AveragePool", "LpPool"})
GLOBAL_POOL_OPS = frozenset({"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"})


#: Roles of an [N, C, L] tensor around 1-D windows: a C x 1 x L feature map (the batch axis is size 1).
ROLES_1D = ("h", "c", "w")
#: Ops with a window over the spatial axes of input 0 (1-D windows make their [N, C, L] input `ROLES_1D`).
WINDOW_OPS = POOL_OPS | {"Conv", "ConvTranspose"}


def require_window_rank(imp: Importer, node: onnx.NodeProto, xd: Dims) -> None:
    """A window op on anything but an NCHW tensor (2-D) or an [N, C, L] tensor (1-D) is an unsupported-op
    InputError."""
    if len(xd) not in (3, 4):
        raise imp.fail(f"node {label(node)!r} ({node.op_type}): unsupported op: {len(xd) - 2}-D "
                       f"{'pooling' if node.op_type in POOL_OPS else 'convolution'} on input {list(xd)}; "
                       "cimopt supports 2-D windows on NCHW tensors and 1-D windows on [N, C, L] tensors")


def window_roles(rank: int) -> Roles:
    """Roles of a window op's output: NCHW, or [N, C, L] as C x 1 x L."""
    return ROLES_1D if rank == 3 else default_roles(rank)


def check_pads(imp: Importer, node: onnx.NodeProto, pads: list[int]) -> list[int]:
    """The pads, which ONNX requires to be >= 0 for Conv and the pools; an InputError naming the node if not."""
    if any(p < 0 for p in pads):
        raise imp.fail(f"node {label(node)!r} ({node.op_type}): negative pads {list(pads)}; ONNX allows only pads "
                       ">= 0 here (to crop, use a Slice or a Pad with negative pads before it)")
    return pads


def one_d_inputs(g: onnx.GraphProto) -> set[str]:
    """Rank-3 graph inputs that reach the data input of a 1-D window op through pointwise ops only: they get
    `ROLES_1D` (C x 1 x L) instead of the token layout, so the window's access to them is exact."""
    from cimopt.onnx.pointwise import RULES

    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in g.node:
        if node.input and node.input[0]:
            consumers.setdefault(node.input[0], []).append(node)

    def reaches_window(name: str, depth: int = 0) -> bool:
        for node in consumers.get(name, []):
            if node.op_type in WINDOW_OPS:
                return True
            if node.op_type in RULES and depth < 16 and node.output and reaches_window(node.output[0], depth + 1):
                return True
        return False

    rank3 = {i.name for i in g.input if i.type.HasField("tensor_type") and
             len(i.type.tensor_type.shape.dim) == 3}
    return {n for n in rank3 if reaches_window(n)}


def conv_transpose(imp: Importer, node: onnx.NodeProto) -> list[Out | None]:
    """ConvTranspose runs on the GPEU (kind "other", with a warning); its access is exact per axis."""
    name = label(node)
    act = imp.act(node)
    xd, wd = imp.dims_of(node, 0), imp.t(node, 1).dims
    if act != [0] or wd is None or len(xd) != len(wd) or len(xd) < 3:
        return imp.unknown(node, "ConvTranspose with a computed or unknown weight")
    require_window_rank(imp, node, xd)
    a = attrs(node)
    sp = len(xd) - 2
    groups = int(a.get("group", 1))
    kernel = list(wd[2:])
    strides = list(a.get("strides", [1] * sp))
    dil = list(a.get("dilations", [1] * sp))
    outpad = list(a.get("output_padding", [0] * sp))
    auto = a.get("auto_pad", "NOTSET")
    if "output_shape" in a or auto in ("SAME_UPPER", "SAME_LOWER"):
        out_sp = list(a["output_shape"])[-sp:] if "output_shape" in a else [xd[2 + i] * strides[i]
                                                                           for i in range(sp)]
        totals = [strides[i] * (xd[2 + i] - 1) + outpad[i] + (kernel[i] - 1) * dil[i] + 1 - out_sp[i]
                  for i in range(sp)]
        begins = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in totals]
    else:
        p = [0] * 2 * sp if auto == "VALID" else check_pads(imp, node, list(a.get("pads", [0] * 2 * sp)))
        out_sp = [strides[i] * (xd[2 + i] - 1) + outpad[i] + (kernel[i] - 1) * dil[i] + 1 - p[i] - p[sp + i]
                  for i in range(sp)]
        begins = p[:sp]
    dims = (xd[0], wd[1] * groups, *out_sp)
    roles = imp.t(node, 0).roles
    # output y reads inputs x with x*s - p + j*d = y, j in [0, k): x in [(y + p - d(k-1)) / s, (y + p) / s]
    per_axis = {2 + i: AxisMap(num=1, den=strides[i], offset=begins[i] - dil[i] * (kernel[i] - 1),
                               extent=dil[i] * (kernel[i] - 1)) for i in range(sp)}
    access = axis_access(xd, roles, dims, roles, per_axis) or WHOLE
    imp.warnings.append(f"node {name!r}: ConvTranspose is not mapped to crossbars; treated as a GPEU op of "
                         "kind 'other'")
    return [Out(dims, roles, {0: access}, "other")]


def pool(imp: Importer, node: onnx.NodeProto) -> list[Out | None]:
    """MaxPool/AveragePool/LpPool: a conv-like window on each channel."""
    x = imp.t(node, 0)
    xd = x.dims
    r = len(xd)
    if r < 3:
        raise imp.fail(f"node {label(node)!r} ({node.op_type}): input rank {r} is too small for pooling")
    require_window_rank(imp, node, xd)
    a = attrs(node)
    sp = r - 2
    kernel = list(a["kernel_shape"])
    strides = list(a.get("strides", [1] * sp))
    dil = list(a.get("dilations", [1] * sp))
    pads = check_pads(imp, node, auto_pads(a.get("auto_pad", "NOTSET"), xd[2:], kernel, strides, dil,
                                           a.get("pads", [])))
    ceil_mode = bool(a.get("ceil_mode", 0))
    out_sp = [pool_out(xd[2 + i], kernel[i], strides[i], pads[i], pads[sp + i], dil[i], ceil_mode)
              for i in range(sp)]
    dims = (*xd[:2], *out_sp)
    per_axis = {2 + i: AxisMap(num=strides[i], offset=-pads[i], extent=dil[i] * (kernel[i] - 1))
                for i in range(sp)}
    access = axis_access(xd, x.roles, dims, x.roles, per_axis)
    if access is None:
        access = WHOLE
    out = Out(dims, x.roles, {0: access}, "pool")
    return [out, out]  # MaxPool's optional Indices output has the same shape


def global_pool(imp: Importer, node: onnx.NodeProto) -> list[Out | None]:
    """Global*Pool: one output pixel reading every input pixel."""
    x = imp.t(node, 0)
    dims = (*x.dims[:2], *([1] * (len(x.dims) - 2)))
    access = axis_access(x.dims, x.roles, dims, x.roles,
                          {a: AxisMap(num=0, extent=x.dims[a] - 1) for a in range(2, len(x.dims))}) or WHOLE
    return [Out(dims, x.roles, {0: access}, "pool")]


def resize(imp: Importer, node: onnx.NodeProto) -> list[Out | None]:
    """Resize/Upsample: per-axis windows from the ONNX coordinate formulas, fitted exactly."""
    x = imp.t(node, 0)
    xd, r = x.dims, len(x.dims)
    a = attrs(node)
    if node.op_type == "Upsample" or imp.opset < 11:
        scales, sizes, ctm, nearest_mode = _legacy_scales(imp, node, a), None, "asymmetric", "floor"
    else:
        scales, sizes = _scales_or_sizes(imp, node, a, xd)
        ctm = a.get("coordinate_transformation_mode", "half_pixel")
        nearest_mode = a.get("nearest_mode", "round_prefer_floor")
    dims = tuple(sizes[i] if sizes is not None else int(math.floor(xd[i] * scales[i] + 1e-9)) for i in range(r))
    if ctm == "tf_crop_and_resize":
        return [Out(dims, x.roles, {0: WHOLE}, "resize")]
    per_axis = {}
    for i in range(r):
        if dims[i] == xd[i] and scales[i] == 1.0:
            continue
        lo, hi = resize_windows(xd[i], dims[i], scales[i], a.get("mode", "nearest"), ctm, nearest_mode,
                                bool(a.get("antialias", 0)))
        per_axis[i] = fit_axis(lo, hi, xd[i])
    access = axis_access(xd, x.roles, dims, x.roles, per_axis) or WHOLE
    return [Out(dims, x.roles, {0: access}, "resize")]


def _legacy_scales(imp: Importer, node: onnx.NodeProto, a: dict) -> list[float]:
    """Upsample, and Resize before opset 11: scales only (attribute or input 1)."""
    scales_v = a.get("scales")
    if scales_v is None:
        scales_v = imp.value(node, 1, "the scales")
    return [float(s) for s in np.asarray(scales_v).reshape(-1)]


def _scales_or_sizes(imp: Importer, node: onnx.NodeProto, a: dict, xd: Dims) -> tuple[list[float], list[int] | None]:
    """Resize from opset 11: per-axis scales, and the output sizes when given instead (with the aspect policy)."""
    r = len(xd)
    scales_v = imp.value(node, 2, "the scales") if len(node.input) > 2 and node.input[2] else None
    sizes_v = imp.value(node, 3, "the sizes") if len(node.input) > 3 and node.input[3] else None
    if scales_v is not None and np.asarray(scales_v).size == 0:
        scales_v = None
    if sizes_v is not None and np.asarray(sizes_v).size == 0:
        sizes_v = None
    axes = [norm_axis(v, r) for v in a.get("axes", range(r))]
    scales = [1.0] * r
    if scales_v is not None:
        for ax, s in zip(axes, np.asarray(scales_v, dtype=np.float64).reshape(-1), strict=True):
            scales[ax] = float(s)
        return scales, None
    if sizes_v is None:
        raise imp.fail(f"node {label(node)!r} (Resize): neither scales nor sizes are given")
    sizes = list(xd)
    sv = [int(v) for v in np.asarray(sizes_v).reshape(-1)]
    policy = a.get("keep_aspect_ratio_policy", "stretch")
    if policy in ("not_larger", "not_smaller"):
        ratios = [sv[i] / xd[ax] for i, ax in enumerate(axes)]
        s = min(ratios) if policy == "not_larger" else max(ratios)
        for ax in axes:
            sizes[ax] = int(math.floor(xd[ax] * s + 0.5))
            scales[ax] = s
    else:
        for i, ax in enumerate(axes):
            sizes[ax] = sv[i]
            scales[ax] = sv[i] / xd[ax]
    return scales, sizes


def resize_windows(n_in: int, n_out: int, scale: float, mode: str, ctm: str, nearest_mode: str,
                    antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Input index window `[lo, hi]` read by each output index of one resized axis (ONNX Resize formulas)."""
    o = np.arange(n_out, dtype=np.float64)
    if ctm == "half_pixel":
        x = (o + 0.5) / scale - 0.5
    elif ctm == "half_pixel_symmetric":
        adj = n_out / (scale * n_in)
        x = n_in / 2 * (1 - adj) + (o + 0.5) / scale - 0.5
    elif ctm == "pytorch_half_pixel":
        x = (o + 0.5) / scale - 0.5 if n_out > 1 else np.zeros_like(o)
    elif ctm == "align_corners":
        x = o * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros_like(o)
    elif ctm == "tf_half_pixel_for_nn":
        x = (o + 0.5) / scale
    else:  # asymmetric
        x = o / scale
    eps = 1e-6
    if mode == "nearest":
        if nearest_mode == "floor":
            idx = np.floor(x + eps)
        elif nearest_mode == "ceil":
            idx = np.ceil(x - eps)
        elif nearest_mode == "round_prefer_ceil":
            idx = np.floor(x + 0.5 + eps)
        else:  # round_prefer_floor
            idx = np.ceil(x - 0.5 - eps)
        lo = hi = np.clip(idx, 0, n_in - 1)
    else:  # linear reads floor(x) .. floor(x)+1, cubic floor(x)-1 .. floor(x)+2; antialias widens the filter
        support = 2.0 if mode == "cubic" else 1.0
        if antialias and scale < 1:
            lo = np.clip(np.floor(x - support / scale), 0, n_in - 1)
            hi = np.clip(np.ceil(x + support / scale), 0, n_in - 1)
        else:
            lo = np.clip(np.floor(x - eps) - (support - 1), 0, n_in - 1)
            hi = np.clip(np.floor(x + eps) + support, 0, n_in - 1)
    return lo.astype(np.int64), hi.astype(np.int64)


HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(POOL_OPS, pool),
    **dict.fromkeys(GLOBAL_POOL_OPS, global_pool),
    "ConvTranspose": conv_transpose,
    "Resize": resize,
    "Upsample": resize,
}
