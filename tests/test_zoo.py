"""The model zoo: the files in models/, their architectures as imported, and name resolution."""

from __future__ import annotations

import importlib.util
import math
import shutil
import sys
from pathlib import Path

import onnx
import pytest

from cimopt.errors import InputError
from cimopt.workload import AxisMap, Layer, Workload
from cimopt.zoo import MODELS_DIR, ZOO, load_model, resolve_model

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def make_zoo():
    """scripts/make_zoo.py as a module (registered in sys.modules while it runs, for its dataclasses)."""
    spec = importlib.util.spec_from_file_location("_cimopt_make_zoo", REPO / "scripts" / "make_zoo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


# name -> (MVM layers, exact MACs (conv + gemm), sum of MVM-layer OFM pixels).
# The pixel sums are worked out by hand from each architecture (one OFM size per MVM layer, graph order);
# on default hardware (mvm_cycles = 1, one copy per layer) they are the layer-by-layer latency in cycles.
EXPECTED: dict[str, tuple[int, int, int]] = {
    # Darknet yolov3-tiny.cfg: 5.56 BFLOPs = 2 * 2.78 GMACs (convs only)
    "tiny-yolov3": (13, 2_782_480_896,
                    416**2 + 208**2 + 104**2 + 52**2 + 26**2  # conv 0..8
                    + 6 * 13**2  # conv 10, 12, 13, 14, head 15, conv 18
                    + 2 * 26**2),  # conv 21, head 22
    # Darknet yolov4-tiny.cfg: 6.9 BFLOPs (6.910 with maxpools) = 2 * 3.45 GMACs
    "tiny-yolov4": (21, 3_453_938_176,
                    208**2 + 104**2  # conv 0, 1 (stride 2)
                    + 4 * 104**2 + 4 * 52**2 + 4 * 26**2  # three CSP blocks of 4 convs
                    + 4 * 13**2 + 13**2  # conv 26, 27, 28, head 29; conv 32
                    + 2 * 26**2),  # conv 35, head 36
    # torchvision vgg16: 15.47 GMACs
    "vgg16": (16, 15_470_264_320, 2 * 224**2 + 2 * 112**2 + 3 * 56**2 + 3 * 28**2 + 3 * 14**2 + 3),
    # torchvision resnet18: 1.81 GMACs (1.82 G commonly quoted)
    "resnet18": (21, 1_814_073_344,
                 112**2 + 4 * 56**2 + 5 * 28**2 + 5 * 14**2 + 5 * 7**2 + 1),  # stages 2-4: 4 convs + downsample
    # torchvision resnet50 (v1.5): 4.09 GMACs
    "resnet50": (54, 4_089_184_256,
                 112**2
                 + 10 * 56**2  # layer1: 3 x 3 convs + downsample
                 + 56**2 + 12 * 28**2  # layer2: block 0's conv1 is before the stride
                 + 28**2 + 18 * 14**2  # layer3
                 + 14**2 + 9 * 7**2  # layer4
                 + 1),
    # torchvision alexnet: 0.71 GMACs
    "alexnet": (8, 714_188_480, 55**2 + 27**2 + 3 * 13**2 + 3),
    # torchvision mobilenet_v2: 0.30 GMACs (300 M mult-adds in the paper)
    "mobilenetv2": (53, 300_774_272,
                    112**2  # features.0
                    + 2 * 112**2  # t=1: depthwise + project
                    + 112**2 + 2 * 56**2 + 3 * 56**2  # c=24
                    + 56**2 + 2 * 28**2 + 6 * 28**2  # c=32
                    + 28**2 + 2 * 14**2 + 9 * 14**2  # c=64
                    + 9 * 14**2  # c=96
                    + 14**2 + 2 * 7**2 + 6 * 7**2  # c=160
                    + 3 * 7**2 + 7**2 + 1),  # c=320, conv 1280, classifier
    # torchvision squeezenet1_1: 0.35 GMACs; MACs worked out in test_squeezenet1_1_layers
    "squeezenet1_1": (26, 349_151_936,
                      111**2  # features.0 (3x3/2, no pad)
                      + 2 * 3 * 55**2 + 2 * 3 * 27**2 + 4 * 3 * 13**2  # Fires of 3 convs after each 3/2 ceil pool
                      + 13**2),  # classifier.1 (1x1 conv, before the global pool)
    "mini-cnn": (5, 1_401_152, 32**2 + 16**2 + 16**2 + 8**2 + 1),
    "mini-yolo": (7, 8_536_064, 64**2 + 32**2 + 3 * 16**2 + 2 * 32**2),
}


@pytest.fixture(scope="module")
def workloads() -> dict[str, Workload]:
    return {name: load_model(name) for name in ZOO}


def _layer(wl: Workload, name: str) -> Layer:
    node = wl.node(name)
    assert isinstance(node, Layer), name
    return node


def _shape(layer: Layer) -> tuple[int, int, int, int, int]:
    return layer.rows, layer.cols, layer.out.channels, layer.out.height, layer.out.width


def test_zoo_names_match_the_expected_table():
    assert set(ZOO) == set(EXPECTED)
    assert all(ZOO[n] == f"{n}.onnx" for n in ZOO)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_file_is_valid_small_and_shape_only(name):
    path = MODELS_DIR / ZOO[name]
    assert path.stat().st_size < 1_000_000
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    inputs = {v.name for v in model.graph.input}
    assert model.graph.input[0].name == "input"
    # weights are graph inputs, never initializers; initializers are tiny op constants
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm", "BatchNormalization"):
            assert all(i in inputs for i in node.input[1:]), node.name
    assert all(len(t.dims) <= 1 and (not t.dims or t.dims[0] <= 4) for t in model.graph.initializer)


def test_generator_is_deterministic_and_the_files_are_current(make_zoo):
    assert list(make_zoo.BUILDERS) == list(ZOO)
    for name in ZOO:
        data, _ = make_zoo.build(name)
        assert data == make_zoo.build(name)[0]
        assert data == (MODELS_DIR / ZOO[name]).read_bytes(), f"{name}: rerun python scripts/make_zoo.py"


def test_generator_statistics_match_the_table(make_zoo):
    for name, (n_layers, macs, pixels) in EXPECTED.items():
        net = make_zoo.BUILDERS[name]()
        assert (net.mvm_layers, net.macs, net.ofm_pixels) == (n_layers, macs, pixels), name


@pytest.mark.parametrize("name", sorted(ZOO))
def test_imported_layers_macs_and_pixels(workloads, name):
    wl = workloads[name]
    n_layers, macs, pixels = EXPECTED[name]
    assert wl.name == name
    assert len(wl.layers) == n_layers
    assert wl.macs == macs
    assert sum(layer.pixels for layer in wl.layers) == pixels


def test_tiny_yolov3_layers(workloads):
    wl = workloads["tiny-yolov3"]
    assert _shape(wl.layers[0]) == (27, 16, 16, 416, 416)
    assert wl.layers[0].name == "conv_0"
    assert _shape(_layer(wl, "conv_12")) == (512 * 9, 1024, 1024, 13, 13)  # maxpool 2/1 keeps 13x13
    assert _shape(_layer(wl, "conv_15")) == (512, 255, 255, 13, 13)
    assert _shape(_layer(wl, "conv_21")) == ((128 + 256) * 9, 256, 256, 26, 26)  # upsample + concat
    assert _shape(wl.layers[-1]) == (256, 255, 255, 26, 26)
    assert [layer.name for layer in wl.layers if layer.cols == 255] == ["conv_15", "conv_22"]
    # the size-2 stride-1 maxpool pads at the bottom/right only: output row y reads rows y, y+1
    pool = wl.node("maxpool_11")
    assert (pool.out.height, pool.inputs[0].access.rows) == (13, AxisMap(num=1, offset=0, extent=1))
    assert wl.node("upsample_19").inputs[0].access.rows == AxisMap(den=2)
    assert [e.source for e in wl.node("route_20").inputs] == ["upsample_19", "leaky_8"]
    assert sum(node.op == "BatchNormalization" for node in wl.gpeu_ops) == 11


def test_tiny_yolov4_layers(workloads):
    wl = workloads["tiny-yolov4"]
    assert _shape(wl.layers[0]) == (27, 32, 32, 208, 208)
    assert _layer(wl, "conv_0").stride == (2, 2)
    assert _shape(_layer(wl, "conv_4")) == (32 * 9, 32, 32, 104, 104)  # reads the second half of conv_2's 64
    assert _shape(_layer(wl, "conv_7")) == (64, 64, 64, 104, 104)  # 1x1 after concat(conv_5, conv_4)
    assert _shape(_layer(wl, "conv_10")) == (128 * 9, 128, 128, 52, 52)  # concat(conv_2, conv_7) + maxpool
    assert _shape(_layer(wl, "conv_26")) == (512 * 9, 512, 512, 13, 13)
    assert _shape(_layer(wl, "conv_35")) == ((128 + 256) * 9, 256, 256, 26, 26)
    assert _shape(wl.layers[-1]) == (256, 255, 255, 26, 26)
    assert [node.name for node in wl.gpeu_ops if node.op == "Slice"] == ["route_3", "route_11", "route_19"]
    assert wl.node("route_3").out.channels == 32


def test_classifier_layers(workloads):
    vgg = workloads["vgg16"]
    assert _shape(vgg.layers[12]) == (512 * 9, 512, 512, 14, 14)
    assert _shape(vgg.layers[13]) == (25088, 4096, 4096, 1, 1)
    alex = workloads["alexnet"]
    assert _shape(alex.layers[0]) == (363, 64, 64, 55, 55)
    assert _shape(alex.layers[5]) == (9216, 4096, 4096, 1, 1)
    r18 = workloads["resnet18"]
    assert _shape(_layer(r18, "layer2.0.downsample.0")) == (64, 128, 128, 28, 28)
    assert _shape(r18.layers[-1]) == (512, 1000, 1000, 1, 1)
    r50 = workloads["resnet50"]
    assert _shape(r50.layers[0]) == (147, 64, 64, 112, 112)
    assert _shape(_layer(r50, "layer2.0.conv1")) == (256, 128, 128, 56, 56)  # v1.5: no stride on the 1x1
    assert _shape(_layer(r50, "layer2.0.conv2")) == (128 * 9, 128, 128, 28, 28)  # the stride is on the 3x3
    assert _layer(r50, "layer2.0.conv2").stride == (2, 2)
    assert _shape(r50.layers[-1]) == (2048, 1000, 1000, 1, 1)


def test_mobilenetv2_depthwise_layers(workloads):
    wl = workloads["mobilenetv2"]
    dw = [layer for layer in wl.layers if layer.groups > 1]
    assert len(dw) == 17
    for layer in dw:
        assert layer.rows == 9 and layer.group_cols == 1 and layer.cols == layer.groups
        assert wl.node(layer.inputs[0].source).out.channels == layer.groups  # groups == Cin
        assert layer.kernel == (3, 3)
    assert [layer.groups for layer in dw] == [32, 96, 144, 144, 192, 192, 192, 384, 384, 384, 384, 576, 576, 576,
                                               960, 960, 960]
    assert sum(layer.stride == (2, 2) for layer in dw) == 4
    assert _shape(wl.layers[-2]) == (320, 1280, 1280, 7, 7)
    assert _shape(wl.layers[-1]) == (1280, 1000, 1000, 1, 1)
    assert sum(node.op == "Add" for node in wl.gpeu_ops) == 10  # inverted residuals


def test_squeezenet1_1_layers(workloads):
    wl = workloads["squeezenet1_1"]
    # (input channels, squeeze, expand) and OFM size of the 8 Fires (ceil-mode pools: 111 -> 55 -> 27 -> 13)
    fires = [(64, 16, 64, 55), (128, 16, 64, 55), (128, 32, 128, 27), (256, 32, 128, 27),
             (256, 48, 192, 13), (384, 48, 192, 13), (384, 64, 256, 13), (512, 64, 256, 13)]
    macs = 111**2 * 64 * 3 * 9 + 13**2 * 1000 * 512  # features.0, classifier.1
    shapes = [(27, 64, 64, 111, 111)]
    for cin, sq, e, hw in fires:
        macs += hw**2 * (cin * sq + sq * e + sq * 9 * e)  # squeeze, expand1x1, expand3x3
        shapes += [(cin, sq, sq, hw, hw), (sq, e, e, hw, hw), (sq * 9, e, e, hw, hw)]
    shapes.append((512, 1000, 1000, 13, 13))
    assert macs == EXPECTED["squeezenet1_1"][1] == wl.macs
    assert [_shape(layer) for layer in wl.layers] == shapes
    assert [layer.name for layer in wl.layers[:4]] == [
        "features.0", "features.3.squeeze", "features.3.expand1x1", "features.3.expand3x3"]
    assert wl.layers[-1].name == "classifier.1"
    assert _layer(wl, "features.0").stride == (2, 2)
    assert [wl.node(f"features.{i}").out.height for i in (2, 5, 8)] == [55, 27, 13]
    assert [e.source for e in wl.node("features.3.cat").inputs] == [
        "features.3.expand1x1_activation", "features.3.expand3x3_activation"]
    assert sum(node.op == "Concat" for node in wl.gpeu_ops) == 8
    # the weight inputs hold torchvision's SqueezeNet1_1_Weights num_params: 1,235,496 (weights + biases)
    model = onnx.load(MODELS_DIR / ZOO["squeezenet1_1"])
    assert sum(math.prod(d.dim_value for d in v.type.tensor_type.shape.dim) for v in model.graph.input[1:]) \
        == 1_235_496


def test_mini_models(workloads):
    cnn = workloads["mini-cnn"]
    assert [_shape(layer) for layer in cnn.layers] == [
        (27, 8, 8, 32, 32), (72, 16, 16, 16, 16), (144, 16, 16, 16, 16), (144, 32, 32, 8, 8), (32, 10, 10, 1, 1)]
    yolo = workloads["mini-yolo"]
    assert [_shape(layer) for layer in yolo.layers] == [
        (27, 8, 8, 64, 64), (72, 16, 16, 32, 32), (144, 32, 32, 16, 16), (32, 18, 18, 16, 16),
        (32, 16, 16, 16, 16), ((16 + 16) * 9, 16, 16, 32, 32), (16, 18, 18, 32, 32)]


@pytest.mark.parametrize("spec, name", [
    ("tiny-yolov3", "tiny-yolov3"), ("TinyYOLOv3", "tiny-yolov3"), ("yolov3-tiny", "tiny-yolov3"),
    ("tinyyolov3", "tiny-yolov3"), ("yolov4_tiny", "tiny-yolov4"), ("ResNet-18", "resnet18"),
    ("resnet50", "resnet50"), ("VGG16", "vgg16"), ("MobileNet_V2", "mobilenetv2"), ("mini_cnn", "mini-cnn"),
    ("squeezenet1_1", "squeezenet1_1"), ("SqueezeNet", "squeezenet1_1"), ("squeezenet1.1", "squeezenet1_1"),
    ("squeezenet-1.1", "squeezenet1_1"),
])
def test_resolve_zoo_names_and_aliases(spec, name):
    assert resolve_model(spec) == MODELS_DIR / ZOO[name]


def test_resolve_an_existing_path_wins(tmp_path, monkeypatch):
    copy = tmp_path / "my.onnx"
    shutil.copy(MODELS_DIR / "mini-cnn.onnx", copy)
    assert resolve_model(copy) == copy
    assert resolve_model(str(copy)) == copy
    monkeypatch.chdir(tmp_path)
    shutil.copy(MODELS_DIR / "mini-yolo.onnx", tmp_path / "resnet18")  # a file named like a zoo model
    assert resolve_model("resnet18") == Path("resnet18")
    wl = load_model(copy)
    assert wl.name == "my" and len(wl.layers) == 5


def test_resolve_unknown_name_raises():
    with pytest.raises(InputError) as err:
        resolve_model("resnet19")
    message = str(err.value)
    assert "resnet19" in message and "no such file" in message
    assert all(name in message for name in ZOO)
    with pytest.raises(InputError, match="is not a file"):
        resolve_model(MODELS_DIR)


def test_load_model_names_the_workload_after_the_zoo_name():
    assert load_model("yolov3-tiny").name == "tiny-yolov3"
