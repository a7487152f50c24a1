"""The camera emotion monitor: face detection, expression classification, per-visit tracking and
the monitor process (see README.md, PRIVACY.md and MODEL_CARD.md)."""

import os

# onnxruntime (1.32) writes usage telemetry under ~/.cache/Microsoft unless this is set before it
# is first imported; the privacy test caught it. Nothing of the monitor may leave a trace.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
