"""The emotion labels, in the classifier's output order: the one list the code uses.

The FER-2013 classes of the mini-Xception network. The MQTT contract names the same labels
(``mqtt_schemas/schemas/event-visit.schema.json``, ``$defs.label.enum``); a test keeps the two
equal. Kept apart from :mod:`emotion_model.classifier` so that the model builder and the monitor
can import it without onnxruntime or OpenCV.
"""

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
