"""An independent numpy forward pass of a Keras mini-Xception HDF5 file, for the parity tests.

It shares no code with :mod:`emotion_model.build`: it works channels-last (NHWC, as Keras does),
in float64, straight on the stored kernel layouts, with convolutions written as sums over the
kernel taps. It is slow (tens of ms a face) and only meant to check the ONNX conversion.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np


def _tf_same_padding(length: int, window: int, step: int) -> tuple[int, int]:
    # TensorFlow: out = ceil(length / step); the larger half of an odd total goes after
    n_out = (length + step - 1) // step
    need = (n_out - 1) * step + window - length
    need = need if need > 0 else 0
    before = need // 2
    return before, need - before


def _padded(
    x: np.ndarray, window: tuple[int, int], step: tuple[int, int], mode: str, fill: float
) -> np.ndarray:
    if mode == "valid":
        return x
    assert mode == "same", mode
    rows = _tf_same_padding(x.shape[1], window[0], step[0])
    cols = _tf_same_padding(x.shape[2], window[1], step[1])
    return np.pad(x, ((0, 0), rows, cols, (0, 0)), constant_values=fill)


def _taps(x: np.ndarray, window: tuple[int, int], step: tuple[int, int]):
    """Yield (i, j, view) for each kernel tap: view[n, r, c, ch] = x[n, r*sh + i, c*sw + j, ch]."""
    kh, kw = window
    sh, sw = step
    out_h = (x.shape[1] - kh) // sh + 1
    out_w = (x.shape[2] - kw) // sw + 1
    for i in range(kh):
        for j in range(kw):
            yield i, j, x[:, i : i + sh * (out_h - 1) + 1 : sh, j : j + sw * (out_w - 1) + 1 : sw, :]


def conv2d(x: np.ndarray, kernel: np.ndarray, step: tuple[int, int], mode: str) -> np.ndarray:
    """Keras Conv2D; kernel (kh, kw, in, out)."""
    x = _padded(x, kernel.shape[:2], step, mode, 0.0)
    out = None
    for i, j, view in _taps(x, kernel.shape[:2], step):
        term = np.einsum("nhwc,cd->nhwd", view, kernel[i, j])
        out = term if out is None else out + term
    return out


def depthwise_conv2d(x: np.ndarray, kernel: np.ndarray, step: tuple[int, int], mode: str) -> np.ndarray:
    """TensorFlow depthwise convolution; kernel (kh, kw, in, mult), output channel c*mult + m."""
    x = _padded(x, kernel.shape[:2], step, mode, 0.0)
    out = None
    for i, j, view in _taps(x, kernel.shape[:2], step):
        term = view[..., :, None] * kernel[i, j][None, None, None, :, :]  # (n, h, w, in, mult)
        out = term if out is None else out + term
    n, h, w, cin, mult = out.shape
    return out.reshape(n, h, w, cin * mult)


def max_pool(x: np.ndarray, window: tuple[int, int], step: tuple[int, int], mode: str) -> np.ndarray:
    x = _padded(x, window, step, mode, -np.inf)
    out = None
    for _, _, view in _taps(x, window, step):
        out = view.copy() if out is None else np.maximum(out, view)
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class KerasReference:
    """Loads the layer graph and weights of a Keras 2 functional model; ``__call__`` runs it."""

    def __init__(self, hdf5_path: str | Path) -> None:
        with h5py.File(hdf5_path, "r") as f:
            raw = f.attrs["model_config"]
            self.config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)["config"]
            self.params: dict[str, dict[str, np.ndarray]] = {}
            for layer in self.config["layers"]:
                group = f["model_weights"][layer["name"]]
                found: dict[str, np.ndarray] = {}

                def keep(name: str, obj, found=found) -> None:
                    if isinstance(obj, h5py.Dataset):
                        found[name.split("/")[-1].removesuffix(":0")] = np.array(obj, dtype=np.float64)

                group.visititems(keep)
                self.params[layer["name"]] = found

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        """faces: (N, 64, 64) already scaled to [-1, 1] -> (N, 7) probabilities (float64)."""
        values: dict[str, np.ndarray] = {}
        for layer in self.config["layers"]:
            kind, name, cfg = layer["class_name"], layer["name"], layer["config"]
            w = self.params[name]
            args = [values[src[0]] for src in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
            if kind == "InputLayer":
                y = np.asarray(faces, dtype=np.float64)[..., None]
            elif kind == "Conv2D":
                y = conv2d(args[0], w["kernel"], tuple(cfg["strides"]), cfg["padding"])
                if cfg["use_bias"]:
                    y = y + w["bias"]
            elif kind == "SeparableConv2D":
                y = depthwise_conv2d(args[0], w["depthwise_kernel"], tuple(cfg["strides"]), cfg["padding"])
                y = conv2d(y, w["pointwise_kernel"], (1, 1), "valid")
                if cfg["use_bias"]:
                    y = y + w["bias"]
            elif kind == "BatchNormalization":
                y = (args[0] - w["moving_mean"]) / np.sqrt(w["moving_variance"] + cfg["epsilon"])
                y = y * w["gamma"] + w["beta"]
            elif kind == "MaxPooling2D":
                y = max_pool(args[0], tuple(cfg["pool_size"]), tuple(cfg["strides"]), cfg["padding"])
            elif kind == "Add":
                y = args[0] + args[1]
            elif kind == "GlobalAveragePooling2D":
                y = args[0].mean(axis=(1, 2))
            elif kind == "Activation":
                y = args[0]
            else:
                raise NotImplementedError(kind)
            activation = cfg.get("activation", "linear")
            if activation == "relu":
                y = np.maximum(y, 0.0)
            elif activation == "softmax":
                y = softmax(y)
            elif activation != "linear":
                raise NotImplementedError(activation)
            values[name] = y
        return values[self.config["output_layers"][0][0]]
