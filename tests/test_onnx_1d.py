"""1-D convolutions and pools as 2-D with height 1, and the ONNX shape-inference fallback (legacy BERT).

The fixtures are real PyTorch exports (scripts/make_fixtures.py): a keyword-spotting style 1-D conv net
(`kws1d`, Conv1d + BatchNorm1d + ReLU + MaxPool1d / AvgPool1d, global pooling, Linear) and a tiny random Hugging
Face BERT (`bert_tiny`, 2 layers, hidden 64), each from the legacy and the dynamo exporter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from cimopt import api
from cimopt.errors import InputError
from cimopt.onnx import load_workload, workload_from_model
from cimopt.workload import IDENTITY, WHOLE, Access, AxisMap, Layer

FIX = Path(__file__).parent / "fixtures"
F32 = np.float32


def vi(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def net_1d(pool="MaxPool", pool_attrs=None):
    """[1, 4, 16] -> Conv1d 4->8 (k3, pad 1) -> ReLU -> pool (k2, stride 2) -> Conv1d 8->8 (k3, pad 1)."""
    pool_attrs = pool_attrs or {"kernel_shape": [2], "strides": [2]}
    return helper.make_model(helper.make_graph([
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1], name="c1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="r1"),
        helper.make_node(pool, ["r1"], ["p1"], name="p1", **pool_attrs),
        helper.make_node("Conv", ["p1", "w2"], ["y"], pads=[1, 1], name="c2"),
    ], "g", [vi("x", [1, 4, 16])], [vi("y", None)], [const("w1", np.zeros((8, 4, 3), F32)),
                                                      const("w2", np.zeros((8, 8, 3), F32))]),
        opset_imports=[helper.make_opsetid("", 17)])


def test_1d_conv_is_2d_with_height_1():
    w = workload_from_model(net_1d(), "n1")
    c1, pool, c2 = w.node("c1"), w.node("p1"), w.node("c2")
    assert isinstance(c1, Layer) and isinstance(c2, Layer)
    assert (c1.rows, c1.cols, c1.out.channels, c1.out.height, c1.out.width) == (4 * 3, 8, 8, 1, 16)
    assert (c1.kernel, c1.stride, c1.pads, c1.dilation) == ((1, 3), (1, 1), (0, 1, 0, 1), (1, 1))
    assert w.node("x").out.height == 1 and w.node("x").out.width == 16 and w.node("x").out.channels == 4
    # output column j of c1 reads input columns j-1 .. j+1; the pool reads 2p, 2p+1; no row window
    assert c1.inputs[0].access == Access(IDENTITY, AxisMap(offset=-1, extent=2))
    assert pool.inputs[0].access == Access(IDENTITY, AxisMap(num=2, extent=1))
    assert (pool.out.height, pool.out.width) == (1, 8)
    assert c2.inputs[0].access == Access(IDENTITY, AxisMap(offset=-1, extent=2))
    assert w.macs == 16 * 8 * 12 + 8 * 8 * 24 and w.warnings == ()


def test_1d_net_schedules_and_simulates_with_hand_checked_latency(tmp_path):
    """Layer by layer: 16 + 8 pixels = 24 cycles. CLSA-CIM: c2's pixel j reads pool pixels j-1..j+1, so c1's
    pixels up to 2j+3 (at most 15), which end at cycle 2j+4; c2's copy then runs one pixel a cycle: pixel j on
    [2j+4, 2j+5) for j <= 6 (its last input, pixel 15, ends at 16), pixel 7 right after pixel 6: ends at 18."""
    path = tmp_path / "n1.onnx"
    onnx.save(net_1d(), str(path))
    p = api.prepare(path, sets="pixel")
    lbl, clsa = api.run(p, "lbl"), api.run(p, "clsa")
    assert (lbl.sim.valid, lbl.sim.latency) == (True, 24)
    assert (clsa.sim.valid, clsa.sim.latency) == (True, 18)
    c2 = p.workload.layer_index["c2"]
    starts = sorted(int(s) for s, lay in zip(clsa.schedule.start, clsa.schedule.layer, strict=True) if lay == c2)
    assert starts == [4, 6, 8, 10, 12, 14, 16, 17]
    p_avg = api.prepare(tmp_path / "n1.onnx", sets="block:1x4")  # 1-D blocks: 4 columns of the height-1 map
    assert p_avg.sets.num_sets == 4 + 2 and api.run(p_avg, "clsa").sim.valid


def test_1d_average_pool_and_strided_conv_access():
    w = workload_from_model(net_1d("AveragePool", {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}), "n2")
    pool = w.node("p1")
    assert pool.inputs[0].access == Access(IDENTITY, AxisMap(num=2, offset=-1, extent=2))
    assert (pool.out.height, pool.out.width) == (1, 8)


def test_kws1d_fixtures_map_and_schedule():
    legacy, dynamo = load_workload(FIX / "kws1d_legacy.onnx"), load_workload(FIX / "kws1d_dynamo.onnx")
    for w in (legacy, dynamo):
        assert [(x.op, x.rows, x.cols, x.out.height, x.out.width) for x in w.layers] == [
            ("Conv", 40 * 5, 32, 1, 98), ("Conv", 32 * 3, 48, 1, 25), ("Conv", 48 * 3, 64, 1, 12),
            ("Gemm", 64, 12, 1, 1)]
        assert [x.stride for x in w.layers[:3]] == [(1, 1), (1, 2), (1, 1)]
        assert w.layers[1].inputs[0].access == Access(IDENTITY, AxisMap(num=2, offset=-1, extent=2))
        assert w.layers[-1].inputs[0].access == WHOLE and w.warnings == ()
    bn = [n for n in legacy.gpeu_ops if n.op == "BatchNormalization"]
    assert len(bn) == 3 and all(n.kind == "norm" and (n.out.height, n.inputs[0].access) == (1, Access())
                                 for n in bn)
    p = api.prepare(FIX / "kws1d_legacy.onnx", sets="pixel")
    r = api.run(p, "clsa")
    assert r.sim.valid and r.sim.latency < api.run(p, "lbl").sim.latency == 98 + 25 + 12 + 1


def test_legacy_bert_imports_through_onnx_shape_inference_and_schedules():
    """The legacy export's token-type embedding Gather reads indices from a GatherElements that ONNX's reference
    evaluator cannot fold, so cimopt's own inference leaves its shape unknown; ONNX shape inference rerun with
    cimopt's folded constants (the Expand target) gives it, and the model imports like the dynamo export."""
    legacy, dynamo = load_workload(FIX / "bert_tiny_legacy.onnx"), load_workload(FIX / "bert_tiny_dynamo.onnx")
    assert len(legacy.layers) == len(dynamo.layers) == 13 and legacy.macs == dynamo.macs == 1_052_672
    assert [(x.rows, x.cols, x.out.pixels) for x in legacy.layers] == [(x.rows, x.cols, x.out.pixels)
                                                                       for x in dynamo.layers]
    m = onnx.load(str(FIX / "bert_tiny_legacy.onnx"), load_external_data=False)
    with pytest.raises(InputError, match=r"token_type_embeddings/Gather_output_0'\) is unknown"):
        workload_from_model(m, "bert", onnx_shape_inference=False)
    p = api.prepare(FIX / "bert_tiny_legacy.onnx", sets="row")
    runs = [api.run(p, s) for s in ("lbl", "clsa")]
    assert all(r.sim.valid for r in runs) and runs[0].sim.latency == 12 * 16 + 1 > runs[1].sim.latency


def test_pad_with_negative_pads_crops():
    """ONNX Pad removes elements where a pad is negative: a crop of one row on top, two columns on the left,
    and one row at the bottom; the consumer conv reads the cropped map."""
    m = helper.make_model(helper.make_graph([
        helper.make_node("Pad", ["x", "p"], ["c"], name="crop"),
        helper.make_node("Conv", ["c", "w"], ["y"], name="conv"),
    ], "g", [vi("x", [1, 4, 8, 8])], [vi("y", None)], [const("p", np.array([0, 0, -1, -2, 0, 0, -1, 1], np.int64)),
                                                       const("w", np.zeros((2, 4, 1, 1), F32))]),
        opset_imports=[helper.make_opsetid("", 17)])
    w = workload_from_model(m, "crop")
    crop = w.node("crop")
    assert crop.out.dims == (1, 4, 6, 7)
    assert crop.inputs[0].access == Access(AxisMap(offset=1), AxisMap(offset=2))
    assert w.node("conv").out.dims == (1, 2, 6, 7)
