"""The one label list of the code is the one the MQTT contract names: they cannot drift apart."""

from __future__ import annotations

import json

import mqtt_schemas
from emotion_model.labels import LABELS

VISIT_SCHEMA = mqtt_schemas.SCHEMA_DIR / "event-visit.schema.json"


def test_the_labels_are_the_visit_schemas_enum_in_order():
    schema = json.loads(VISIT_SCHEMA.read_text(encoding="utf-8"))
    assert list(LABELS) == schema["$defs"]["label"]["enum"]
    # the visit's distribution names every label, and nothing else
    dist = schema["properties"]["dist"]
    assert dist["required"] == list(LABELS) and list(dist["properties"]) == list(LABELS)


def test_every_importer_uses_the_one_list():
    from emotion_model import build, classifier
    from emotion_model.monitor import device, pipeline

    assert build.LABELS is classifier.LABELS is device.LABELS is pipeline.LABELS is LABELS


def test_the_hubs_valence_groups_split_the_same_labels():
    """The hub groups the labels for the emotional NPS (edge_hub.metrics.formulas): every label of
    the contract in exactly one group, and no other."""
    from edge_hub.metrics import formulas

    groups = (formulas.EMOTIONS_POSITIVE, formulas.EMOTIONS_NEGATIVE, formulas.EMOTIONS_NEUTRAL)
    assert sum(len(g) for g in groups) == len(LABELS)
    assert set(LABELS) == formulas.EMOTIONS
