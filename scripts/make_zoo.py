"""Build the model zoo: shape-only ONNX files of the paper's networks, written to `models/`.

    python scripts/make_zoo.py            # (re)write models/*.onnx and print a summary table
    python scripts/make_zoo.py --check    # exit 1 if a file in models/ differs from what this script builds

Shape-only: no weight values. Every weight (conv/gemm weights and biases, BatchNormalization scale, bias, mean
and variance) is a typed graph input (e.g. `conv1.weight` float[64,3,7,7]); the only initializers are the
small constants that ops take as inputs (Resize scales, Slice starts/ends/axes, Clip min/max). The first graph
input, `input`, is the image (batch 1, NCHW, float32). Opset 17, IR version 8. Node names are unique and every
node's output tensor carries its node's name. Every file passes `onnx.checker.check_model(full_check=True)` and
stores its inferred intermediate shapes (value_info). The output is deterministic: reruns are byte-identical.

The networks and their sources (MACs = conv + gemm multiply-accumulates at batch 1, as computed here):

- `tiny-yolov3` (416x416): Darknet `cfg/yolov3-tiny.cfg` (Redmon & Farhadi, "YOLOv3: An Incremental
  Improvement", 2018). 13 convs, each BatchNorm + LeakyReLU(0.1) except the two 1x1 detection convs
  (255 = 3 * (80 + 5) outputs, with bias, linear). Five maxpools 2/2 (416 -> 13), then the 6th maxpool of
  size 2 stride 1 with pads (0, 0, 1, 1) so 13x13 stays 13x13; route -4, 1x1 conv 128, upsample x2 (Resize
  nearest), concat with layer 8 (256 channels at 26x26) -> 384 channels, 3x3 conv 256 and the 26x26 head.
  2,782,480,896 MACs = 5.565 BFLOPs; Darknet prints 5.56 BFLOPs (pjreddie; convs only) or 5.571 (AlexeyAB's
  fork, which adds 0.006 for the maxpools).
- `tiny-yolov4` (416x416): Darknet `cfg/yolov4-tiny.cfg` (Bochkovskiy et al., YOLOv4, 2020; Wang et al.,
  Scaled-YOLOv4, 2021). 21 convs: two stride-2 3x3 convs, three CSP blocks (3x3 conv, route groups=2
  group_id=1 = a channel Slice taking the second half, two 3x3 convs, concat, 1x1 conv, concat with the block
  input, maxpool 2/2), then 3x3 conv 512, 1x1 conv 256, the 13x13 head, route, 1x1 conv 128, upsample x2,
  concat with layer 23 (256 channels at 26x26), 3x3 conv 256 and the 26x26 head. 3,453,938,176 MACs =
  6.908 BFLOPs; Darknet (AlexeyAB) prints 6.910 = 6.908 for the convs + 0.002 for the maxpools.
- `vgg16` (224x224): torchvision `vgg16` (Simonyan & Zisserman, 2015, configuration D): 13 3x3 convs with
  bias + ReLU, 5 maxpools, Flatten, 3 Gemm (25088 -> 4096 -> 4096 -> 1000). Dropout omitted (inference);
  the adaptive average pool to 7x7 is the identity at 224 and omitted. torchvision: 15.47 GFLOPS (MACs).
- `resnet18` (224x224): torchvision `resnet18` (He et al., 2016): 7x7/2 conv, BN, ReLU, maxpool 3/2,
  4 stages of 2 BasicBlocks (64, 128, 256, 512; 1x1/2 conv + BN downsample on the shortcut of stages 2-4),
  GlobalAveragePool, Flatten, Gemm 512 -> 1000. torchvision: 1.81 GFLOPS (MACs; 1.82 G commonly quoted).
- `resnet50` (224x224): torchvision `resnet50`, ResNet v1.5 (stride on the 3x3 conv of the bottleneck):
  stages of 3, 4, 6, 3 Bottlenecks (1x1, 3x3, 1x1 with expansion 4), 1x1 + BN downsample on the first block of
  each stage, GlobalAveragePool, Flatten, Gemm 2048 -> 1000. torchvision: 4.09 GFLOPS (MACs).
- `alexnet` (224x224): torchvision `alexnet` (the "one weird trick" variant, Krizhevsky 2014): convs 64@11x11/4
  pad 2, 192@5x5, 384@3x3, 256@3x3, 256@3x3 with bias + ReLU, three maxpools 3/2, Flatten, 3 Gemm
  (9216 -> 4096 -> 4096 -> 1000). The adaptive pool to 6x6 is the identity at 224 and omitted.
  torchvision: 0.71 GFLOPS (MACs).
- `mobilenetv2` (224x224): torchvision `mobilenet_v2` (Sandler et al., 2018), width 1.0: 3x3/2 conv 32,
  17 inverted residual blocks (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1)
  (6,160,3,2) (6,320,1,1): 1x1 expand (absent when t = 1), 3x3 depthwise (Conv with group = C), 1x1 linear
  projection, BN after each, ReLU6 (Clip 0..6) after expand and depthwise, Add when stride 1 and Cin == Cout;
  then 1x1 conv 1280, GlobalAveragePool, Flatten, Gemm 1280 -> 1000. torchvision: 0.30 GFLOPS (MACs).
- `squeezenet1_1` (224x224): torchvision `squeezenet1_1` (Iandola et al., "SqueezeNet", 2016; v1.1 from the
  authors' repository): 3x3/2 conv 64 with bias + ReLU (224 -> 111), maxpool 3/2 ceil_mode (-> 55), Fire 64,
  Fire 64, maxpool (-> 27), Fire 128, Fire 128, maxpool (-> 13), Fire 192, Fire 192, Fire 256, Fire 256, then
  the classifier: 1x1 conv 1000 with bias + ReLU, GlobalAveragePool (torchvision's AdaptiveAvgPool2d(1)),
  Flatten; Dropout omitted. Fire(s, e) = 1x1 squeeze conv s + ReLU, then 1x1 and 3x3 (pad 1) expand convs of
  e each + ReLU, concatenated on channels (1x1 first); all convs with bias. The maxpools keep ceil_mode=1
  (at 224 every window fits, so floor mode would give the same sizes). 26 convs, no Gemm; 349,151,936 MACs.
  torchvision: 0.35 GFLOPS (MACs).
- `mini-cnn` (32x32, ours): conv 8 -> maxpool 2/2 -> conv 16 -> conv 16 -> Add (residual) -> conv 32 stride 2
  -> GlobalAveragePool -> Flatten -> Gemm 10. Four convs and a Gemm, for exact-solver studies.
- `mini-yolo` (64x64, ours): a tiny YOLO-like net: conv 8, maxpool, conv 16, maxpool, conv 32, maxpool 2/1
  (pads 0,0,1,1 as in tiny-yolov3), 1x1 head 18 at 16x16, 1x1 conv 16, upsample x2, concat with the 32x32
  conv 16, 3x3 conv 16, 1x1 head 18 at 32x32. Seven convs, for exact-solver studies.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cimopt.onnx.importer import WEIGHTS_AS_INPUTS, WEIGHTS_AS_INPUTS_KEY

OPSET = 17
IR_VERSION = 8
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
FLOAT = TensorProto.FLOAT


def _out(n: int, k: int, s: int, p0: int, p1: int, ceil_mode: bool = False) -> int:
    span = n + p0 + p1 - k
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= n + p0 else out  # the last window must start inside the input (PyTorch)


@dataclass
class Net:
    """A tiny graph builder over `onnx.helper` that tracks NCHW shapes and MVM-layer statistics."""

    name: str
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inputs: list[onnx.ValueInfoProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    macs: int = 0
    mvm_layers: int = 0
    ofm_pixels: int = 0

    def _node(self, op: str, name: str, inputs: list[str], shape: tuple[int, ...], **attrs) -> str:
        if name in self.shapes:
            raise ValueError(f"duplicate name {name}")
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        self.shapes[name] = shape
        return name

    def input(self, c: int, h: int, w: int, name: str = "input") -> str:
        self.inputs.append(helper.make_tensor_value_info(name, FLOAT, [1, c, h, w]))
        self.shapes[name] = (1, c, h, w)
        return name

    def weight(self, name: str, shape: tuple[int, ...]) -> str:
        """A weight tensor: a typed graph input, no values."""
        self.inputs.append(helper.make_tensor_value_info(name, FLOAT, list(shape)))
        self.shapes[name] = shape
        return name

    def const(self, name: str, values: np.ndarray) -> str:
        """A small constant an op takes as an input (scales, slice bounds, clip limits)."""
        self.inits.append(numpy_helper.from_array(values, name))
        self.shapes[name] = values.shape
        return name

    def conv(self, x: str, cout: int, k: int, s: int = 1, p: int | tuple[int, int, int, int] | None = None,
             groups: int = 1, bias: bool = False, name: str = "") -> str:
        _, cin, h, w = self.shapes[x]
        pads = (k // 2,) * 4 if p is None else (p,) * 4 if isinstance(p, int) else p
        ho, wo = _out(h, k, s, pads[0], pads[2]), _out(w, k, s, pads[1], pads[3])
        ins = [x, self.weight(f"{name}.weight", (cout, cin // groups, k, k))]
        if bias:
            ins.append(self.weight(f"{name}.bias", (cout,)))
        self.macs += ho * wo * cout * (cin // groups) * k * k
        self.mvm_layers += 1
        self.ofm_pixels += ho * wo
        # ONNX pads order: (top, left, bottom, right) = (x1_begin, x2_begin, x1_end, x2_end)
        return self._node("Conv", name, ins, (1, cout, ho, wo), kernel_shape=[k, k], strides=[s, s],
                          pads=list(pads), group=groups, dilations=[1, 1])

    def bn(self, x: str, name: str) -> str:
        c = self.shapes[x][1]
        ins = [x] + [self.weight(f"{name}.{p}", (c,)) for p in ("weight", "bias", "running_mean", "running_var")]
        return self._node("BatchNormalization", name, ins, self.shapes[x], epsilon=1e-5)

    def relu(self, x: str, name: str) -> str:
        return self._node("Relu", name, [x], self.shapes[x])

    def leaky(self, x: str, name: str) -> str:
        return self._node("LeakyRelu", name, [x], self.shapes[x], alpha=0.1)

    def relu6(self, x: str, name: str) -> str:
        if "relu6.min" not in self.shapes:
            self.const("relu6.min", np.array(0.0, dtype=np.float32))
            self.const("relu6.max", np.array(6.0, dtype=np.float32))
        return self._node("Clip", name, [x, "relu6.min", "relu6.max"], self.shapes[x])

    def maxpool(self, x: str, k: int, s: int, pads: tuple[int, int, int, int] = (0, 0, 0, 0), name: str = "",
                ceil_mode: bool = False) -> str:
        n, c, h, w = self.shapes[x]
        shape = (n, c, _out(h, k, s, pads[0], pads[2], ceil_mode), _out(w, k, s, pads[1], pads[3], ceil_mode))
        extra = {"ceil_mode": 1} if ceil_mode else {}  # the attribute only when set: the other files stay as they were
        return self._node("MaxPool", name, [x], shape, kernel_shape=[k, k], strides=[s, s], pads=list(pads), **extra)

    def gap(self, x: str, name: str) -> str:
        n, c, _, _ = self.shapes[x]
        return self._node("GlobalAveragePool", name, [x], (n, c, 1, 1))

    def flatten(self, x: str, name: str) -> str:
        shape = self.shapes[x]
        return self._node("Flatten", name, [x], (shape[0], int(np.prod(shape[1:]))), axis=1)

    def gemm(self, x: str, nout: int, name: str) -> str:
        n, nin = self.shapes[x]
        w = self.weight(f"{name}.weight", (nout, nin))
        b = self.weight(f"{name}.bias", (nout,))
        self.macs += nin * nout
        self.mvm_layers += 1
        self.ofm_pixels += 1
        return self._node("Gemm", name, [x, w, b], (n, nout), transB=1)

    def add(self, a: str, b: str, name: str) -> str:
        return self._node("Add", name, [a, b], self.shapes[a])

    def concat(self, xs: list[str], name: str) -> str:
        n, _, h, w = self.shapes[xs[0]]
        c = sum(self.shapes[x][1] for x in xs)
        return self._node("Concat", name, xs, (n, c, h, w), axis=1)

    def upsample(self, x: str, name: str) -> str:
        """Nearest-neighbour x2 upsample (Darknet's `[upsample] stride=2`)."""
        scales = self.const(f"{name}.scales", np.array([1, 1, 2, 2], dtype=np.float32))
        n, c, h, w = self.shapes[x]
        return self._node("Resize", name, [x, "", scales], (n, c, 2 * h, 2 * w), mode="nearest",
                          coordinate_transformation_mode="asymmetric", nearest_mode="floor")

    def second_half(self, x: str, name: str) -> str:
        """Darknet `[route] groups=2 group_id=1`: the second half of the channels, as a Slice."""
        n, c, h, w = self.shapes[x]
        starts = self.const(f"{name}.starts", np.array([c // 2], dtype=np.int64))
        ends = self.const(f"{name}.ends", np.array([c], dtype=np.int64))
        axes = self.const(f"{name}.axes", np.array([1], dtype=np.int64))
        return self._node("Slice", name, [x, starts, ends, axes], (n, c - c // 2, h, w))

    def output(self, x: str) -> None:
        self.outputs.append(x)

    def model(self) -> onnx.ModelProto:
        """The checked model with inferred value_info; raises if ONNX's shapes differ from the tracked ones."""
        graph = helper.make_graph(
            self.nodes, self.name, self.inputs,
            [helper.make_tensor_value_info(o, FLOAT, list(self.shapes[o])) for o in self.outputs],
            initializer=self.inits)
        model = helper.make_model(graph, producer_name="cimopt.make_zoo", producer_version="1",
                                  opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
        model.doc_string = f"{self.name}: shape-only (weights are graph inputs), built by scripts/make_zoo.py"
        helper.set_model_props(model, {WEIGHTS_AS_INPUTS_KEY: WEIGHTS_AS_INPUTS})  # no "taken as constant" warning
        model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        onnx.checker.check_model(model, full_check=True)
        inferred = {v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim)
                    for v in list(model.graph.value_info) + list(model.graph.output)}
        for node in self.nodes:
            if inferred[node.output[0]] != self.shapes[node.output[0]]:
                raise AssertionError(f"{self.name}/{node.name}: ONNX infers {inferred[node.output[0]]}, "
                                     f"the builder expected {self.shapes[node.output[0]]}")
        return model


# ---------------------------------------------------------------------------------------------------------------
# Darknet networks: layer names carry the cfg's layer index (conv_0, maxpool_1, route_3, ...).


def _dn_conv(net: Net, x: str, i: int, cout: int, k: int, s: int = 1) -> str:
    """A Darknet `[convolutional] batch_normalize=1 pad=1 activation=leaky` block."""
    y = net.conv(x, cout, k, s, name=f"conv_{i}")
    y = net.bn(y, f"bn_{i}")
    return net.leaky(y, f"leaky_{i}")


def _dn_head(net: Net, x: str, i: int) -> str:
    """A Darknet detection conv: 1x1, 255 filters, bias, linear; its output is a graph output."""
    y = net.conv(x, 255, 1, bias=True, name=f"conv_{i}")
    net.output(y)
    return y


def tiny_yolov3() -> Net:
    net = Net("tiny-yolov3")
    x = net.input(3, 416, 416)
    layer8 = ""
    for i, c in zip(range(0, 12, 2), (16, 32, 64, 128, 256, 512), strict=True):  # layers 0..11
        x = _dn_conv(net, x, i, c, 3)
        if i == 8:
            layer8 = x
        if i < 10:
            x = net.maxpool(x, 2, 2, name=f"maxpool_{i + 1}")
        else:  # layer 11: size=2 stride=1, Darknet pads one at the bottom/right so 13x13 stays 13x13
            x = net.maxpool(x, 2, 1, (0, 0, 1, 1), name=f"maxpool_{i + 1}")
    x = _dn_conv(net, x, 12, 1024, 3)
    layer13 = _dn_conv(net, x, 13, 256, 1)
    x = _dn_conv(net, layer13, 14, 512, 3)
    _dn_head(net, x, 15)  # layer 16: yolo; layer 17: route -4 (= layer 13)
    x = _dn_conv(net, layer13, 18, 128, 1)
    x = net.upsample(x, "upsample_19")
    x = net.concat([x, layer8], "route_20")
    x = _dn_conv(net, x, 21, 256, 3)
    _dn_head(net, x, 22)  # layer 23: yolo
    return net


def _csp(net: Net, x: str, i: int, c: int) -> tuple[str, str]:
    """yolov4-tiny's CSP block starting at cfg layer `i` (a 3x3 conv of `c` filters): (its concat, its 1x1 conv)."""
    a = _dn_conv(net, x, i, c, 3)
    h = net.second_half(a, f"route_{i + 1}")  # groups=2 group_id=1
    b = _dn_conv(net, h, i + 2, c // 2, 3)
    d = _dn_conv(net, b, i + 3, c // 2, 3)
    e = net.concat([d, b], f"route_{i + 4}")  # layers = -1, -2
    f = _dn_conv(net, e, i + 5, c, 1)
    return net.concat([a, f], f"route_{i + 6}"), f  # layers = -6, -1


def tiny_yolov4() -> Net:
    net = Net("tiny-yolov4")
    x = net.input(3, 416, 416)
    x = _dn_conv(net, x, 0, 32, 3, 2)
    x = _dn_conv(net, x, 1, 64, 3, 2)
    x, _ = _csp(net, x, 2, 64)
    x = net.maxpool(x, 2, 2, name="maxpool_9")
    x, _ = _csp(net, x, 10, 128)
    x = net.maxpool(x, 2, 2, name="maxpool_17")
    x, layer23 = _csp(net, x, 18, 256)
    x = net.maxpool(x, 2, 2, name="maxpool_25")
    x = _dn_conv(net, x, 26, 512, 3)
    layer27 = _dn_conv(net, x, 27, 256, 1)
    x = _dn_conv(net, layer27, 28, 512, 3)
    _dn_head(net, x, 29)  # layer 30: yolo; layer 31: route -4 (= layer 27)
    x = _dn_conv(net, layer27, 32, 128, 1)
    x = net.upsample(x, "upsample_33")
    x = net.concat([x, layer23], "route_34")  # layers = -1, 23
    x = _dn_conv(net, x, 35, 256, 3)
    _dn_head(net, x, 36)  # layer 37: yolo
    return net


# ---------------------------------------------------------------------------------------------------------------
# torchvision networks: names follow torchvision's state_dict keys.


def _classifier(net: Net, x: str, sizes: tuple[int, ...], prefix: str = "classifier") -> str:
    """Flatten, then Gemm + ReLU for every hidden size and a final Gemm (Dropout omitted)."""
    x = net.flatten(x, "flatten")
    for j, n in enumerate(sizes):
        x = net.gemm(x, n, f"{prefix}.{j}")
        if j < len(sizes) - 1:
            x = net.relu(x, f"{prefix}.{j}.relu")
    net.output(x)
    return x


def vgg16() -> Net:
    net = Net("vgg16")
    x = net.input(3, 224, 224)
    i = 0
    for block in ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)):
        for c in block:
            x = net.conv(x, c, 3, bias=True, name=f"features.{i}")
            x = net.relu(x, f"features.{i + 1}")
            i += 2
        x = net.maxpool(x, 2, 2, name=f"features.{i}")
        i += 1
    _classifier(net, x, (4096, 4096, 1000))
    return net


def alexnet() -> Net:
    net = Net("alexnet")
    x = net.input(3, 224, 224)
    x = net.relu(net.conv(x, 64, 11, 4, 2, bias=True, name="features.0"), "features.1")
    x = net.maxpool(x, 3, 2, name="features.2")
    x = net.relu(net.conv(x, 192, 5, 1, 2, bias=True, name="features.3"), "features.4")
    x = net.maxpool(x, 3, 2, name="features.5")
    x = net.relu(net.conv(x, 384, 3, bias=True, name="features.6"), "features.7")
    x = net.relu(net.conv(x, 256, 3, bias=True, name="features.8"), "features.9")
    x = net.relu(net.conv(x, 256, 3, bias=True, name="features.10"), "features.11")
    x = net.maxpool(x, 3, 2, name="features.12")
    _classifier(net, x, (4096, 4096, 1000))
    return net


def _conv_bn(net: Net, x: str, cout: int, k: int, s: int, conv: str, bn: str, groups: int = 1) -> str:
    return net.bn(net.conv(x, cout, k, s, groups=groups, name=conv), bn)


def _resnet_stem(net: Net) -> str:
    x = net.input(3, 224, 224)
    x = net.relu(_conv_bn(net, x, 64, 7, 2, "conv1", "bn1"), "relu")
    return net.maxpool(x, 3, 2, (1, 1, 1, 1), name="maxpool")


def _resnet_head(net: Net, x: str) -> None:
    x = net.gap(x, "avgpool")
    x = net.flatten(x, "flatten")
    net.output(net.gemm(x, 1000, "fc"))


def resnet18() -> Net:
    net = Net("resnet18")
    x = _resnet_stem(net)
    cin = 64
    for stage, c in enumerate((64, 128, 256, 512), start=1):
        for blk in range(2):
            p = f"layer{stage}.{blk}"
            s = 2 if blk == 0 and stage > 1 else 1
            y = net.relu(_conv_bn(net, x, c, 3, s, f"{p}.conv1", f"{p}.bn1"), f"{p}.relu1")
            y = _conv_bn(net, y, c, 3, 1, f"{p}.conv2", f"{p}.bn2")
            short = x
            if s != 1 or cin != c:
                short = _conv_bn(net, x, c, 1, s, f"{p}.downsample.0", f"{p}.downsample.1")
            x = net.relu(net.add(y, short, f"{p}.add"), f"{p}.relu2")
            cin = c
    _resnet_head(net, x)
    return net


def resnet50() -> Net:
    net = Net("resnet50")
    x = _resnet_stem(net)
    cin = 64
    for stage, (c, n) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=1):
        for blk in range(n):
            p = f"layer{stage}.{blk}"
            s = 2 if blk == 0 and stage > 1 else 1
            y = net.relu(_conv_bn(net, x, c, 1, 1, f"{p}.conv1", f"{p}.bn1"), f"{p}.relu1")
            y = net.relu(_conv_bn(net, y, c, 3, s, f"{p}.conv2", f"{p}.bn2"), f"{p}.relu2")  # v1.5: stride here
            y = _conv_bn(net, y, 4 * c, 1, 1, f"{p}.conv3", f"{p}.bn3")
            short = x
            if s != 1 or cin != 4 * c:
                short = _conv_bn(net, x, 4 * c, 1, s, f"{p}.downsample.0", f"{p}.downsample.1")
            x = net.relu(net.add(y, short, f"{p}.add"), f"{p}.relu3")
            cin = 4 * c
    _resnet_head(net, x)
    return net


def mobilenetv2() -> Net:
    net = Net("mobilenetv2")
    x = net.input(3, 224, 224)
    x = net.relu6(_conv_bn(net, x, 32, 3, 2, "features.0.0", "features.0.1"), "features.0.2")
    cin, f = 32, 1
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)):
        for j in range(n):
            stride = s if j == 0 else 1
            hidden = cin * t
            p = f"features.{f}.conv"
            y, k = x, 0
            if t != 1:
                y = net.relu6(_conv_bn(net, y, hidden, 1, 1, f"{p}.0.0", f"{p}.0.1"), f"{p}.0.2")
                k = 1
            y = net.relu6(_conv_bn(net, y, hidden, 3, stride, f"{p}.{k}.0", f"{p}.{k}.1", groups=hidden),
                          f"{p}.{k}.2")
            y = _conv_bn(net, y, c, 1, 1, f"{p}.{k + 1}", f"{p}.{k + 2}")
            if stride == 1 and cin == c:
                y = net.add(x, y, f"features.{f}.add")
            x, cin, f = y, c, f + 1
    x = net.relu6(_conv_bn(net, x, 1280, 1, 1, f"features.{f}.0", f"features.{f}.1"), f"features.{f}.2")
    x = net.gap(x, "avgpool")
    x = net.flatten(x, "flatten")
    net.output(net.gemm(x, 1000, "classifier.1"))
    return net


def _fire(net: Net, x: str, squeeze: int, expand: int, p: str) -> str:
    """torchvision's Fire module `p` (e.g. `features.3`): squeeze 1x1, then concat(expand 1x1, expand 3x3)."""
    s = net.relu(net.conv(x, squeeze, 1, bias=True, name=f"{p}.squeeze"), f"{p}.squeeze_activation")
    e1 = net.relu(net.conv(s, expand, 1, bias=True, name=f"{p}.expand1x1"), f"{p}.expand1x1_activation")
    e3 = net.relu(net.conv(s, expand, 3, p=1, bias=True, name=f"{p}.expand3x3"), f"{p}.expand3x3_activation")
    return net.concat([e1, e3], f"{p}.cat")


def squeezenet1_1() -> Net:
    net = Net("squeezenet1_1")
    x = net.input(3, 224, 224)
    x = net.relu(net.conv(x, 64, 3, 2, 0, bias=True, name="features.0"), "features.1")  # 111x111
    x = net.maxpool(x, 3, 2, name="features.2", ceil_mode=True)  # 55x55
    x = _fire(net, x, 16, 64, "features.3")
    x = _fire(net, x, 16, 64, "features.4")
    x = net.maxpool(x, 3, 2, name="features.5", ceil_mode=True)  # 27x27
    x = _fire(net, x, 32, 128, "features.6")
    x = _fire(net, x, 32, 128, "features.7")
    x = net.maxpool(x, 3, 2, name="features.8", ceil_mode=True)  # 13x13
    for i, (sq, e) in zip(range(9, 13), ((48, 192), (48, 192), (64, 256), (64, 256)), strict=True):
        x = _fire(net, x, sq, e, f"features.{i}")
    # classifier: 0 = Dropout (omitted), 1 = 1x1 conv, 2 = ReLU, 3 = AdaptiveAvgPool2d(1); then torch.flatten
    x = net.relu(net.conv(x, 1000, 1, bias=True, name="classifier.1"), "classifier.2")
    x = net.gap(x, "classifier.3")
    net.output(net.flatten(x, "flatten"))
    return net


# ---------------------------------------------------------------------------------------------------------------
# Small models for exact-solver studies.


def mini_cnn() -> Net:
    net = Net("mini-cnn")
    x = net.input(3, 32, 32)
    x = net.relu(net.conv(x, 8, 3, bias=True, name="conv1"), "relu1")  # 32x32
    x = net.maxpool(x, 2, 2, name="pool1")  # 16x16
    a = net.relu(net.conv(x, 16, 3, bias=True, name="conv2"), "relu2")
    b = net.conv(a, 16, 3, bias=True, name="conv3")
    x = net.relu(net.add(b, a, "add"), "relu3")
    x = net.relu(net.conv(x, 32, 3, 2, bias=True, name="conv4"), "relu4")  # 8x8
    x = net.gap(x, "gap")
    x = net.flatten(x, "flatten")
    net.output(net.gemm(x, 10, "fc"))
    return net


def mini_yolo() -> Net:
    net = Net("mini-yolo")

    def block(x: str, c: int, k: int, i: int) -> str:
        return net.leaky(net.conv(x, c, k, bias=True, name=f"conv{i}"), f"leaky{i}")

    x = net.input(3, 64, 64)
    x = block(x, 8, 3, 0)  # 64x64
    x = net.maxpool(x, 2, 2, name="pool0")
    c1 = block(x, 16, 3, 1)  # 32x32
    x = net.maxpool(c1, 2, 2, name="pool1")
    x = block(x, 32, 3, 2)  # 16x16
    x = net.maxpool(x, 2, 1, (0, 0, 1, 1), name="pool2")  # stays 16x16
    net.output(net.conv(x, 18, 1, bias=True, name="head1"))
    x = block(x, 16, 1, 3)
    x = net.upsample(x, "upsample")  # 32x32
    x = net.concat([x, c1], "concat")
    x = block(x, 16, 3, 4)
    net.output(net.conv(x, 18, 1, bias=True, name="head2"))
    return net


BUILDERS: dict[str, Callable[[], Net]] = {
    "tiny-yolov3": tiny_yolov3,
    "tiny-yolov4": tiny_yolov4,
    "vgg16": vgg16,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "alexnet": alexnet,
    "mobilenetv2": mobilenetv2,
    "squeezenet1_1": squeezenet1_1,
    "mini-cnn": mini_cnn,
    "mini-yolo": mini_yolo,
}


def build(name: str) -> tuple[bytes, Net]:
    """The serialized model and its builder (for the statistics)."""
    net = BUILDERS[name]()
    return net.model().SerializeToString(), net


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=MODELS_DIR, help="output folder (default: the repo's models/)")
    ap.add_argument("--check", action="store_true", help="compare with the files in --out instead of writing")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    stale = []
    print(f"{'model':<13} {'input':>9} {'MVM':>4} {'MACs':>14} {'OFM pixels':>11} {'bytes':>7}")
    for name in BUILDERS:
        data, net = build(name)
        path = args.out / f"{name}.onnx"
        if args.check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(path.name)
        else:
            path.write_bytes(data)
        _, c, h, w = net.shapes["input"]
        print(f"{name:<13} {f'{c}x{h}x{w}':>9} {net.mvm_layers:>4} {net.macs:>14,} {net.ofm_pixels:>11,} {len(data):>7,}")
    if stale:
        print(f"out of date: {', '.join(stale)} (run python scripts/make_zoo.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
