"""The question bank (edge_hub/office/question_bank.py): every question is one the contract and the
hub's survey rules take, ids are unique and keep the office's scales, and the wording the seeds
quote is the seeds' own, word for word."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest

import mqtt_schemas
from edge_hub.ingest.contract import Contract
from edge_hub.metrics.formulas import SCALES
from edge_hub.office import question_bank as bank
from edge_hub.office import survey as office_survey
from edge_hub.office.settings import DEFAULT_QUESTIONS, OfficeSettings
from tests.helpers import SITE

SEEDS = Path(__file__).resolve().parents[4] / "shared" / "seeds"
DEVICE = "survey-check-" + "x" * 19  # the longest device id, as PUT /api/v1/survey checks


def _as_survey(q: bank.BankQuestion) -> dict:
    """The question in a survey of its own: first when it is a rating, after the main one if not."""
    questions = [q.as_question()] if q.scale in SCALES else [bank.question("csat"), q.as_question()]
    return {"langs": ["ru", "en"], "lang": "ru", "questions": questions}


@pytest.mark.parametrize("q", bank.BANK, ids=lambda q: q.id)
def test_every_question_passes_the_contract_and_the_survey_rules(q):
    survey = _as_survey(q)
    config = {"v": 1, "device": DEVICE, "rev": 2**31 - 1, **survey}
    Contract().parse(mqtt_schemas.topic(SITE, DEVICE, "config"), orjson.dumps(config))
    office_survey.check(survey, OfficeSettings(), audience="staff" if q.staff else "visitors")


def test_ids_are_unique_and_keep_the_offices_scales():
    ids = [q.id for q in bank.BANK]
    assert len(ids) == len(set(ids))
    for qid, scale in DEFAULT_QUESTIONS.items():
        assert bank.BY_ID[qid].scale == scale, qid  # csat, nps, enps, ces, fcr
    assert {q.group for q in bank.BANK} <= {g for g, _, _ in bank.GROUPS}
    assert bank.BY_ID["enps"].staff and not any(q.staff for q in bank.BANK if q.id != "enps")


def test_five_of_the_longest_fit_one_config():
    longest = sorted(
        (q for q in bank.BANK if q.id != "csat"), key=lambda q: -len(orjson.dumps(q.as_question()))
    )
    survey = {
        "langs": ["ru", "en"],
        "questions": [bank.question("csat"), *(q.as_question() for q in longest[:4])],
    }
    config = {"v": 1, "device": DEVICE, "rev": 2**31 - 1, **survey}
    Contract().parse(mqtt_schemas.topic(SITE, DEVICE, "config"), orjson.dumps(config))  # 4096 bytes at most


def test_csi_comes_in_importance_and_satisfaction_pairs():
    imp = {q.id.removesuffix(".imp") for q in bank.BANK if q.metric == "csi_importance"}
    sat = {q.id.removesuffix(".sat") for q in bank.BANK if q.metric == "csi_satisfaction"}
    assert imp == sat and len(imp) >= 3


#: the seeds' sentences the bank quotes, as checked against ../shared/seeds where it exists (a
#: developer's workplace); a checkout without it (CI) checks the bank against these, so an edit of
#: the bank's wording fails everywhere
QUOTES = Path(__file__).with_name("seed_quotes.json")


def _seed(name: str) -> str:
    path = next(SEEDS.glob(f"{name}_*.txt"), None)
    if path is None:  # the quotes the bank was checked against, kept in the repository
        return " ".join(json.loads(QUOTES.read_text(encoding="utf-8"))[name])
    return re.sub(r"\s+", " ", path.read_text(encoding="utf-8"))


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seeds are not beside this checkout")
def test_the_kept_quotes_are_the_seeds_own():
    for name, quotes in json.loads(QUOTES.read_text(encoding="utf-8")).items():
        seed = _seed(name)
        assert all(q in seed for q in quotes), name


def test_the_main_question_and_nps_quote_the_seeds():
    assert bank.BY_ID["csat"].ru == "Оцените, пожалуйста, общее впечатление от оказанной услуги/консультации"
    assert "«Оцените, пожалуйста, общее впечатление от оказанной услуги/консультации»" in _seed("001")
    assert bank.BY_ID["nps"].ru == "С какой вероятностью вы порекомендуете нас другим?"
    assert "«С какой вероятностью вы порекомендуете нас другим?»" in _seed("000")
    assert "«Как вы оцениваете удовлетворение от услуги, которую получили?»" in _seed("000")


@pytest.mark.parametrize("q", [q for q in bank.BANK if q.source.startswith("seed ")], ids=lambda q: q.id)
def test_every_question_a_seed_quotes_is_worded_as_the_seed(q):
    seed = _seed(q.source.removeprefix("seed ").zfill(3))
    text = q.ru
    if q.metric == "cci" and q.scale == "agree11":
        assert text.startswith("В какой мере Вы согласны со следующим утверждением: «")
        text = re.sub(r" \([^)]*\)$", "", text)  # the channel of the four information statements
    if q.scale == "choice":  # the seed lists the options in brackets after "удобным"
        text = text.removesuffix("?")
        assert all(ru in seed for option, ru, _ in q.options if option != "other")
    assert text in seed, text
