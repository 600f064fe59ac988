"""The ONNX importer on real PyTorch exports (tests/fixtures, built by scripts/make_fixtures.py) and on small
hand-built graphs. torch is not needed: the fixtures are committed, shape-only ONNX files."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from cimopt.errors import InputError
from cimopt.onnx import load_workload, workload_from_model
from cimopt.workload import ELEMENTWISE, IDENTITY, WHOLE, Access, AxisMap, GpeuOp, GraphInput, Layer, conv_access

FIX = Path(__file__).parent / "fixtures"


@cache
def wl(name: str):
    return load_workload(FIX / f"{name}.onnx")


def layer_sig(layer: Layer) -> tuple:
    """What defines an MVM layer, names aside."""
    return (layer.groups, layer.group_rows, layer.group_cols, layer.kernel, layer.stride, layer.pads,
            layer.dilation, layer.out.channels, layer.out.height, layer.out.width)


def conv_macs(spec: list[tuple[int, int, int, int, int]]) -> int:
    """Sum of (count * out_size^2 * cout * cin * k^2) for square convs: hand arithmetic from the paper tables."""
    return sum(n * hw * hw * cout * cin * k * k for n, hw, cin, cout, k in spec)


# ------------------------------------------------------------------------------------------ real networks


def test_resnet18_layers_and_macs():
    w = wl("resnet18_legacy")
    assert len(w.layers) == 21
    assert [lay.op for lay in w.layers].count("Conv") == 20 and w.layers[-1].op == "Gemm"
    # (count, OFM side, Cin, Cout, k) from the ResNet-18 table (He et al. 2016), plus fc 512 -> 1000
    hand = conv_macs([(1, 112, 3, 64, 7), (4, 56, 64, 64, 3),
                      (1, 28, 64, 128, 3), (3, 28, 128, 128, 3), (1, 28, 64, 128, 1),
                      (1, 14, 128, 256, 3), (3, 14, 256, 256, 3), (1, 14, 128, 256, 1),
                      (1, 7, 256, 512, 3), (3, 7, 512, 512, 3), (1, 7, 256, 512, 1)]) + 512 * 1000
    assert hand == 1_814_073_344 == w.macs
    first = w.layers[0]
    assert (first.rows, first.cols, first.out.pixels) == (147, 64, 112 * 112)
    assert (first.kernel, first.stride, first.pads) == ((7, 7), (2, 2), (3, 3, 3, 3))
    assert first.inputs[0].access == conv_access((7, 7), (2, 2), (3, 3, 3, 3))
    fc = w.layers[-1]
    assert (fc.rows, fc.cols, fc.pixels) == (512, 1000, 1)  # the FC after flatten
    assert fc.inputs[0].access == WHOLE
    # the layer-by-layer latency at 1 MVM per pixel is the sum of OFM pixels
    assert sum(lay.pixels for lay in w.layers) == 112**2 + 4 * 56**2 + 5 * 28**2 + 5 * 14**2 + 5 * 7**2 + 1


def test_resnet18_residual_add_reads_both_branches():
    w = wl("resnet18_legacy")
    add = w.node("/layer1/layer1.0/Add")
    assert isinstance(add, GpeuOp) and add.kind == "elementwise"
    assert {e.source for e in add.inputs} == {"/layer1/layer1.0/conv2/Conv", "/maxpool/MaxPool"}
    assert all(e.access == ELEMENTWISE for e in add.inputs)
    pool = w.node("/maxpool/MaxPool")
    assert pool.inputs[0].access == conv_access((3, 3), (2, 2), (1, 1, 1, 1))
    # the shortcut of block layer2.0 is a strided 1x1 conv that reads the block's input
    ds = w.node("/layer2/layer2.0/downsample/downsample.0/Conv")
    assert (ds.rows, ds.cols, ds.stride, ds.out.pixels) == (64, 128, (2, 2), 28 * 28)


def test_resnet50_macs():
    w = wl("resnet50_legacy")
    assert len(w.layers) == 54  # 53 convs + fc
    assert w.macs == 4_089_184_256
    assert w.layers[-1].rows == 2048


def test_vgg16_macs_by_hand():
    w = wl("vgg16_legacy")
    hand = conv_macs([(1, 224, 3, 64, 3), (1, 224, 64, 64, 3), (1, 112, 64, 128, 3), (1, 112, 128, 128, 3),
                      (1, 56, 128, 256, 3), (2, 56, 256, 256, 3), (1, 28, 256, 512, 3), (2, 28, 512, 512, 3),
                      (3, 14, 512, 512, 3)]) + 25088 * 4096 + 4096 * 4096 + 4096 * 1000
    assert hand == 15_470_264_320 == w.macs
    assert len(w.layers) == 16
    fc1 = w.layers[13]
    assert (fc1.op, fc1.rows, fc1.cols) == ("Gemm", 25088, 4096)


def test_mobilenet_v2_depthwise():
    w = wl("mobilenet_v2_legacy")
    assert w.macs == 300_774_272
    assert len(w.layers) == 53
    dw = w.layers[1]  # the first inverted residual's 3x3 depthwise conv on 32 channels
    assert (dw.groups, dw.group_rows, dw.group_cols, dw.rows, dw.cols) == (32, 9, 1, 9, 32)
    assert dw.out.pixels == 112 * 112
    strided = [lay for lay in w.layers if lay.groups > 1 and lay.stride == (2, 2)]
    assert [s.groups for s in strided] == [96, 144, 192, 576]


# MVM MACs counted from the PyTorch modules themselves (scripts/make_fixtures.py --macs: Conv1d, Conv2d and Linear hooks)
TORCH_MACS = {
    "resnet18": 1_814_073_344, "resnet50": 4_089_184_256, "vgg16": 15_470_264_320, "mobilenet_v2": 300_774_272,
    "mobilenet_v3_small": 56_510_400, "efficientnet_b0": 385_814_752, "densenet121": 2_834_161_664,
    "googlenet": 1_498_376_192, "squeezenet1_0": 818_924_576, "cspdarknet53": 6_533_652_480,
    "vit_tiny": 1_074_851_328, "kws1d": 853_760, "bert_tiny": 1_052_672,
}
BOTH = ["resnet18", "vgg16", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "densenet121", "googlenet",
        "squeezenet1_0", "cspdarknet53", "vit_tiny", "residual", "concat", "upsample", "grouped", "fc_flatten",
        "linear_transpose", "view_chain", "kws1d", "bert_tiny"]


@pytest.mark.parametrize("name", sorted(TORCH_MACS))
def test_macs_match_pytorch(name):
    assert wl(f"{name}_legacy").macs == TORCH_MACS[name]


@pytest.mark.parametrize("name", BOTH)
def test_both_exporters_give_the_same_layers(name):
    legacy, dynamo = wl(f"{name}_legacy"), wl(f"{name}_dynamo")
    assert [layer_sig(x) for x in legacy.layers] == [layer_sig(x) for x in dynamo.layers]
    assert [x.inputs[0].access for x in legacy.layers] == [x.inputs[0].access for x in dynamo.layers]


def test_layer_counts():
    counts = {name: len(wl(f"{name}_legacy").layers) for name in TORCH_MACS}
    assert counts == {"resnet18": 21, "resnet50": 54, "vgg16": 16, "mobilenet_v2": 53, "mobilenet_v3_small": 54,
                      "efficientnet_b0": 82, "densenet121": 121, "googlenet": 58, "squeezenet1_0": 26,
                      "cspdarknet53": 68, "vit_tiny": 50, "kws1d": 4, "bert_tiny": 13}


def test_squeeze_excitation_broadcast():
    w = wl("mobilenet_v3_small_legacy")
    muls = [n for n in w.gpeu_ops if n.op == "Mul" and len(n.inputs) == 2]
    assert muls
    for mul in muls:  # x * scale: the [1, C, 1, 1] scale broadcasts over every pixel
        small = [e for e in mul.inputs if w.node(e.source).out.pixels == 1]
        assert len(small) == 1
        assert small[0].access == Access(AxisMap(num=0), AxisMap(num=0))


def test_vit_tokens_and_attention():
    for name in ("vit_tiny_legacy", "vit_tiny_dynamo"):
        w = wl(name)
        patch = w.layers[0]
        assert (patch.op, patch.rows, patch.cols, patch.out.pixels) == ("Conv", 768, 192, 196)
        token = [lay for lay in w.layers if lay.op == "MatMul"]
        assert len(token) == 48  # qkv, proj, fc1, fc2 in 12 blocks
        assert all(lay.pixels == 197 and lay.inputs[0].access == ELEMENTWISE for lay in token)
        assert {(lay.rows, lay.cols) for lay in token} == {(192, 576), (192, 192), (192, 768), (768, 192)}
        head = w.layers[-1]
        assert (head.rows, head.cols, head.pixels) == (192, 1000, 1)
        attn = [n for n in w.gpeu_ops if n.op == "MatMul"]
        assert len(attn) == 24  # q @ k^T and attn @ v per block
        assert all(n.kind == "matmul" and len(n.inputs) == 2 and all(e.access == WHOLE for e in n.inputs)
                   for n in attn)
        # the scores [1, 3, 197, 197] keep the query token as the pixel: softmax over keys stays in the pixel
        soft = [n for n in w.gpeu_ops if n.op == "Softmax"]
        assert len(soft) == 12
        assert (soft[0].out.channels, soft[0].out.height, soft[0].out.width) == (3 * 197, 197, 1)
        assert soft[0].inputs[0].access == ELEMENTWISE
        # the patch grid [1, 192, 14, 14] is flattened to 196 tokens: token t reads conv row t // 14, all columns
        flat = w.node(w.node(next(n.name for n in w.gpeu_ops if n.op == "Concat")).inputs[0].source).inputs[0]
        assert w.node(flat.source).op == "Reshape"
        assert w.node(flat.source).inputs[0].access == Access(AxisMap(den=14), AxisMap(num=0, extent=13))
        # the class token is prepended: token t of the concat reads patch token t - 1
        cat = next(n for n in w.gpeu_ops if n.op == "Concat")
        assert cat.inputs[0].access == Access(AxisMap(offset=-1), IDENTITY)
        # token order is kept through every reshape: only the attention products read whole tensors
        whole = [n for n in w.nodes if any(e.access == WHOLE for e in n.inputs)]
        assert {n.op for n in whole} == {"MatMul", "Gemm"} and len(whole) == 25


# ------------------------------------------------------------------------------------------ small exports


def test_residual_add_inputs():
    for name in ("residual_legacy", "residual_dynamo"):
        w = wl(name)
        add = next(n for n in w.gpeu_ops if n.op == "Add")
        assert sorted(type(w.node(e.source)).__name__ for e in add.inputs) == ["GraphInput", "Layer"]
        assert all(e.access == ELEMENTWISE for e in add.inputs)


def test_concat_channel_and_spatial():
    w = wl("concat_legacy")
    ch, sp = [n for n in w.gpeu_ops if n.op == "Concat"]
    assert ch.kind == "concat" and ch.out.channels == 16
    assert [e.access for e in ch.inputs] == [ELEMENTWISE, ELEMENTWISE]
    assert (sp.out.channels, sp.out.height, sp.out.width) == (4, 16, 8)
    # torch.cat([z, x], dim=2): rows 0-7 come from z, rows 8-15 from x (row r reads x's row r - 8)
    assert [e.access for e in sp.inputs] == [ELEMENTWISE, Access(AxisMap(offset=-8), IDENTITY)]
    one_by_one = w.layers[1]
    assert (one_by_one.rows, one_by_one.cols, one_by_one.inputs[0].access) == (4, 10, ELEMENTWISE)


def test_upsample_axis_maps():
    for name in ("upsample_legacy", "upsample_dynamo"):
        w = wl(name)
        nearest, bilinear = [n for n in w.gpeu_ops if n.op == "Resize"]
        assert nearest.kind == "resize" and nearest.out.height == 16
        assert nearest.inputs[0].access == Access(AxisMap(num=1, den=2), AxisMap(num=1, den=2))
        # half-pixel bilinear 2x: output o reads inputs floor((o-1)/2) .. floor((o+1)/2)
        m = AxisMap(num=1, den=2, offset=-1, extent=2)
        assert bilinear.inputs[0].access == Access(m, m)
        lo, hi = m.window(np.arange(32), 16)
        assert (lo[:4].tolist(), hi[:4].tolist()) == ([0, 0, 0, 1], [0, 1, 1, 2])
        assert (lo[-1], hi[-1]) == (15, 15)


def test_grouped_and_depthwise():
    w = wl("grouped_legacy")
    g, dw = w.layers[1], w.layers[2]
    assert (g.groups, g.group_rows, g.group_cols, g.cols) == (4, 36, 8, 32)
    assert (dw.groups, dw.group_rows, dw.group_cols, dw.stride, dw.out.pixels) == (32, 9, 1, (2, 2), 64)
    assert w.macs == 16**2 * 16 * 27 + 16**2 * 32 * 36 + 8**2 * 32 * 9 + 8**2 * 8 * 32 == 440_320


def test_fc_after_flatten():
    w = wl("fc_flatten_legacy")
    fc1, fc2 = w.layers[1], w.layers[2]
    assert (fc1.op, fc1.rows, fc1.cols) == ("Gemm", 128, 32)
    flat = w.node(fc1.inputs[0].source)
    assert flat.op == "Flatten" and flat.inputs[0].access == WHOLE
    assert (fc2.rows, fc2.cols, fc2.inputs[0].access) == (32, 10, WHOLE)


def test_weight_behind_transpose_is_a_matmul_layer():
    for name in ("linear_transpose_legacy", "linear_transpose_dynamo"):
        model = onnx.load(str(FIX / f"{name}.onnx"), load_external_data=False)
        assert [n.op_type for n in model.graph.node].count("Transpose") == 2
        w = wl(name)
        assert [(lay.op, lay.rows, lay.cols) for lay in w.layers] == [("MatMul", 16, 24), ("MatMul", 24, 8)]
        assert not any(n.op == "Transpose" for n in w.nodes)
    tokens = wl("linear_transpose_tokens_legacy")
    assert [lay.pixels for lay in tokens.layers] == [5, 5]
    assert all(lay.inputs[0].access == ELEMENTWISE for lay in tokens.layers)


def test_shape_subgraph_is_not_compute():
    model = onnx.load(str(FIX / "view_chain_dynbatch_legacy.onnx"), load_external_data=False)
    ops = [n.op_type for n in model.graph.node]
    assert {"Shape", "Gather", "Unsqueeze", "Concat"} <= set(ops)
    for name in ("view_chain_dynbatch_legacy", "view_chain_legacy", "view_chain_dynamo"):
        w = wl(name)
        assert [n.op for n in w.nodes] == ["Input", "Conv", "Relu", "Reshape", "Gemm"]
        reshape = w.nodes[3]
        assert reshape.out.dims == (1, 64) and reshape.inputs[0].access == WHOLE
    dyn = wl("view_chain_dynbatch_legacy")
    assert dyn.warnings == ("graph input 'x': dynamic batch dimension 'batch' set to 1",)


def test_external_data_present_and_missing():
    assert (FIX / "ext_present_legacy.onnx.data").is_file()
    assert not (FIX / "ext_missing_legacy.onnx.data").exists()
    model = onnx.load(str(FIX / "ext_missing_legacy.onnx"), load_external_data=False)
    assert all(t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer if np.prod(t.dims) >= 16)
    present, missing = wl("ext_present_legacy"), wl("ext_missing_legacy")
    assert present.nodes == missing.nodes
    assert [layer_sig(x) for x in present.layers] == [(1, 27, 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 8, 8, 8),
                                                      (1, 72, 4, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 4, 4, 4)]


def test_every_fixture_imports_without_warnings():
    for path in sorted(FIX.glob("*.onnx")):
        w = wl(path.stem)
        expected = 1 if "dynbatch" in path.stem else 0
        assert len(w.warnings) == expected, (path.stem, w.warnings)
        assert w.nodes[0].op == "Input"


def test_own_shape_propagation_matches_onnx_inference():
    """Without ONNX's shape inference every shape comes from cimopt's own propagation: same workload."""
    for name in ("resnet18_dynamo", "googlenet_legacy", "vit_tiny_dynamo", "view_chain_dynbatch_legacy",
                 "cspdarknet53_dynamo", "efficientnet_b0_legacy", "upsample_legacy", "concat_dynamo"):
        model = onnx.load(str(FIX / f"{name}.onnx"), load_external_data=False)
        own = workload_from_model(model, name, onnx_shape_inference=False)
        assert own.nodes == wl(name).nodes, name


# ------------------------------------------------------------------------------------------ hand-built graphs


def vi(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def model(nodes, inputs, outputs, inits=(), opset=17, extra_opsets=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    ops = [helper.make_opsetid("", opset), *[helper.make_opsetid(d, v) for d, v in extra_opsets]]
    return helper.make_model(g, opset_imports=ops)


W433 = np.zeros((4, 3, 3, 3), np.float32)


def conv_model(xdims, opset=17):
    return model([helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1], name="conv")],
                 [vi("x", xdims)], [vi("c", None)], [const("W", W433)], opset)


def test_geometry_ops():
    m = model([
        helper.make_node("Conv", ["x", "W"], ["c"], auto_pad="SAME_UPPER", strides=[2, 2], name="conv"),
        helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, name="pool"),
        helper.make_node("Pad", ["p", "pads"], ["pp"], name="pad"),
        helper.make_node("Slice", ["pp", "st", "en", "ax", "sp"], ["sl"], name="slice"),
        helper.make_node("DepthToSpace", ["sl"], ["d2s"], blocksize=2, name="d2s"),
        helper.make_node("SpaceToDepth", ["d2s"], ["s2d"], blocksize=2, name="s2d"),
        helper.make_node("Transpose", ["s2d"], ["tr"], perm=[0, 1, 3, 2], name="tr"),
    ], [vi("x", [1, 3, 15, 15])], [vi("tr", None)],
        [const("W", W433), const("pads", [0, 0, 1, 2, 0, 0, 0, 1]), const("st", [1]), const("en", [100]),
         const("ax", [3]), const("sp", [2])])
    w = workload_from_model(m, "geo")
    conv = w.node("conv")  # SAME_UPPER, stride 2 on 15: 8 outputs, total pad 2 -> 1 before, 1 after
    assert (conv.out.height, conv.pads) == (8, (1, 1, 1, 1))
    pool = w.node("pool")  # ceil((8 - 3) / 2) + 1 = 4
    assert (pool.out.height, pool.inputs[0].access) == (4, conv_access((3, 3), (2, 2), (0, 0, 0, 0)))
    pad = w.node("pad")  # pads: rows 1 before, cols 2 before and 1 after
    assert (pad.kind, pad.out.height, pad.out.width) == ("pad", 5, 7)
    assert pad.inputs[0].access == Access(AxisMap(offset=-1), AxisMap(offset=-2))
    sl = w.node("slice")  # columns 1, 3, 5
    assert (sl.out.width, sl.inputs[0].access) == (3, Access(IDENTITY, AxisMap(num=2, offset=1)))
    assert w.node("d2s").inputs[0].access == Access(AxisMap(den=2), AxisMap(den=2))
    assert w.node("s2d").inputs[0].access == Access(AxisMap(num=2, extent=1), AxisMap(num=2, extent=1))
    tr = w.node("tr")  # H and W swap places in the tensor, the pixel grid follows the axes: still (y, x)
    assert (tr.out.dims, tr.out.height, tr.out.width, tr.inputs[0].access) == ((1, 4, 3, 5), 5, 3, ELEMENTWISE)


def test_weights_as_graph_inputs_split_custom_op_and_order():
    m = model([
        helper.make_node("Mul", ["c", "s"], ["m"], name="se_mul"),  # listed before its producers
        helper.make_node("Conv", ["x", "Wi", "Bi"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("GlobalAveragePool", ["c"], ["g"], name="gap"),
        helper.make_node("Sigmoid", ["g"], ["s"], name="sig"),
        helper.make_node("Split", ["m", "splits"], ["a", "b"], axis=1, name="split"),
        helper.make_node("MyOp", ["a"], ["u"], domain="custom", name="custom"),
        helper.make_node("Add", ["u", "b"], ["y"]),
        helper.make_node("Relu", ["c"], ["dead"], name="dead"),
        helper.make_node("MatMul", ["flat", "Wm"], ["mm"], name="mm"),
        helper.make_node("Flatten", ["y"], ["flat"], name="flat"),
        helper.make_node("Transpose", ["Wt"], ["Wm"], perm=[1, 0], name="wt"),
    ], [vi("x", [1, 3, 8, 8]), vi("Wi", [4, 3, 3, 3]), vi("Bi", [4]), vi("Wt", [10, 128])], [vi("mm", None)],
        [const("splits", [2, 2])], extra_opsets=[("custom", 1)])
    w = workload_from_model(m, "mixed")
    assert [n.name for n in w.nodes] == ["x", "conv", "gap", "sig", "se_mul", "split_0", "split_1", "custom",
                                         "Add_6", "flat", "mm"]
    assert [type(n) for n in w.nodes[:2]] == [GraphInput, Layer]  # Wi, Bi, Wt are weights, not inputs
    assert (w.node("mm").rows, w.node("mm").cols) == (128, 10)
    assert w.node("gap").inputs[0].access == WHOLE
    assert [e.access for e in w.node("se_mul").inputs] == [ELEMENTWISE, Access(AxisMap(num=0), AxisMap(num=0))]
    assert w.node("split_1").out.channels == 2 and w.node("split_1").kind == "slice"
    custom = w.node("custom")
    assert (custom.kind, custom.inputs[0].access, custom.out.channels) == ("other", WHOLE, 2)
    assert len(w.warnings) == 2 and "'custom'" in w.warnings[1] and "MyOp" in w.warnings[1]
    assert w.warnings[0].startswith("graph inputs 'Wi', 'Bi', 'Wt' without initializer are used only as weights")
    assert "taken as CONSTANT weights" in w.warnings[0]
    assert "dead" not in w.by_name


def test_constant_node_weight_and_resize_variants():
    weight = numpy_helper.from_array(np.zeros((8, 4), np.float32))
    m = model([
        helper.make_node("Constant", [], ["Wc"], value=weight),
        helper.make_node("Transpose", ["Wc"], ["Wt"], perm=[1, 0]),
        helper.make_node("Upsample", ["x", "sc"], ["u"], mode="nearest", name="up"),
        helper.make_node("Transpose", ["u"], ["tok"], perm=[0, 2, 3, 1], name="nhwc"),
        helper.make_node("MatMul", ["tok", "Wt"], ["y"], name="lin"),
    ], [vi("x", [1, 4, 3, 5])], [vi("y", None)], [const("sc", np.array([1, 1, 2, 3], np.float32))], opset=9)
    w = workload_from_model(m, "ups")
    up = w.node("up")
    assert (up.out.height, up.out.width) == (6, 15)
    assert up.inputs[0].access == Access(AxisMap(den=2), AxisMap(den=3))
    lin = w.node("lin")  # [1, 6, 15, 4] @ [4, 8]: one MVM per (h, w) position
    assert (lin.rows, lin.cols, lin.pixels, lin.out.dims) == (4, 8, 90, (1, 6, 15, 8))


@pytest.mark.parametrize("xdims, match", [
    ([2, 3, 8, 8], "batch size 2"),
    ([1, 3, "H", 8], "dimension 2 is dynamic"),
    ([1, 3, None, 8], "dimension 2 is dynamic"),
])
def test_bad_input_shapes(xdims, match):
    with pytest.raises(InputError, match=match) as err:
        workload_from_model(conv_model(xdims), "bad", source="bad.onnx")
    assert str(err.value).startswith("bad.onnx: ")


def test_control_flow_is_rejected():
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["t"])], "body", [], [vi("t", None)])
    for op, kw in (("If", {"then_branch": body, "else_branch": body}), ("Loop", {"body": body})):
        m = conv_model([1, 3, 8, 8])
        ins = ["cond"] if op == "If" else ["", "cond"]
        m.graph.node.append(helper.make_node(op, ins, ["z"], name="flow", **kw))
        with pytest.raises(InputError, match=rf"cf\.onnx: node 'flow' \({op}\) is control flow"):
            workload_from_model(m, "cf", source="cf.onnx")


def test_conv_weight_of_unknown_shape():
    m = model([helper.make_node("Conv", ["x", "W"], ["c"], name="conv")],
              [vi("x", [1, 3, 8, 8]), helper.make_tensor_value_info("W", TensorProto.FLOAT, None)], [vi("c", None)])
    with pytest.raises(InputError, match=r"w\.onnx: node 'conv' \(Conv\): the weight shape is unknown"):
        workload_from_model(m, "w", source="w.onnx")


def test_bad_files(tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(InputError, match="nope.onnx: model file not found"):
        load_workload(missing)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\xffthis is not a model\xfe\x12" * 20)
    with pytest.raises(InputError, match="garbage.onnx: not a valid ONNX model"):
        load_workload(garbage)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty.onnx: not an ONNX model"):
        load_workload(empty)
    data = (FIX / "resnet18_legacy.onnx").read_bytes()
    for frac in (0.3, 0.7, 0.97):
        cut = tmp_path / f"cut{int(frac * 100)}.onnx"
        cut.write_bytes(data[:int(len(data) * frac)])
        with pytest.raises(InputError, match=f"cut{int(frac * 100)}.onnx: "):
            load_workload(cut)
    m = conv_model([1, 3, 8, 8])
    m.graph.node[0].input[0] = "lost"
    cut = tmp_path / "incomplete.onnx"
    onnx.save(m, str(cut))
    with pytest.raises(InputError, match="incomplete.onnx: node 'conv' \\(Conv\\) reads tensor 'lost'"):
        load_workload(cut)


def test_name_defaults_to_stem():
    assert wl("residual_legacy").name == "residual_legacy"
    assert load_workload(FIX / "residual_legacy.onnx", name="res").name == "res"


def test_transpose_conv_pools_resize_reduce_einsum_gather():
    m = model([
        helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("ConvTranspose", ["c", "Wt"], ["ct"], strides=[2, 2], pads=[1, 1, 1, 1],
                         output_padding=[1, 1], name="deconv"),
        helper.make_node("AveragePool", ["ct"], ["ap"], kernel_shape=[2, 2], auto_pad="SAME_LOWER", name="avg"),
        helper.make_node("Resize", ["ap", "", "", "sizes"], ["rs"], mode="nearest", name="resize"),
        helper.make_node("ReduceMean", ["rs", "axes"], ["rm"], keepdims=0, name="rmean"),
        helper.make_node("LayerNormalization", ["rs", "g", "b"], ["ln"], axis=1, name="ln"),
        helper.make_node("Einsum", ["ln", "ln"], ["es"], equation="nchw,nchw->nhw", name="einsum"),
        helper.make_node("Gather", ["table", "idx"], ["ga"], axis=0, name="gather"),
    ], [vi("x", [1, 3, 8, 8]), vi("W", [4, 3, 3, 3]), vi("idx", [1, 3], TensorProto.INT64)],
        [vi("rm", None), vi("es", None), vi("ga", None)],
        [const("W", W433), const("Wt", np.zeros((4, 2, 3, 3), np.float32)), const("sizes", [1, 2, 5, 7]),
         const("axes", [1]), const("g", np.zeros((2, 5, 7), np.float32)), const("b", np.zeros((2, 5, 7), np.float32)),
         const("table", np.zeros((10, 4), np.float32))], opset=18)
    w = workload_from_model(m, "misc")
    assert [n.name for n in w.nodes[:3]] == ["x", "idx", "conv"]  # W: graph input that is also an initializer
    deconv = w.node("deconv")  # 2 * (8 - 1) + 1 + 3 - 2 = 16; output y reads inputs (y - 1) // 2 .. (y + 1) // 2
    assert (deconv.kind, deconv.out.dims) == ("other", (1, 2, 16, 16))
    assert deconv.inputs[0].access == Access(AxisMap(den=2, offset=-1, extent=2), AxisMap(den=2, offset=-1, extent=2))
    assert any("ConvTranspose" in x for x in w.warnings)
    assert w.node("avg").inputs[0].access == conv_access((2, 2), (1, 1), (1, 1, 0, 0))  # SAME_LOWER pads before
    # half-pixel nearest 16 -> 5 rows: inputs 1, 4, 7, 11, 14 (round half down at 7.5)
    rs = w.node("resize").inputs[0].access.rows
    assert rs.window(np.arange(5), 16)[0].tolist() == [1, 4, 7, 11, 14]
    rm = w.node("rmean")  # [1, 2, 5, 7] -> [1, 5, 7] is a token tensor (7 values x 5 tokens): W became channels
    assert (rm.out.channels, rm.out.height, rm.kind) == (7, 5, "reduce")
    assert rm.inputs[0].access == Access(IDENTITY, AxisMap(num=0, extent=6))
    assert w.node("ln").inputs[0].access == WHOLE  # normalizes over C, H, W
    assert (w.node("einsum").out.dims, w.node("einsum").kind) == ((1, 5, 7), "matmul")
    ga = w.node("gather")
    assert (ga.out.dims, ga.inputs[0].access, ga.inputs[0].source) == ((1, 3, 4), WHOLE, "idx")


def test_unknown_op_with_dynamic_output_is_rejected():
    m = model([helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
               helper.make_node("NonZero", ["c"], ["nz"], name="nz")],
              [vi("x", [1, 3, 8, 8])], [vi("nz", None)], [const("W", W433)])
    with pytest.raises(InputError, match="nz.onnx: node 'nz' \\(NonZero\\): output 'nz' has a dynamic shape"):
        workload_from_model(m, "nz", source="nz.onnx")


def test_malformed_node_is_an_input_error():
    m = model([helper.make_node("Conv", ["x", "W"], ["c"], name="conv"),
               helper.make_node("MaxPool", ["c"], ["p"], name="pool")],  # no kernel_shape
              [vi("x", [1, 3, 8, 8])], [vi("p", None)], [const("W", W433)])
    with pytest.raises(InputError, match="m.onnx: node 'pool' \\(MaxPool\\): cannot import it: KeyError"):
        workload_from_model(m, "m", source="m.onnx")
    m = model([helper.make_node("Conv", ["x", "W"], ["c"], name="conv")], [vi("x", [1, 5, 8, 8])], [vi("c", None)],
              [const("W", W433)])
    with pytest.raises(InputError, match="node 'conv' \\(Conv\\): weight \\[4, 3, 3, 3\\] with group=1 does not fit"):
        workload_from_model(m, "m", source="m.onnx")


def _window_mask(access: Access, out_hw: tuple[int, int], in_hw: tuple[int, int], y: int, x: int) -> np.ndarray:
    """Output pixels whose window contains input pixel (y, x)."""
    if access.full:
        return np.ones(out_hw, bool)
    rl, rh = access.rows.window(np.arange(out_hw[0]), in_hw[0])
    cl, ch = access.cols.window(np.arange(out_hw[1]), in_hw[1])
    return ((rl <= y) & (y <= rh))[:, None] & ((cl <= x) & (x <= ch))[None, :]


SOUNDNESS_CASES = [
    ("Conv", {"strides": [2, 1], "pads": [1, 0, 2, 1], "dilations": [1, 2]}, [np.ones((2, 2, 3, 3), np.float32)]),
    ("MaxPool", {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1}, []),
    ("AveragePool", {"kernel_shape": [2, 3], "auto_pad": "SAME_LOWER"}, []),
    ("ConvTranspose", {"strides": [2, 3], "pads": [1, 0, 0, 1]}, [np.ones((2, 2, 3, 2), np.float32)]),
    ("Pad", {"mode": "reflect"}, [np.array([0, 0, 2, 1, 0, 0, 1, 2])]),
    ("Slice", {}, [np.array([1, 5]), np.array([6, 0]), np.array([2, 3]), np.array([2, -2])]),
    ("Resize", {"mode": "nearest"}, [np.array([], np.float32), np.array([1, 1, 1.5, 0.5], np.float32)]),
    ("Resize", {"mode": "linear"}, [np.array([], np.float32), np.array([1, 1, 2.5, 1.5], np.float32)]),
    ("Resize", {"mode": "cubic", "coordinate_transformation_mode": "align_corners"},
     [np.array([], np.float32), np.array([], np.float32), np.array([1, 2, 9, 4])]),
    ("Resize", {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
     [np.array([], np.float32), np.array([], np.float32), np.array([1, 2, 3, 11])]),
    ("DepthToSpace", {"blocksize": 2, "mode": "CRD"}, []),
    ("Softmax", {"axis": 2}, []),
    ("ReduceMax", {"keepdims": 1}, [np.array([3])]),
    ("Transpose", {"perm": [0, 1, 3, 2]}, []),
    ("Concat", {"axis": 3}, [np.zeros((1, 2, 6, 2), np.float32)]),
]


@pytest.mark.parametrize("op, attrs, extra", SOUNDNESS_CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(SOUNDNESS_CASES)])
def test_access_is_sound_against_the_reference_evaluator(op, attrs, extra):
    """Perturb one input pixel at a time (all its channels): only output pixels whose window holds it may change."""
    from onnx.reference import ReferenceEvaluator

    in_dims = (1, 4 if op == "DepthToSpace" else 2, 6, 5 if op != "Concat" else 6)
    names = ["x"] + [f"k{i}" if len(e) or e.dtype != np.float32 else "" for i, e in enumerate(extra)]
    inits = [const(n, e) for n, e in zip(names[1:], extra, strict=True) if n]
    m = model([helper.make_node(op, names, ["y"], name="op", **attrs)], [vi("x", list(in_dims))], [vi("y", None)],
              inits, opset=18)
    node = workload_from_model(m, "sound").node("op")
    access = node.inputs[0].access
    ev = ReferenceEvaluator(m)
    rng = np.random.default_rng(0)
    base = rng.normal(size=in_dims).astype(np.float32)
    y0 = ev.run(None, {"x": base})[0]
    assert y0.shape == node.out.dims
    out_hw, in_hw = (node.out.height, node.out.width), in_dims[2:]
    for yy in range(in_hw[0]):
        for xx in range(in_hw[1]):
            x = base.copy()
            x[:, :, yy, xx] += 1.0 + rng.random()
            changed = np.any(np.abs(ev.run(None, {"x": x})[0] - y0) > 1e-6, axis=(0, 1))
            if op == "Transpose":  # the output's pixel rows are its last axis (the axes keep their roles)
                changed = changed.T
            assert not np.any(changed & ~_window_mask(access, out_hw, in_hw, yy, xx)), (op, yy, xx)


def test_axes_keep_their_roles_through_shuffles_and_channels_last():
    """Channel shuffle (ShuffleNet) and a channels-last block (ConvNeXt) keep every pixel where it is."""
    m = model([
        helper.make_node("Conv", ["x", "W1"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Reshape", ["c", "s5"], ["r5"], name="split_groups"),
        helper.make_node("Transpose", ["r5"], ["t5"], perm=[0, 2, 1, 3, 4], name="shuffle"),
        helper.make_node("Reshape", ["t5", "s4"], ["r4"], name="merge_groups"),
        helper.make_node("Transpose", ["r4"], ["nhwc"], perm=[0, 2, 3, 1], name="to_nhwc"),
        helper.make_node("LayerNormalization", ["nhwc", "g", "b"], ["ln"], axis=-1, name="ln"),
        helper.make_node("MatMul", ["ln", "Wl"], ["lin"], name="pointwise"),
        helper.make_node("Transpose", ["lin"], ["nchw"], perm=[0, 3, 1, 2], name="to_nchw"),
        helper.make_node("Conv", ["nchw", "W2"], ["y"], pads=[1, 1, 1, 1], name="conv2"),
    ], [vi("x", [1, 3, 6, 5])], [vi("y", None)],
        [const("W1", np.zeros((8, 3, 3, 3), np.float32)), const("s5", [1, 2, 4, 6, 5]), const("s4", [1, 8, 6, 5]),
         const("g", np.ones(8, np.float32)), const("b", np.zeros(8, np.float32)),
         const("Wl", np.zeros((8, 32), np.float32)), const("W2", np.zeros((4, 32, 3, 3), np.float32))])
    w = workload_from_model(m, "roles")
    for name in ("split_groups", "shuffle", "merge_groups", "to_nhwc", "ln", "pointwise", "to_nchw"):
        node = w.node(name)
        assert (node.out.height, node.out.width, node.inputs[0].access) == (6, 5, ELEMENTWISE), name
    pw = w.node("pointwise")  # a Linear on [1, 6, 5, 8]: one MVM per pixel
    assert (pw.rows, pw.cols, pw.pixels, pw.out.channels) == (8, 32, 30, 32)
    assert w.node("conv2").inputs[0].access == conv_access((3, 3), (1, 1), (1, 1, 1, 1))


# ------------------------------------------------------------------------------------------ op families (tables)

X4 = [1, 4, 6, 6]
F32 = np.float32
# op, attributes, constant operands (after x), GPEU kind (or "conv" for an MVM layer), output dims, access of x
OP_ROWS = [
    ("Relu", {}, [], "activation", (1, 4, 6, 6), ELEMENTWISE),
    ("Clip", {}, [np.array(0, F32), np.array(6, F32)], "activation", (1, 4, 6, 6), ELEMENTWISE),
    ("Add", {}, [np.ones((1, 4, 1, 1), F32)], "elementwise", (1, 4, 6, 6), ELEMENTWISE),
    ("Sqrt", {}, [], "elementwise", (1, 4, 6, 6), ELEMENTWISE),
    ("Identity", {}, [], "reshape", (1, 4, 6, 6), ELEMENTWISE),
    ("BatchNormalization", {}, [np.ones(4, F32)] * 4, "norm", (1, 4, 6, 6), ELEMENTWISE),
    ("Softmax", {"axis": 1}, [], "softmax", (1, 4, 6, 6), ELEMENTWISE),
    ("Softmax", {"axis": 3}, [], "softmax", (1, 4, 6, 6), Access(IDENTITY, AxisMap(num=0, extent=5))),
    ("InstanceNormalization", {}, [np.ones(4, F32), np.zeros(4, F32)], "norm", (1, 4, 6, 6), WHOLE),
    ("ReduceMean", {"keepdims": 1}, [np.array([1])], "reduce", (1, 1, 6, 6), ELEMENTWISE),
    ("ReduceMax", {"keepdims": 1}, [np.array([2])], "reduce", (1, 4, 1, 6), Access(AxisMap(num=0, extent=5), IDENTITY)),
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}, [], "pool", (1, 4, 3, 3),
     conv_access((2, 2), (2, 2), (0, 0, 0, 0))),
    ("GlobalAveragePool", {}, [], "pool", (1, 4, 1, 1), WHOLE),
    ("Resize", {"mode": "nearest"}, [np.array([], F32), np.array([1, 1, 2, 2], F32)], "resize", (1, 4, 12, 12),
     Access(AxisMap(den=2), AxisMap(den=2))),
    ("Conv", {"pads": [1, 1, 1, 1]}, [np.zeros((8, 4, 3, 3), F32)], "conv", (1, 8, 6, 6),
     conv_access((3, 3), (1, 1), (1, 1, 1, 1))),
    ("Transpose", {"perm": [0, 1, 3, 2]}, [], "reshape", (1, 4, 6, 6), ELEMENTWISE),
    ("Flatten", {}, [], "reshape", (1, 144), WHOLE),
    ("Slice", {}, [np.array([2]), np.array([6]), np.array([2])], "slice", (1, 4, 4, 6),
     Access(AxisMap(offset=2), IDENTITY)),
    ("Concat", {"axis": 1}, [np.zeros((1, 2, 6, 6), F32)], "concat", (1, 6, 6, 6), ELEMENTWISE),
    ("Pad", {}, [np.array([0, 0, 1, 1, 0, 0, 1, 1])], "pad", (1, 4, 8, 8), Access(AxisMap(offset=-1), AxisMap(offset=-1))),
    ("DepthToSpace", {"blocksize": 2}, [], "reshape", (1, 1, 12, 12), Access(AxisMap(den=2), AxisMap(den=2))),
]


def one_op_model(op, attrs, extra, xdims=X4, opset=18):
    names = ["x"] + [f"k{i}" if e.size or e.dtype != F32 else "" for i, e in enumerate(extra)]
    inits = [const(n, e) for n, e in zip(names[1:], extra, strict=True) if n]
    return model([helper.make_node(op, names, ["y"], name="op", **attrs)], [vi("x", list(xdims))], [vi("y", None)],
                 inits, opset=opset)


@pytest.mark.parametrize("op, attrs, extra, kind, dims, access", OP_ROWS, ids=[f"{r[0]}{i}" for i, r in enumerate(OP_ROWS)])
def test_op_table_rows(op, attrs, extra, kind, dims, access):
    """One row per op family member: the kind, output shape and input access its table entry gives."""
    from cimopt.onnx.importer import HANDLERS

    assert op in HANDLERS
    w = workload_from_model(one_op_model(op, attrs, extra), "row")
    node = w.node("op")
    assert isinstance(node, Layer) if kind == "conv" else node.kind == kind
    assert (node.out.dims, node.inputs[0].access) == (dims, access)
    assert w.warnings == ()


def test_every_op_has_one_family_and_unknown_ops_warn():
    from cimopt.onnx import importer, movement, mvm, pointwise, reduce, windowed

    tables = [mvm.HANDLERS, windowed.HANDLERS, pointwise.HANDLERS, reduce.HANDLERS, movement.HANDLERS]
    assert sum(len(t) for t in tables) == len(importer.HANDLERS)
    with pytest.raises(AssertionError, match="two families"):
        importer._merge_tables(mvm.HANDLERS, {"Conv": mvm.conv})
    w = workload_from_model(one_op_model("NotAnOnnxOp", {}, []), "unknown")
    node = w.node("op")
    assert (node.kind, node.inputs[0].access, node.out.dims) == ("other", WHOLE, (1, 4, 6, 6))
    assert len(w.warnings) == 1 and "operator 'NotAnOnnxOp' is not known" in w.warnings[0]


@pytest.mark.parametrize("op, xdims, attrs, extra, what", [
    ("Conv", [1, 3, 4, 8, 8], {}, [np.zeros((4, 3, 3, 3, 3), F32)], "3-D convolution"),
    ("ConvTranspose", [1, 3, 4, 8, 8], {}, [np.zeros((3, 4, 3, 3, 3), F32)], "3-D convolution"),
    ("AveragePool", [1, 3, 4, 8, 8], {"kernel_shape": [2, 2, 2]}, [], "3-D pooling"),
    ("MaxPool", [1, 3, 4, 8, 8], {"kernel_shape": [2, 2, 2]}, [], "3-D pooling"),
])
def test_3d_windows_are_refused(op, xdims, attrs, extra, what):
    m = one_op_model(op, attrs, extra, xdims)
    with pytest.raises(InputError, match=rf"^w\.onnx: node 'op' \({op}\): unsupported op: {what} on input "):
        workload_from_model(m, "w", source="w.onnx")


def test_conv_with_computed_weight_warns_and_runs_on_the_gpeu():
    """A Conv weight that is an activation (here a graph input also used as data): no layer, a warning saying so."""
    m = model([helper.make_node("Relu", ["W"], ["Wr"], name="wrelu"),
               helper.make_node("Reshape", ["Wr", "shape"], ["W4"], name="w4"),
               helper.make_node("Conv", ["x", "W4"], ["c"], name="conv")],
              [vi("x", [1, 3, 8, 8]), vi("W", [1, 108])], [vi("c", None)], [const("shape", [4, 3, 3, 3])])
    w = workload_from_model(m, "cw")
    conv = w.node("conv")
    assert (conv.kind, [e.access for e in conv.inputs]) == ("other", [WHOLE, WHOLE]) and not w.layers
    assert w.warnings == ("node 'conv': Conv with computed (non-constant) weights; treated as a GPEU op of kind "
                          "'other' that reads whole inputs",)


def test_model_without_mvm_layer_imports_but_cannot_be_scheduled(tmp_path):
    from cimopt import api

    m = one_op_model("Relu", {}, [])
    path = tmp_path / "relu_only.onnx"
    onnx.save(m, str(path))
    w = load_workload(path)
    assert (len(w.layers), [n.op for n in w.nodes]) == (0, ["Input", "Relu"])
    with pytest.raises(InputError, match=r"^model 'relu_only' has no MVM layer \(Conv/Gemm/MatMul with constant "):
        api.prepare(path)


# ------------------------------------------------------------------------------------------ large tensors (the cliff)


@pytest.mark.parametrize("axis, second", [(1, ELEMENTWISE), (2, Access(AxisMap(offset=-128), IDENTITY))])
def test_concat_over_the_index_limit_keeps_its_exact_access(axis, second):
    """Two [1, 272, 128, 128] inputs hold 8.9 M elements, over INDEX_LIMIT: the channel concat is still
    ELEMENTWISE (not WHOLE), the row concat still reads row r - 128 of its second input."""
    from cimopt.onnx.axes import INDEX_LIMIT

    dims = [1, 272, 128, 128]
    assert 2 * np.prod(dims) > INDEX_LIMIT
    m = model([helper.make_node("Concat", ["a", "b"], ["y"], axis=axis, name="cat")], [vi("a", dims), vi("b", dims)],
              [vi("y", None)])
    w = workload_from_model(m, "cliff")
    cat = w.node("cat")
    assert [e.access for e in cat.inputs] == [ELEMENTWISE, second]
    assert cat.out.dims == tuple(d * 2 if i == axis else d for i, d in enumerate(dims))
    assert w.warnings == ()


def test_reduced_index_problems_match_the_full_ones(monkeypatch):
    """With a tiny index limit, data-movement ops of real networks take the reduced path: the same workload."""
    from cimopt.onnx import movement
    from cimopt.zoo import MODELS_DIR as models
    cases = {1000: [FIX / "concat_legacy.onnx", FIX / "upsample_legacy.onnx", models / "tiny-yolov4.onnx"],
             4096: [FIX / f"{n}.onnx" for n in ("googlenet_dynamo", "densenet121_legacy", "squeezenet1_0_legacy",
                                                 "cspdarknet53_legacy", "efficientnet_b0_legacy")]
             + [models / "mini-yolo.onnx"]}
    full = {p: load_workload(p, use_cache=False) for paths in cases.values() for p in paths}
    reduced = []
    real = movement.run_on_indices
    monkeypatch.setattr(movement, "run_on_indices", lambda imp, node, act, data, shrink, exact: (
        reduced.append(node.op_type) if shrink else None) or real(imp, node, act, data, shrink, exact))
    for limit, paths in cases.items():
        monkeypatch.setattr(movement, "INDEX_LIMIT", limit)
        for p in paths:
            small = load_workload(p, use_cache=False)
            assert small.nodes == full[p].nodes and small.warnings == (), p.name
    assert {"Concat", "Split", "Slice"} <= set(reduced) and len(reduced) > 50


def test_movement_too_large_even_when_reduced_reads_whole(monkeypatch):
    from cimopt.onnx import movement

    monkeypatch.setattr(movement, "INDEX_LIMIT", 16)
    m = model([helper.make_node("Concat", ["a", "b"], ["y"], axis=2, name="cat")],
              [vi("a", [1, 2, 6, 6]), vi("b", [1, 2, 6, 6])], [vi("y", None)])
    w = workload_from_model(m, "big")
    assert [e.access for e in w.node("cat").inputs] == [WHOLE, WHOLE] and w.node("cat").out.dims == (1, 2, 12, 6)
    assert w.warnings == ("node 'cat' (Concat): tensor too large for an exact access; each output pixel reads the "
                          "whole input",)


# ------------------------------------------------------------------------------------------ the workload cache


def test_cache_hits_misses_and_never_stale(tmp_path, monkeypatch):
    import cimopt.onnx as front

    store = tmp_path / "cache"
    monkeypatch.setenv("CIMOPT_CACHE_DIR", str(store))
    path = tmp_path / "net.onnx"
    path.write_bytes((FIX / "residual_legacy.onnx").read_bytes())
    first = load_workload(path)
    assert len(list(store.glob("*.json"))) == 1
    real = front._parse_and_import

    def must_not_parse(*a, **k):
        raise AssertionError("cache miss")

    monkeypatch.setattr(front, "_parse_and_import", must_not_parse)
    hit = load_workload(path)  # served from the cache without parsing
    assert (hit.name, hit.nodes, hit.warnings, hit.fingerprint) == (first.name, first.nodes, first.warnings,
                                                                     first.fingerprint)
    with pytest.raises(AssertionError, match="cache miss"):
        load_workload(path, name="other")  # the name is part of the key
    path.write_bytes((FIX / "view_chain_dynbatch_legacy.onnx").read_bytes())  # same path, new content
    with pytest.raises(AssertionError, match="cache miss"):
        load_workload(path)
    monkeypatch.setattr(front, "_parse_and_import", real)
    changed = load_workload(path)
    assert changed.nodes == wl("view_chain_dynbatch_legacy").nodes and changed.warnings == (
        "graph input 'x': dynamic batch dimension 'batch' set to 1",)
    for entry in store.glob("*.json"):  # a damaged entry is a miss, then rewritten
        entry.write_text("{not json")
    assert load_workload(path).nodes == changed.nodes
    monkeypatch.setenv("CIMOPT_CACHE_DIR", "off")
    before = sorted(store.iterdir())
    load_workload(FIX / "concat_legacy.onnx")
    assert sorted(store.iterdir()) == before


def test_cache_follows_external_data(tmp_path, monkeypatch):
    import cimopt.onnx as front

    monkeypatch.setenv("CIMOPT_CACHE_DIR", str(tmp_path / "cache"))
    for f in ("ext_present_legacy.onnx", "ext_present_legacy.onnx.data"):
        (tmp_path / f).write_bytes((FIX / f).read_bytes())
    calls = []
    real = front._parse_and_import
    monkeypatch.setattr(front, "_parse_and_import", lambda *a: calls.append(1) or real(*a))
    path = tmp_path / "ext_present_legacy.onnx"
    w = load_workload(path)
    load_workload(path)
    assert len(calls) == 1
    data = tmp_path / "ext_present_legacy.onnx.data"
    data.write_bytes(data.read_bytes() + b"\0")  # the weights file changed: the entry no longer applies
    load_workload(path)
    data.unlink()
    assert load_workload(path).nodes == w.nodes
    assert len(calls) == 3


def test_broadcast_over_the_index_limit_keeps_its_exact_access():
    """x [1, 600, 128, 128] (9.8 M elements) times a per-pixel mask and a per-channel scale: exact, not WHOLE."""
    dims = [1, 600, 128, 128]
    m = model([helper.make_node("Mul", ["x", "mask"], ["m"], name="mask_mul"),
               helper.make_node("Mul", ["m", "scale"], ["y"], name="se_mul")],
              [vi("x", dims), vi("mask", [1, 1, 128, 128]), vi("scale", [1, 600, 1, 1])], [vi("y", None)])
    w = workload_from_model(m, "bcast")
    assert [e.access for e in w.node("mask_mul").inputs] == [ELEMENTWISE, ELEMENTWISE]
    assert [e.access for e in w.node("se_mul").inputs] == [ELEMENTWISE, Access(AxisMap(num=0), AxisMap(num=0))]
    assert w.warnings == ()
