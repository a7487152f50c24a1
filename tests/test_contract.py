"""The MQTT contract: schemas, examples, the AsyncAPI document and edge_hub.ingest.contract agree.

Two validators check the same files: the hub's compiled jsonschema_rs validators (through
``Contract.parse``) and the pure-Python ``jsonschema`` library, so a rule that only one of
them enforces shows up here.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from urllib.parse import urldefrag

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

import mqtt_schemas
from edge_hub.errors import ContractError
from edge_hub.ingest.contract import REASONS, Contract, split_topic

SITE = "office-1"
VALID = mqtt_schemas.examples("valid")
INVALID = mqtt_schemas.examples("invalid")
MINIMAL_PRESS = mqtt_schemas.EXAMPLES_DIR / "valid" / "event-press-minimal.json"
SCHEMA_FILES = sorted(mqtt_schemas.SCHEMA_DIR.glob("*.schema.json"))
#: The reason code each invalid example expects.
EXPECT = {p: json.loads(p.read_text(encoding="utf-8")).get("expect") for p in INVALID}


def _invalid(*reasons: str) -> list[Path]:
    return [p for p in INVALID if EXPECT[p] in reasons]


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract(site=SITE)


@pytest.fixture(scope="module")
def py_validators() -> dict[str, Draft202012Validator]:
    """Pure-Python validators for every kind (events against event.schema.json)."""
    docs = mqtt_schemas.schemas()
    registry = Registry().with_resources((uri, Resource.from_contents(doc)) for uri, doc in docs.items())
    return {
        kind: Draft202012Validator(docs[mqtt_schemas.schema_uri(kind)], registry=registry)
        for kind in mqtt_schemas.KINDS
    }


def _kind(topic: str) -> str:
    return topic.rsplit("/", 1)[-1]


# ---------------------------------------------------------------- example files


def test_there_are_examples():
    assert len(VALID) >= 20
    assert len(INVALID) >= 50


@pytest.mark.parametrize("path", VALID + INVALID, ids=_ids(VALID + INVALID))
def test_example_file_format(path: Path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    bodies = {"payload", "payload_text", "payload_hex"} & doc.keys()
    assert len(bodies) == 1, "exactly one of payload, payload_text, payload_hex"
    allowed = {"topic", "description", *bodies} | ({"expect"} if path.parent.name == "invalid" else set())
    assert doc.keys() <= allowed, f"unexpected keys {sorted(doc.keys() - allowed)}"
    assert isinstance(doc["topic"], str)
    assert isinstance(doc.get("description"), str) and doc["description"].strip()
    if path.parent.name == "invalid":
        assert doc.get("expect") in REASONS
    if "payload_hex" in doc:
        raw = bytes.fromhex(doc["payload_hex"])
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")


@pytest.mark.parametrize("path", VALID, ids=_ids(VALID))
def test_valid_example_passes(path: Path, contract: Contract, py_validators):
    topic, raw, _ = mqtt_schemas.load_example(path)
    message = contract.parse(topic, raw)
    site, device, kind = split_topic(topic)
    assert (message.site, message.device, message.kind) == (site, device, kind)
    assert message.body == json.loads(raw)
    errors = [e.message for e in py_validators[kind].iter_errors(message.body)]
    assert not errors, errors


@pytest.mark.parametrize("path", INVALID, ids=_ids(INVALID))
def test_invalid_example_fails_for_its_reason(path: Path, contract: Contract, py_validators):
    topic, raw, doc = mqtt_schemas.load_example(path)
    with pytest.raises(ContractError) as excinfo:
        contract.parse(topic, raw)
    assert excinfo.value.reason == doc["expect"], excinfo.value.detail
    if doc["expect"] == "schema":
        body = json.loads(raw)
        assert not py_validators[_kind(topic)].is_valid(body), "jsonschema accepts what the hub rejects"


def _repaired(path: Path) -> tuple[Contract, str, bytes] | None:
    """The example with its one stated fault undone, where that is mechanical."""
    topic, raw, doc = mqtt_schemas.load_example(path)
    reason = doc["expect"]
    if reason == "wrong_site":
        return Contract(), topic, raw
    if reason == "too_large":
        return Contract(site=SITE, max_payload=1 << 20), topic, raw
    if reason == "bad_version":
        return Contract(site=SITE), topic, json.dumps({**json.loads(raw), "v": 1}).encode()
    if reason == "device_mismatch":
        body = {**json.loads(raw), "device": split_topic(topic)[1]}
        return Contract(site=SITE), topic, json.dumps(body).encode()
    return None


REPAIRABLE = _invalid("wrong_site", "too_large", "bad_version", "device_mismatch")
SCHEMA_INVALID = _invalid("schema")


@pytest.mark.parametrize("path", REPAIRABLE, ids=_ids(REPAIRABLE))
def test_invalid_example_has_no_other_fault(path: Path):
    """Undoing the stated fault leaves a message the contract accepts."""
    repaired = _repaired(path)
    assert repaired is not None
    contract, topic, raw = repaired
    contract.parse(topic, raw)


@pytest.mark.parametrize("path", SCHEMA_INVALID, ids=_ids(SCHEMA_INVALID))
def test_invalid_schema_example_is_well_formed_otherwise(path: Path):
    """A 'schema' example passes every earlier check: its topic, size, JSON and version are fine."""
    topic, raw, _ = mqtt_schemas.load_example(path)
    site, _, kind = split_topic(topic)
    assert site == SITE
    assert len(raw) <= 4096
    body = json.loads(raw)
    assert type(body) is dict and body.get("v") == 1 and type(body["v"]) is int
    if kind == "event":
        assert body.get("type") in mqtt_schemas.EVENT_TYPES


def test_every_reason_is_covered():
    reasons = Counter(EXPECT.values())
    assert set(reasons) == set(REASONS), f"missing: {set(REASONS) - set(reasons)}"


def test_every_kind_and_event_type_has_a_valid_example():
    kinds, types = set(), set()
    for path in VALID:
        topic, raw, _ = mqtt_schemas.load_example(path)
        kind = _kind(topic)
        kinds.add(kind)
        if kind == "event":
            types.add(json.loads(raw)["type"])
    assert kinds == set(mqtt_schemas.KINDS)
    assert types == set(mqtt_schemas.EVENT_TYPES)


def test_event_type_list_matches_schema_files():
    on_disk = {
        p.name.removesuffix(".schema.json").removeprefix("event-")
        for p in SCHEMA_FILES
        if p.name.startswith("event-")
    }
    assert on_disk == set(mqtt_schemas.EVENT_TYPES)
    event = mqtt_schemas.schemas()[mqtt_schemas.schema_uri("event")]
    assert set(event["properties"]["type"]["enum"]) == set(mqtt_schemas.EVENT_TYPES)
    branches = {b["if"]["properties"]["type"]["const"]: b["then"]["$ref"] for b in event["allOf"]}
    assert branches == {t: f"event-{t}.schema.json" for t in mqtt_schemas.EVENT_TYPES}


# ---------------------------------------------------------------- schema files


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=[p.name for p in SCHEMA_FILES])
def test_schema_file_is_valid_2020_12(path: Path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == mqtt_schemas.schema_uri(path.name.removesuffix(".schema.json"))


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=[p.name for p in SCHEMA_FILES])
def test_schema_refs_resolve(path: Path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    for where, ref in _refs(doc):
        target, fragment = urldefrag(ref)
        assert "://" not in target, f"{where}: use a relative $ref, not {ref}"
        target_doc = doc
        if target:
            target_path = mqtt_schemas.SCHEMA_DIR / target
            assert target_path.is_file(), f"{where}: {ref} does not exist"
            target_doc = json.loads(target_path.read_text(encoding="utf-8"))
        if fragment:
            _pointer(target_doc, fragment)


def test_every_kind_has_a_schema():
    docs = mqtt_schemas.schemas()
    for name in (*mqtt_schemas.KINDS, "common", *(f"event-{t}" for t in mqtt_schemas.EVENT_TYPES)):
        assert mqtt_schemas.schema_uri(name) in docs


# ---------------------------------------------------------------- AsyncAPI


@pytest.fixture(scope="module")
def asyncapi() -> dict:
    return yaml.safe_load(mqtt_schemas.ASYNCAPI_FILE.read_text(encoding="utf-8"))


def _refs(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield path, value
            else:
                yield from _refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _refs(value, f"{path}/{i}")


def _pointer(doc, fragment: str):
    node = doc
    for part in fragment.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def test_asyncapi_version(asyncapi):
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["info"]["title"] and asyncapi["info"]["version"]
    server = asyncapi["servers"]["hub"]
    assert server["protocol"] == "mqtt"
    assert server["protocolVersion"] == "3.1.1"


def test_asyncapi_has_a_channel_per_kind(asyncapi):
    addresses = {ch["address"]: name for name, ch in asyncapi["channels"].items()}
    for kind in mqtt_schemas.KINDS:
        address = f"{mqtt_schemas.TOPIC_PREFIX}/{{site}}/{{device}}/{kind}"
        assert address in addresses, address
        channel = asyncapi["channels"][addresses[address]]
        assert set(channel["parameters"]) == {"site", "device"}
        (message,) = channel["messages"].values()
        if "$ref" in message:
            message = _pointer(asyncapi, urldefrag(message["$ref"]).fragment)
        assert message["payload"]["$ref"] == f"./schemas/{kind}.schema.json"


def test_asyncapi_refs_resolve(asyncapi):
    refs = list(_refs(asyncapi))
    assert refs
    for where, ref in refs:
        target, fragment = urldefrag(ref)
        if not target:
            _pointer(asyncapi, fragment)  # raises when the internal reference is dangling
            continue
        assert "://" not in target, f"{where}: external URL {ref}"
        file = (mqtt_schemas.ASYNCAPI_FILE.parent / target).resolve()
        assert file.is_file(), f"{where}: {ref} does not exist"
        if file.name.endswith(".schema.json"):
            doc = json.loads(file.read_text(encoding="utf-8"))
            assert doc["$id"] == mqtt_schemas.schema_uri(file.name.removesuffix(".schema.json"))
            if fragment:
                _pointer(doc, fragment)


def test_asyncapi_qos_and_retain(asyncapi):
    retained = {"status", "config"}
    direction = {"event": "receive", "status": "receive", "ack": "send", "config": "send", "cmd": "send"}
    seen = set()
    for name, op in asyncapi["operations"].items():
        channel = _pointer(asyncapi, urldefrag(op["channel"]["$ref"]).fragment)
        kind = _kind(channel["address"])
        seen.add(kind)
        assert op["action"] == direction[kind], name
        binding = op["bindings"]["mqtt"]
        assert binding["qos"] == 1, name
        assert binding["retain"] is (kind in retained), name
    assert seen == set(mqtt_schemas.KINDS)


def test_asyncapi_examples_match_the_schemas(asyncapi, contract: Contract, py_validators):
    """The inline examples are real messages: both validators accept them."""
    count = 0
    for name, channel in asyncapi["channels"].items():
        kind = _kind(channel["address"])
        for message in channel["messages"].values():
            if "$ref" in message:
                message = _pointer(asyncapi, urldefrag(message["$ref"]).fragment)
            for example in message.get("examples", []):
                body = example["payload"]
                errors = [e.message for e in py_validators[kind].iter_errors(body)]
                assert not errors, (name, example.get("name"), errors)
                device = body.get("device", "btn-01")
                contract.parse(mqtt_schemas.topic(SITE, device, kind), json.dumps(body).encode())
                count += 1
    assert count >= len(mqtt_schemas.KINDS)


# ---------------------------------------------------------------- Contract


def test_contract_compiles_schemas_once(monkeypatch):
    contract = Contract(site=SITE)

    def boom(*args, **kwargs):
        raise AssertionError("schemas loaded or compiled after construction")

    monkeypatch.setattr(mqtt_schemas, "schemas", boom)
    monkeypatch.setattr("edge_hub.ingest.contract.jsonschema_rs.validator_for", boom)
    for _ in range(200):
        for path in VALID:
            contract.parse(*mqtt_schemas.load_example(path)[:2])
    for path in INVALID:
        topic, raw, _ = mqtt_schemas.load_example(path)
        with pytest.raises(ContractError):
            contract.parse(topic, raw)


def test_contract_without_site_accepts_any_site():
    topic, raw, _ = mqtt_schemas.load_example(MINIMAL_PRESS)
    message = Contract().parse(topic.replace(f"/{SITE}/", "/office-2/"), raw)
    assert message.site == "office-2"


def test_hub_rejects_ids_with_a_trailing_newline(contract: Contract):
    """Python's re lets '$' match before a final newline, so the pure-Python jsonschema accepts
    "btn-01\\n" as an id; the hub's jsonschema_rs does not. The hub is the one that counts."""
    topic, raw, _ = mqtt_schemas.load_example(MINIMAL_PRESS)
    body = json.loads(raw)
    body["device"] = body["device"] + "\n"
    with pytest.raises(ContractError) as excinfo:
        contract.parse(topic, json.dumps(body).encode())
    assert excinfo.value.reason == "schema"


@pytest.mark.parametrize("bad_type", [["press"], {"name": "press"}], ids=["list", "object"])
def test_event_type_of_wrong_json_type_is_unknown_type(contract: Contract, bad_type):
    topic, raw, _ = mqtt_schemas.load_example(MINIMAL_PRESS)
    body = {**json.loads(raw), "type": bad_type}
    with pytest.raises(ContractError) as excinfo:
        contract.parse(topic, json.dumps(body).encode())
    assert excinfo.value.reason == "unknown_type"


# ---------------------------------------------------------------- incarnation ids


def _inc_ref(kind: str) -> dict:
    return mqtt_schemas.schemas()[mqtt_schemas.schema_uri(kind)]["properties"]["inc"]


def test_every_event_type_ack_and_status_take_the_shared_inc():
    """inc is part of an event's key: every event type (each has additionalProperties false)
    must accept it, through the one definition in common.schema.json."""
    for kind in (*(f"event-{t}" for t in mqtt_schemas.EVENT_TYPES), "ack", "status"):
        assert _inc_ref(kind)["$ref"] == "common.schema.json#/$defs/inc", kind
        assert "inc" not in mqtt_schemas.schemas()[mqtt_schemas.schema_uri(kind)].get("required", [])
    inc = mqtt_schemas.schemas()[mqtt_schemas.schema_uri("common")]["$defs"]["inc"]
    assert (inc["type"], inc["minimum"], inc["maximum"]) == ("integer", 0, 2**32 - 1)


@pytest.mark.parametrize(
    ("inc", "reason"),
    [(0, None), (2**32 - 1, None), (-1, "schema"), (2**32, "schema"), (1.5, "schema"), (7.0, "bad_identity"),
     ("7", "schema"), (None, "schema"), (True, "schema")],
)  # fmt: skip
@pytest.mark.parametrize("kind", ["event", "status", "ack"])
def test_inc_range_in_every_message_that_carries_it(contract: Contract, kind: str, inc, reason):
    body = {
        "event": {"v": 1, "type": "press", "device": "btn-01", "boot": 1, "seq": 1, "up": 5, "button": 1,
                  "value": 1},
        "status": {"v": 1, "device": "btn-01", "state": "online", "boot": 1},
        "ack": {"v": 1, "device": "btn-01", "boot": 1, "seqs": [1]},
    }[kind] | {"inc": inc}  # fmt: skip
    raw = json.dumps(body).encode()
    if reason is None:
        assert contract.parse(mqtt_schemas.topic(SITE, "btn-01", kind), raw).body["inc"] == inc
        return
    with pytest.raises(ContractError) as excinfo:
        contract.parse(mqtt_schemas.topic(SITE, "btn-01", kind), raw)
    assert excinfo.value.reason == reason


def test_config_rev_stops_at_2_31_minus_1(contract: Contract):
    topic = mqtt_schemas.topic(SITE, "btn-01", "config")
    contract.parse(topic, json.dumps({"v": 1, "device": "btn-01", "rev": 2**31 - 1}).encode())
    with pytest.raises(ContractError):
        contract.parse(topic, json.dumps({"v": 1, "device": "btn-01", "rev": 2**31}).encode())


# ---------------------------------------------------------------- survey kiosk (issue 14)

KIOSK_CONFIG = mqtt_schemas.EXAMPLES_DIR / "valid" / "config-kiosk-survey.json"
KIOSK_ANSWER = mqtt_schemas.EXAMPLES_DIR / "valid" / "event-press-survey-csat.json"


def _body(path: Path) -> dict:
    return json.loads(mqtt_schemas.load_example(path)[1])


def _reason(contract: Contract, py_validators, kind: str, body: dict) -> str | None:
    """The hub's reason for a body (None: accepted); the pure-Python validator must agree on schema."""
    device = body.get("device", "btn-01")
    try:
        contract.parse(mqtt_schemas.topic(SITE, device, kind), json.dumps(body, ensure_ascii=False).encode())
    except ContractError as exc:
        if exc.reason == "schema":
            assert not py_validators[kind].is_valid(body), "jsonschema accepts what the hub rejects"
        return exc.reason
    assert py_validators[kind].is_valid(body), "the hub accepts what jsonschema rejects"
    return None


def test_old_press_without_session_still_needs_a_button(contract: Contract, py_validators):
    body = _body(MINIMAL_PRESS)
    assert "session" not in body and _reason(contract, py_validators, "event", body) is None
    del body["button"]
    assert _reason(contract, py_validators, "event", body) == "schema"
    with pytest.raises(ContractError, match='"button" is a required property'):
        contract.parse(mqtt_schemas.topic(SITE, body["device"], "event"), json.dumps(body).encode())
    # the new optional fields do not stand in for a session
    body |= {"dwell_ms": 100, "help": True, "option": "queue"}
    assert _reason(contract, py_validators, "event", body) == "schema"


def test_kiosk_answer_needs_no_button_but_a_button_is_still_checked(contract: Contract, py_validators):
    body = _body(KIOSK_ANSWER)
    assert "button" not in body and _reason(contract, py_validators, "event", body) is None
    assert _reason(contract, py_validators, "event", body | {"button": 3}) is None
    assert _reason(contract, py_validators, "event", body | {"button": 0}) == "schema"
    assert _reason(contract, py_validators, "event", body | {"button": 6}) == "schema"


def test_press_required_fields_did_not_grow():
    """No new required field on a press: only 'button' moved from always to 'unless session'."""
    press = mqtt_schemas.schemas()[mqtt_schemas.schema_uri("event-press")]
    assert set(press["required"]) == {"v", "type", "device", "boot", "seq", "up", "value"}


@pytest.mark.parametrize(
    ("session", "ok"),
    [("0", True), ("0123456789abcdef", True), ("k7q2m9x4", True), ("", False), ("0123456789abcdefg", False),
     ("K7Q2", False), ("a-b", False), ("a_b", False), ("ключ", False), (7, False), (None, False)],
)  # fmt: skip
def test_session_id(contract: Contract, py_validators, session, ok: bool):
    body = _body(KIOSK_ANSWER) | {"session": session}
    assert _reason(contract, py_validators, "event", body) == (None if ok else "schema")


@pytest.mark.parametrize(
    ("dwell", "ok"),
    [(0, True), (3_600_000, True), (-1, False), (3_600_001, False), (1.5, False), ("10", False)],
)
def test_dwell_ms_range(contract: Contract, py_validators, dwell, ok: bool):
    body = _body(KIOSK_ANSWER) | {"dwell_ms": dwell}
    assert _reason(contract, py_validators, "event", body) == (None if ok else "schema")


@pytest.mark.parametrize(("value", "ok"), [(0, False), (1, True), (6, True), (7, False)])
def test_choice_answer_value_is_an_option_index(contract: Contract, py_validators, value: int, ok: bool):
    body = _body(KIOSK_ANSWER) | {"question": "what_wrong", "option": "queue", "value": value}
    assert _reason(contract, py_validators, "event", body) == (None if ok else "schema")
    # without an option the same value is an ordinary answer (0..10)
    del body["option"]
    assert _reason(contract, py_validators, "event", body) is None


@pytest.mark.parametrize(
    ("extra", "ok"),
    [
        ({"phone": "+79161234567", "consent": True, "callback": True}, True),
        ({"phone": "89161234567", "consent": True, "callback": True}, True),
        ({"phone": "+79161234567", "callback": True}, False),  # no consent
        ({"phone": "+79161234567", "consent": False, "callback": True}, False),
        ({"phone": "+79161234567", "consent": True}, False),  # a phone is for a callback
        ({"phone": "+79161234567", "consent": True, "callback": False}, False),
        ({"consent": True}, False),  # consent to what?
        ({"consent": True, "callback": True}, False),
        ({"phone": "+7 916 123-45-67", "consent": True, "callback": True}, False),
        ({"phone": "+1234567890123456", "consent": True, "callback": True}, False),  # 16 digits
        ({"phone": 79161234567, "consent": True, "callback": True}, False),
        ({"callback": True}, True),  # a callback without a number, as before
    ],
)  # fmt: skip
def test_phone_only_with_consent_and_callback(contract: Contract, py_validators, extra: dict, ok: bool):
    body = _body(KIOSK_ANSWER) | extra
    assert _reason(contract, py_validators, "event", body) == (None if ok else "schema")


@pytest.mark.parametrize("phone", ["8 (916) 123-45-67", "+79161234567", 79161234567, '+7"916'])
def test_quarantine_detail_never_repeats_a_phone_number(contract: Contract, phone):
    body = _body(KIOSK_ANSWER) | {"phone": phone, "callback": "yes"}  # fails on phone or on callback
    with pytest.raises(ContractError) as excinfo:
        contract.parse(mqtt_schemas.topic(SITE, body["device"], "event"), json.dumps(body).encode())
    detail = excinfo.value.detail
    assert str(phone) not in detail and json.dumps(phone) not in detail, detail


SCALES = ["csat5", "nps11", "ces7", "yesno", "agree11", "choice"]


def test_config_scales():
    question = mqtt_schemas.schemas()[mqtt_schemas.schema_uri("config")]["$defs"]["question"]
    assert question["properties"]["scale"]["enum"] == SCALES


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("with_options", [True, False])
def test_options_only_and_always_on_a_choice_question(contract: Contract, py_validators, scale, with_options):
    body = _body(KIOSK_CONFIG)
    question = body["questions"][1]
    question["scale"] = scale
    if not with_options:
        del question["options"]
    ok = with_options == (scale == "choice")
    assert _reason(contract, py_validators, "config", body) == (None if ok else "schema")


@pytest.mark.parametrize(("count", "ok"), [(0, False), (1, True), (6, True), (7, False)])
def test_choice_has_1_to_6_options(contract: Contract, py_validators, count: int, ok: bool):
    body = _body(KIOSK_CONFIG)
    body["questions"][1]["options"] = [{"id": f"o{i}", "text": {"ru": f"Вариант {i}"}} for i in range(count)]
    assert _reason(contract, py_validators, "config", body) == (None if ok else "schema")


@pytest.mark.parametrize(("length", "ok"), [(1, True), (60, True), (0, False), (61, False)])
@pytest.mark.parametrize("lang", ["ru", "en"])
def test_option_text_length(contract: Contract, py_validators, lang: str, length: int, ok: bool):
    body = _body(KIOSK_CONFIG)
    body["questions"][1]["options"][0]["text"][lang] = "ж" * length
    assert _reason(contract, py_validators, "config", body) == (None if ok else "schema")


def test_main_question_is_a_rating_asked_always(contract: Contract, py_validators):
    body = _body(KIOSK_CONFIG)
    assert _reason(contract, py_validators, "config", body) is None
    main = body["questions"][0]
    assert _reason(contract, py_validators, "config", body | {"questions": [main | {"show_if": {
        "question": "nps", "values": [1]}}]}) == "schema"  # fmt: skip
    choice = body["questions"][1]
    del choice["show_if"]
    choice["options"] = choice["options"][:2]  # six such questions must still fit in 4096 bytes
    assert _reason(contract, py_validators, "config", body | {"questions": [choice]}) == "schema"
    # but every later question may be a choice, with or without show_if, and questions stay at most 5
    assert _reason(contract, py_validators, "config", body | {"questions": [main, choice, choice]}) is None
    assert _reason(contract, py_validators, "config", body | {"questions": [main] + [choice] * 4}) is None
    assert _reason(contract, py_validators, "config", body | {"questions": [main] + [choice] * 5}) == "schema"


@pytest.mark.parametrize(
    ("show_if", "ok"),
    [
        ({"question": "csat", "values": [1]}, True),
        ({"question": "csat", "values": list(range(11))}, True),
        ({"question": "csat", "values": []}, False),
        ({"question": "csat", "values": [1, 1]}, False),
        ({"question": "csat", "values": [11]}, False),
        ({"question": "csat", "values": [-1]}, False),
        ({"question": "csat"}, False),
        ({"values": [1]}, False),
        ({"question": "Csat", "values": [1]}, False),
        ({"question": "csat", "values": [1], "op": "in"}, False),
    ],
)  # fmt: skip
def test_show_if(contract: Contract, py_validators, show_if: dict, ok: bool):
    body = _body(KIOSK_CONFIG)
    body["questions"][1]["show_if"] = show_if
    assert _reason(contract, py_validators, "config", body) == (None if ok else "schema")


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("idle_s", 10, True), ("idle_s", 600, True), ("idle_s", 9, False), ("idle_s", 601, False),
        ("idle_s", 30.5, False),
        ("langs", ["ru"], True), ("langs", ["en", "ru"], True), ("langs", [], False),
        ("langs", ["ru", "ru"], False), ("langs", ["kk"], False), ("langs", "ru", False),
        ("critic_help", False, True), ("critic_help", 1, False),
        ("welcome", {"ru": "Здравствуйте"}, True), ("welcome", {"en": "Hello"}, False),
        ("welcome", {"ru": ""}, False), ("thanks", {"ru": "Спасибо", "en": "Thanks"}, True),
        ("thanks", {"ru": "Спасибо", "kk": "Рахмет"}, False),
    ],
)  # fmt: skip
def test_survey_level_fields(contract: Contract, py_validators, field: str, value, ok: bool):
    body = _body(KIOSK_CONFIG) | {field: value}
    assert _reason(contract, py_validators, "config", body) == (None if ok else "schema")


def test_survey_defaults_are_stated():
    props = mqtt_schemas.schemas()[mqtt_schemas.schema_uri("config")]["properties"]
    assert props["idle_s"]["default"] == 30 and "30" in props["idle_s"]["description"]
    assert props["langs"]["default"] == ["ru"]
    assert props["critic_help"]["default"] is False
    assert props["callback"]["default"] is False


@pytest.mark.parametrize(
    ("value", "ok"), [(True, True), (False, True), (1, False), ("true", False), (None, False)]
)
def test_config_callback_is_a_boolean(contract: Contract, py_validators, value, ok: bool):
    body = _body(KIOSK_CONFIG) | {"callback": value}
    assert _reason(contract, py_validators, "config", body) == (None if ok else "schema")


@pytest.mark.parametrize(
    ("kind", "ok"),
    [("button", True), ("kiosk", True), ("survey", True), ("sensor", True), ("camera", True),
     ("Survey", False), ("questionnaire", False)],
)  # fmt: skip
def test_status_kinds_include_the_button_survey_terminal(contract: Contract, py_validators, kind, ok: bool):
    body = _body(mqtt_schemas.EXAMPLES_DIR / "valid" / "status-survey-terminal.json") | {"kind": kind}
    assert _reason(contract, py_validators, "status", body) == (None if ok else "schema")
    # the hub sends its survey to the kinds the contract calls terminals
    from edge_hub.office.survey import TERMINAL_KINDS

    status = mqtt_schemas.schemas()[mqtt_schemas.schema_uri("status")]
    assert set(TERMINAL_KINDS) <= set(status["properties"]["kind"]["enum"])


CALLBACK = mqtt_schemas.EXAMPLES_DIR / "valid" / "event-press-survey-callback.json"


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({}, True),
        ({"phone": "89161234567"}, True),
        ({"consent": False}, False),  # no consent, no number
        ({"callback": False}, False),  # a number is for a callback
        ({"phone": "+7 916 123-45-67"}, False),
    ],
)  # fmt: skip
def test_a_call_back_request_is_an_event_of_its_own(contract: Contract, py_validators, change, ok: bool):
    body = _body(CALLBACK)
    assert (body["question"], body["value"], body["callback"]) == ("callback", 1, True)
    assert "button" not in body and body["session"]
    assert _reason(contract, py_validators, "event", body | change) == (None if ok else "schema")
    without_number = {k: v for k, v in body.items() if k not in ("phone", "consent")}
    assert _reason(contract, py_validators, "event", without_number) is None


def test_kiosk_answers_of_one_visitor_share_a_session():
    """The examples tell one story: a survey config and the answers it produces."""
    config = _body(KIOSK_CONFIG)
    questions = {q["id"]: q for q in config["questions"]}
    answers = [_body(p) for p in VALID if p.stem.startswith("event-press-survey-")]
    answers = [a for a in answers if a["device"] == config["device"] and a.get("question") in questions]
    assert len({a["session"] for a in answers}) >= 2
    for answer in answers:
        question = questions[answer["question"]]
        if question["scale"] == "choice":
            assert question["options"][answer["value"] - 1]["id"] == answer["option"]
