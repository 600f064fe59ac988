"""Matrix products: Conv, Gemm and MatMul with a constant weight are the MVM layers that live in crossbars; a
product of two activations (and Einsum) runs on the GPEU as kind "matmul". 2-D convolutions are mapped, and 1-D
ones as 2-D with height 1."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import onnx

from cimopt.onnx.axes import (
    Dims,
    auto_pads,
    axis_access,
    broadcast,
    canon_roles,
    default_roles,
    fmap,
    forward_access,
    pool_out,
    rows_roles,
)
from cimopt.onnx.graph import attrs, label
from cimopt.onnx.tensors import Out
from cimopt.onnx.windowed import check_pads, require_window_rank, window_roles
from cimopt.workload import ELEMENTWISE, WHOLE, AxisMap, conv_access

if TYPE_CHECKING:
    from cimopt.onnx.importer import Handler, Importer


def conv(imp: Importer, node: onnx.NodeProto) -> list[Out | None]:
    """A 2-D Conv with constant weights: an MVM layer of `Cin/groups * kh * kw` rows and `Cout` columns. A 1-D
    Conv ([N, C, L]) is the 2-D one with height 1: kernel 1 x k on a C x 1 x L feature map."""
    name = label(node)
    act = imp.act(node)
    if act != [0]:
        return imp.unknown(node, "Conv with computed (non-constant) weights")
    x = imp.t(node, 0)
    xd = imp.dims_of(node, 0)
    wd = imp.shape(node.input[1])
    if wd is None:
        raise imp.fail(f"node {name!r} (Conv): the weight shape is unknown")
    r = len(xd)
    if r < 3 or len(wd) != r:
        raise imp.fail(f"node {name!r} (Conv): input rank {r} and weight rank {len(wd)} do not match")
    require_window_rank(imp, node, xd)
    if xd[0] != 1:
        raise imp.fail(f"node {name!r} (Conv): batch size {xd[0]}, but cimopt schedules one inference (batch 1)")
    if 0 in wd:
        raise imp.fail(f"node {name!r} (Conv): weight {node.input[1]!r} has a zero-sized dimension {list(wd)}")
    a = attrs(node)
    sp = r - 2
    groups = int(a.get("group", 1))
    cout, cin_g, kernel = wd[0], wd[1], list(wd[2:])
    if groups < 1 or cin_g * groups != xd[1] or cout % groups:
        raise imp.fail(f"node {name!r} (Conv): weight {list(wd)} with group={groups} does not fit input "
                       f"{list(xd)}")
    strides = list(a.get("strides", [1] * sp))
    dil = list(a.get("dilations", [1] * sp))
    pads = check_pads(imp, node, auto_pads(a.get("auto_pad", "NOTSET"), xd[2:], kernel, strides, dil,
                                           a.get("pads", [])))
    dims = (1, cout, *(pool_out(xd[2 + i], kernel[i], strides[i], pads[i], pads[sp + i], dil[i], False)
                       for i in range(sp)))
    roles = window_roles(r)
    if sp == 1:  # height 1: a 1 x k window on the C x 1 x L map
        kernel, strides, dil, pads = [1, *kernel], [1, *strides], [1, *dil], [0, pads[0], 0, pads[1]]
    if canon_roles(xd, x.roles) == canon_roles(xd, roles):
        access = conv_access((kernel[0], kernel[1]), (strides[0], strides[1]), (pads[0], pads[1], pads[2],
                             pads[3]), (dil[0], dil[1]))
    else:
        per_axis = {r - 1 - i: AxisMap(num=strides[1 - i], offset=-pads[1 - i], extent=dil[1 - i] * (kernel[1 - i] - 1))
                    for i in range(sp)}
        access = axis_access(xd, x.roles, dims, roles, per_axis) or WHOLE
    layer = dict(groups=groups, group_rows=cin_g * math.prod(kernel), group_cols=cout // groups,
                 kernel=(kernel[0], kernel[1]), stride=(strides[0], strides[1]),
                 pads=(pads[0], pads[1], pads[2], pads[3]), dilation=(dil[0], dil[1]))
    return [Out(dims, roles, {0: access}, "conv", layer)]


def matmul(imp: Importer, node: onnx.NodeProto) -> list[Out | None]:
    """Gemm/MatMul: an MVM layer when B is constant (one MVM per row of A), else a GPEU "matmul"."""
    op, name = node.op_type, label(node)
    a = attrs(node)
    act = imp.act(node)
    ad, bd = imp.dims_of(node, 0), imp.shape(node.input[1])
    if op == "Gemm":
        ad2 = ad[::-1] if a.get("transA", 0) else ad
        if bd is None:
            raise imp.fail(f"node {name!r} (Gemm): the shape of B is unknown")
        bd2 = bd[::-1] if a.get("transB", 0) else bd
        if len(ad2) != 2 or len(bd2) != 2 or ad2[1] != bd2[0]:
            raise imp.fail(f"node {name!r} (Gemm): shapes {list(ad)} and {list(bd)} do not multiply")
        dims = (ad2[0], bd2[1])
        k, n = ad2[1], bd2[1]
    else:
        if bd is None:
            raise imp.fail(f"node {name!r} (MatMul): the shape of B is unknown")
        try:
            dims = matmul_dims(ad, bd)
        except ValueError:
            raise imp.fail(f"node {name!r} (MatMul): shapes {list(ad)} and {list(bd)} do not multiply") from None
        k = ad[-1]
        n = bd[-1] if len(bd) > 1 else 1
    a_act, b_act = 0 in act, 1 in act
    # output axes keep A's roles, its last axis (features) is channels
    lead = len(dims) - len(ad) + (0 if len(bd) > 1 else 1)
    a_roles = imp.t(node, 0).roles if a_act and len(ad) >= 2 and lead >= 0 and op == "MatMul" else ()
    kept = ("h",) * lead + a_roles[:-1] + ("c",) if a_roles and len(bd) > 1 else default_roles(len(dims))
    if b_act or not a_act:
        roles = kept
        if not b_act:
            imp.warnings.append(f"node {name!r} ({op}): constant left operand; runs on the GPEU")
        return [Out(dims, roles, dict.fromkeys(act, WHOLE), "matmul")]
    if op == "MatMul" and len([d for d in bd if d != 1]) > 2:
        imp.warnings.append(f"node {name!r} (MatMul): batched constant operand {list(bd)}; runs on the GPEU")
        return [Out(dims, default_roles(len(dims)), dict.fromkeys(act, WHOLE), "matmul")]
    # an MVM per row of A: every leading axis must be a pixel axis
    pixel_rows = all(r != "c" or d == 1 for r, d in zip(kept[:-1], dims[:-1], strict=True))
    roles = kept if pixel_rows else rows_roles(len(dims)) if len(dims) >= 4 else default_roles(len(dims))
    x = imp.t(node, 0)
    fm_in = fmap(ad, x.roles)
    if fm_in.pixels == 1 or (op == "Gemm" and a.get("transA", 0)):
        access = WHOLE
    elif x.roles == roles and ad[:-1] == dims[:-1] and roles[-1] == "c":
        access = ELEMENTWISE
    else:  # element (..., m, j) of A feeds output element (..., m, 0)
        lead = len(dims) - (len(ad) if len(bd) > 1 else len(ad) - 1)

        def to_out(c: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
            zero = np.zeros_like(c[-1])
            return (zero,) * lead + c[:-1] + ((zero,) if len(bd) > 1 else ())

        access = forward_access(ad, x.roles, dims, roles, to_out) or WHOLE
    extra = {k2: WHOLE for k2 in act if k2 != 0}
    layer = dict(groups=1, group_rows=int(k), group_cols=int(n))
    return [Out(dims, roles, {0: access, **extra}, "matmul", layer)]


def einsum(imp: Importer, node: onnx.NodeProto) -> list[Out | None]:
    """Einsum: a GPEU "matmul" that reads its inputs whole."""
    eq = attrs(node)["equation"].replace(" ", "")
    shapes = [imp.dims_of(node, k) for k in range(len(node.input))]
    try:
        dims = einsum_dims(eq, shapes)
    except (ValueError, KeyError, IndexError):
        raise imp.fail(f"node {node.name or 'Einsum'!r} (Einsum): cannot read equation {eq!r}") from None
    return [Out(dims, default_roles(len(dims)), dict.fromkeys(imp.act(node), WHOLE), "matmul")]


def matmul_dims(a: Dims, b: Dims) -> Dims:
    """numpy.matmul's output shape."""
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ValueError("inner dimensions differ")
    batch = broadcast([a2[:-2], b2[:-2]])
    out = (*batch, a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def einsum_dims(eq: str, shapes: Sequence[Dims]) -> Dims:
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    sizes: dict[str, int] = {}
    ell: Dims = ()
    for term, shape in zip(terms, shapes, strict=True):
        if "..." in term:
            pre, post = term.split("...")
            n_ell = len(shape) - len(pre) - len(post)
            ell = broadcast([ell, shape[len(pre):len(pre) + n_ell]])
            letters = list(pre) + list(post)
            dims = list(shape[:len(pre)]) + list(shape[len(pre) + n_ell:])
        else:
            letters, dims = list(term), list(shape)
        for ch, d in zip(letters, dims, strict=True):
            sizes[ch] = max(sizes.get(ch, 1), d)
    if not arrow:
        counts = {ch: lhs.count(ch) for ch in sizes}
        rhs = ("..." if ell else "") + "".join(sorted(ch for ch, c in counts.items() if c == 1))
    out: list[int] = []
    pre, dots, post = rhs.partition("...")
    out += [sizes[ch] for ch in pre]
    if dots:
        out += list(ell)
    out += [sizes[ch] for ch in post]
    return tuple(out)


HANDLERS: dict[str, Handler] = {"Conv": conv, "Gemm": matmul, "MatMul": matmul, "Einsum": einsum}
