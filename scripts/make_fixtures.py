"""Build the ONNX test fixtures of tests/test_onnx_import.py from real PyTorch exports.

Run with a Python that has torch, onnx and onnxscript, and torchvision, timm and transformers for the models
that need them (CPU only, no network needed; each is imported only when one of its models is built):

    python scripts/make_fixtures.py [--out tests/fixtures] [--only NAME ...] [--macs]

Every model is exported with PyTorch's legacy TorchScript exporter (`dynamo=False`, file `NAME_legacy.onnx`)
and, where it works, with the dynamo exporter (`NAME_dynamo.onnx`), with random weights (`weights=None`; the
Hugging Face BERT from a tiny random-initialised `BertConfig`, nothing downloaded).
To keep the fixtures small, every float tensor of 16+ elements (initializers and Constant values) is moved to
an external-data file `NAME.onnx.data` that is then deleted: the committed `.onnx` files hold the graph and the
tensor shapes only, which is all the importer needs (it must tolerate the missing data file); integer tensors
(shapes, axes) stay inline. `ext_present` keeps its data file. Node metadata (the dynamo exporter's stack
traces) is dropped.

`--macs` prints each model's MVM MACs counted from the PyTorch modules themselves (forward hooks on Conv1d,
Conv2d and Linear), the independent figure the tests compare the importer against.

torch is never a dependency of cimopt or of its tests: only this script imports it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from onnx.external_data_helper import set_external_data
from torch import nn

torch.manual_seed(0)
warnings.filterwarnings("ignore")


# ------------------------------------------------------------------------------------ hand-made modules


class Residual(nn.Module):
    """conv-relu-conv plus the input (a residual Add), then ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(8, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.c2(torch.relu(self.c1(x))) + x)


class ConcatNet(nn.Module):
    """Two conv branches concatenated on channels, then on height (a spatial concat)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(4, 6, 3, padding=1)
        self.b = nn.Conv2d(4, 10, 1)
        self.c = nn.Conv2d(16, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.a(x), self.b(x)], dim=1)
        z = self.c(y)
        return torch.cat([z, x], dim=2)


class Upsample(nn.Module):
    """conv, nearest 2x upsample, conv, bilinear 2x upsample, conv."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.up1 = nn.Upsample(scale_factor=2, mode="nearest")
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.up2 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.c3 = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c3(self.up2(self.c2(self.up1(self.c1(x)))))


class Grouped(nn.Module):
    """A grouped conv (4 groups) and a depthwise conv (16 groups of 1 channel) with a stride."""

    def __init__(self) -> None:
        super().__init__()
        self.c0 = nn.Conv2d(3, 16, 3, padding=1)
        self.g = nn.Conv2d(16, 32, 3, padding=1, groups=4)
        self.dw = nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=32)
        self.pw = nn.Conv2d(32, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(torch.relu(self.dw(torch.relu(self.g(self.c0(x))))))


class FcFlatten(nn.Module):
    """conv, max pool, flatten, two Linear layers (the classic CNN head)."""

    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3, padding=1)
        self.fc1 = nn.Linear(8 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.flatten(nn.functional.max_pool2d(torch.relu(self.c(x)), 2), 1)
        return self.fc2(torch.relu(self.fc1(y)))


class LinearTranspose(nn.Module):
    """`x @ w.t()` with a parameter `w` [out, in]: the weight reaches the MatMul through a Transpose."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(24, 16))
        self.w2 = nn.Parameter(torch.randn(8, 24))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.w1.t()) @ self.w2.t()


class ViewChain(nn.Module):
    """conv, `x.view(x.size(0), -1)` (a Shape -> Gather -> Concat -> Reshape chain), Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.c(x))
        return self.fc(y.view(y.size(0), -1))


class Tiny(nn.Module):
    """Two small convs: the external-data fixtures."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 4, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c2(torch.relu(self.c1(x)))


class Kws1d(nn.Module):
    """A keyword-spotting style 1-D conv net on 40 MFCC features x 98 frames: Conv1d + BatchNorm1d + ReLU with
    max and average 1-D pooling, a strided conv, global average pooling and a Linear classifier (12 words)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(40, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(32, 48, 3, stride=2, padding=1), nn.BatchNorm1d(48), nn.ReLU(), nn.AvgPool1d(2),
            nn.Conv1d(48, 64, 3, padding=1), nn.BatchNorm1d(64), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(64, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class BertTiny(nn.Module):
    """A Hugging Face BertModel from a tiny random-initialised config (2 layers, hidden 64, 2 heads, 16 tokens):
    its last hidden state and pooled output. No download."""

    def __init__(self) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel

        cfg = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=128, max_position_embeddings=64)
        self.bert = BertModel(cfg)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.bert(input_ids=ids)
        return out.last_hidden_state, out.pooler_output


def _torchvision(name: str, **kw) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        import torchvision

        return getattr(torchvision.models, name)(weights=None, **kw)

    return make


def _timm(name: str) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        import timm

        return timm.create_model(name, pretrained=False)

    return make


# ------------------------------------------------------------------------------------ the fixture list

IMG = (1, 3, 224, 224)

# name -> (module factory, input shape, exporters, dynamic batch axis)
MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...], tuple[str, ...], bool]] = {
    "resnet18": (_torchvision("resnet18"), IMG, ("legacy", "dynamo"), False),
    "resnet50": (_torchvision("resnet50"), IMG, ("legacy",), False),
    "vgg16": (_torchvision("vgg16"), IMG, ("legacy", "dynamo"), False),
    "mobilenet_v2": (_torchvision("mobilenet_v2"), IMG, ("legacy", "dynamo"), False),
    "mobilenet_v3_small": (_torchvision("mobilenet_v3_small"), IMG, ("legacy", "dynamo"), False),
    "efficientnet_b0": (_torchvision("efficientnet_b0"), IMG, ("legacy", "dynamo"), False),
    "densenet121": (_torchvision("densenet121"), IMG, ("legacy", "dynamo"), False),
    "googlenet": (_torchvision("googlenet", aux_logits=False, init_weights=False), IMG, ("legacy", "dynamo"), False),
    "squeezenet1_0": (_torchvision("squeezenet1_0"), IMG, ("legacy", "dynamo"), False),
    "cspdarknet53": (_timm("cspdarknet53"), (1, 3, 256, 256), ("legacy", "dynamo"), False),
    "vit_tiny": (_timm("vit_tiny_patch16_224"), IMG, ("legacy", "dynamo"), False),
    "residual": (Residual, (1, 8, 16, 16), ("legacy", "dynamo"), False),
    "concat": (ConcatNet, (1, 4, 8, 8), ("legacy", "dynamo"), False),
    "upsample": (Upsample, (1, 3, 8, 8), ("legacy", "dynamo"), False),
    "grouped": (Grouped, (1, 3, 16, 16), ("legacy", "dynamo"), False),
    "fc_flatten": (FcFlatten, (1, 3, 8, 8), ("legacy", "dynamo"), False),
    "linear_transpose": (LinearTranspose, (1, 16), ("legacy", "dynamo"), False),
    "linear_transpose_tokens": (LinearTranspose, (1, 5, 16), ("legacy",), False),
    "view_chain": (ViewChain, (1, 3, 8, 8), ("legacy", "dynamo"), False),
    "view_chain_dynbatch": (ViewChain, (1, 3, 8, 8), ("legacy",), True),
    "ext_present": (Tiny, (1, 3, 8, 8), ("legacy",), False),
    "ext_missing": (Tiny, (1, 3, 8, 8), ("legacy",), False),
    "kws1d": (Kws1d, (1, 40, 98), ("legacy", "dynamo"), False),
    "bert_tiny": (BertTiny, (1, 16), ("legacy", "dynamo"), False),
}
#: Models whose input is not a float tensor: name -> the example input for a shape.
INPUTS: dict[str, Callable[[tuple[int, ...]], torch.Tensor]] = {
    "bert_tiny": lambda shape: torch.randint(0, 1000, shape),  # token ids
}
KEEP_DATA = {"ext_present"}
# Exported without constant folding (legacy) / graph optimization (dynamo), so the weight Transpose and the
# Shape -> Gather -> Concat -> Reshape chain stay in the graph for the importer to fold.
# kws1d: so that its BatchNormalization nodes stay (else both exporters fold them into the convs).
NO_FOLDING = {"linear_transpose", "linear_transpose_tokens", "view_chain", "kws1d"}


def example(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    return INPUTS[name](shape) if name in INPUTS else torch.randn(*shape)


def export(module: nn.Module, x: torch.Tensor, exporter: str, path: Path, dynamic: bool, fold: bool) -> None:
    """Export to `path` (weights stored inline or next to it, as the exporter likes)."""
    if exporter == "legacy":
        kw = {"dynamic_axes": {"x": {0: "batch"}, "y": {0: "batch"}}} if dynamic else {}
        torch.onnx.export(module, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"],
                          output_names=["y"], do_constant_folding=fold, **kw)
    else:
        torch.onnx.export(module, (x,), str(path), dynamo=True, input_names=["x"], output_names=["y"],
                          optimize=fold, verbose=False)


FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}


def shrink(src: Path, dst: Path, keep_data: bool) -> None:
    """Save `src` at `dst` with every float tensor of 16+ elements in `dst.name + '.data'`, then drop that file.

    Integer tensors (shapes, axes, indices) stay inline: the importer needs their values.
    """
    model = onnx.load(str(src), load_external_data=True)
    for n in model.graph.node:  # the dynamo exporter's stack traces and name scopes: not needed, and large
        n.ClearField("metadata_props")
        n.ClearField("doc_string")
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        vi.ClearField("metadata_props")
    location = dst.name + ".data"
    tensors = list(model.graph.initializer)
    tensors += [a.t for n in model.graph.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"]
    with open(dst.parent / location, "wb") as f:
        for t in tensors:
            if t.data_type not in FLOAT_TYPES or np.prod(t.dims) < 16:
                continue
            raw = numpy_helper.to_array(t).tobytes()
            offset = f.tell()
            f.write(raw)
            for fld in ("float_data", "double_data", "int32_data"):
                t.ClearField(fld)
            t.raw_data = raw
            set_external_data(t, location, offset, len(raw))
            t.data_location = onnx.TensorProto.EXTERNAL
            t.ClearField("raw_data")
    onnx.save_model(model, str(dst))
    if not keep_data:
        (dst.parent / location).unlink()


def count_macs(module: nn.Module, x: torch.Tensor) -> int:
    """MVM MACs from the PyTorch modules: Conv1d, Conv2d and Linear, per output element, at batch 1."""
    total = 0

    def hook(m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Conv1d | nn.Conv2d):
            total += out.numel() * (m.in_channels // m.groups) * int(np.prod(m.kernel_size))
        elif isinstance(m, nn.Linear):
            total += out.numel() * m.in_features

    kinds = nn.Conv1d | nn.Conv2d | nn.Linear
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, kinds)]
    with torch.no_grad():
        module(x)
    for h in handles:
        h.remove()
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "tests" / "fixtures"))
    ap.add_argument("--only", nargs="*", default=None, help="model names to (re)build")
    ap.add_argument("--macs", action="store_true", help="print MVM MACs counted from the torch modules")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, (factory, shape, exporters, dynamic) in MODELS.items():
        if args.only and name not in args.only:
            continue
        torch.manual_seed(0)
        module = factory().eval()
        x = example(name, shape)
        if args.macs:
            print(f"{name}: {count_macs(module, x)} MACs")
        for exporter in exporters:
            dst = out / f"{name}_{exporter}.onnx"
            with tempfile.TemporaryDirectory() as tmp:
                raw = Path(tmp) / "model.onnx"
                try:
                    export(module, x, exporter, raw, dynamic, name not in NO_FOLDING)
                except Exception as exc:  # an exporter that cannot handle the model: skip it, say so
                    print(f"{name} [{exporter}]: export failed: {type(exc).__name__}: {str(exc)[:200]}")
                    continue
                shrink(raw, dst, name in KEEP_DATA)
            print(f"{dst.name}: {os.path.getsize(dst)} bytes")


if __name__ == "__main__":
    main()
