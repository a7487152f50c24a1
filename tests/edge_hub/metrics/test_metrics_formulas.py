"""The metric formulas against hand-computed worked examples (edge_hub/metrics/formulas.py)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from edge_hub.metrics import (
    CENTRICITY_BLOCK_KEYS,
    CENTRICITY_BLOCKS,
    DEFAULT_MIN_N,
    NO_SERVED,
    NOT_ENOUGH_DATA,
    SCALES,
    SERVED_UNKNOWN,
    agreement,
    centricity_blocks,
    ces,
    criticality_index,
    csat,
    csi,
    derive_importance,
    emotional_nps,
    enps,
    executor_rating,
    fcr,
    merge_histograms,
    negative_count,
    nps,
    positive_count,
    rank_executors,
    response_rate,
    support_index,
    wilson_lower_bound,
)

# --- histograms and scales ------------------------------------------------------------------


def test_merge_histograms_sums_buckets():
    nine, ten, eleven = {5: 2, 4: 1}, {5: 1, 1: 3}, {}
    assert merge_histograms(nine, ten, eleven) == {5: 3, 4: 1, 1: 3}
    assert merge_histograms() == {}
    # the metric of the merged day equals the metric of all its answers
    assert csat(merge_histograms(nine, ten), min_n=1) == csat({5: 3, 4: 1, 1: 3}, min_n=1)
    # label counts merge the same way
    assert merge_histograms({"happy": 2}, {"happy": 1, "sad": 1}) == {"happy": 3, "sad": 1}


def test_merge_histograms_refuses_bad_counts():
    with pytest.raises(ValueError, match="must not be negative"):
        merge_histograms({5: 1}, {5: -1})
    with pytest.raises(ValueError, match="whole number"):
        merge_histograms({5: 1.5})


@pytest.mark.parametrize(
    ("scale", "positive", "neutral", "negative"),
    [
        ("csat5", [4, 5], [3], [1, 2]),
        ("nps11", [9, 10], [7, 8], [0, 1, 2, 3, 4, 5, 6]),
        ("ces7", [5, 6, 7], [4], [1, 2, 3]),
        ("yesno", [1], [], [0]),
        ("agree11", [8, 9, 10], [5, 6, 7], [0, 1, 2, 3, 4]),
    ],
)
def test_scale_bands(scale, positive, neutral, negative):
    s = SCALES[scale]
    assert sorted(positive + neutral + negative) == list(range(s.low, s.high + 1))
    for v in positive:
        assert (positive_count({v: 2}, scale), negative_count({v: 2}, scale)) == (2, 0)
    for v in neutral:
        assert (positive_count({v: 2}, scale), negative_count({v: 2}, scale)) == (0, 0)
    for v in negative:
        assert (positive_count({v: 2}, scale), negative_count({v: 2}, scale)) == (0, 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: nps({11: 1}), r"answer value 11 is outside the nps11 scale \(0..10\)"),
        (lambda: nps({-1: 1}), "outside the nps11 scale"),
        (lambda: csat({0: 1}), r"outside the csat5 scale \(1..5\)"),
        (lambda: csat({6: 0}), "outside the csat5 scale"),  # even with a zero count
        (lambda: ces({8: 1}), "outside the ces7 scale"),
        (lambda: fcr({2: 1}), "outside the yesno scale"),
        (lambda: positive_count({11: 1}, "agree11"), "outside the agree11 scale"),
        (lambda: negative_count({0: 1}, "csat5"), "outside the csat5 scale"),
        (lambda: csat({4.5: 1}), "not a whole number"),
        (lambda: csat({True: 1}), "not a whole number"),
        (lambda: csat({"5": 1}), "not a whole number"),
        (lambda: csat({5: -2}), "must not be negative"),
        (lambda: positive_count({5: 1}, "stars10"), "unknown scale 'stars10'"),
        (lambda: nps({9: 5}, min_n=0), "min_n"),
    ],
)
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- the sample-size rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    "metric",
    [nps, csat, ces, fcr, emotional_nps, lambda h: centricity_blocks({"comfort": h})["comfort"]],
)
def test_zero_answers_is_not_enough_data_not_a_division_by_zero(metric):
    result = metric({})
    assert (result.value, result.n, result.enough, result.mean) == (None, 0, False, None)
    assert result.reason == NOT_ENOUGH_DATA


def test_a_single_answer_is_withheld_unless_min_n_allows_it():
    assert DEFAULT_MIN_N == 5
    one = csat({5: 1})
    assert (one.value, one.n, one.enough, one.reason) == (None, 1, False, NOT_ENOUGH_DATA)
    assert one.parts == {"positive": 1, "neutral": 0, "negative": 0}  # counts are always given
    shown = csat({5: 1}, min_n=1)
    assert (shown.value, shown.n, shown.enough, shown.mean, shown.reason) == (100.0, 1, True, 5.0, None)
    assert nps({3: 1}, min_n=1).value == -100.0


def test_min_n_is_a_threshold_not_a_strict_bound():
    assert csat({4: 4}).enough is False
    assert csat({4: 5}).enough is True


def test_values_are_not_rounded():
    assert nps({10: 1, 8: 2}, min_n=1).value == 100 / 3
    assert csat({5: 2, 1: 1}, min_n=3).mean == 11 / 3


def test_result_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        nps({}).value = 1.0


# --- NPS, CSAT, CES, FCR --------------------------------------------------------------------


def test_nps_all_detractors_is_minus_100():
    result = nps({0: 3, 3: 3, 6: 4})
    assert (result.value, result.n) == (-100.0, 10)
    assert result.parts == {"promoters": 0, "passives": 0, "detractors": 10}


def test_nps_all_promoters_is_plus_100_and_passives_only_is_0():
    assert nps({9: 4, 10: 6}).value == 100.0
    assert nps({7: 3, 8: 3}).value == 0.0


def test_nps_mixed_hand_computed():
    # 10 answers: promoters 10,10,10,9,9 (5); passives 8,8,7 (3); detractors 6,3 (2)
    # NPS = 5/10 − 2/10 = 50 % − 20 % = 30; mean = (30 + 18 + 16 + 7 + 6 + 3) / 10 = 8.0
    result = nps({10: 3, 9: 2, 8: 2, 7: 1, 6: 1, 3: 1})
    assert result.value == pytest.approx(30.0)
    assert result.mean == pytest.approx(8.0)
    assert (result.n, result.enough) == (10, True)
    assert result.parts == {"promoters": 5, "passives": 3, "detractors": 2}


def test_enps_is_the_nps_formula():
    assert enps is nps


def test_csat_share_of_4_and_5_with_mean():
    # 8 answers: 5,5,4 positive; 3 neutral; 2,1,1,1 negative -> 3/8 = 37.5 %; mean 22/8 = 2.75
    result = csat({5: 2, 4: 1, 3: 1, 2: 1, 1: 3})
    assert result.value == pytest.approx(37.5)
    assert result.mean == pytest.approx(2.75)
    assert result.parts == {"positive": 3, "neutral": 1, "negative": 4}


def test_ces_share_of_5_to_7_with_mean():
    # 8 answers: 7,7,6,5 easy; 4,4 neutral; 2,1 hard -> 4/8 = 50 %; mean (14+6+5+8+2+1)/8 = 4.5
    result = ces({7: 2, 6: 1, 5: 1, 4: 2, 2: 1, 1: 1})
    assert result.value == pytest.approx(50.0)
    assert result.mean == pytest.approx(4.5)


def test_fcr_share_of_yes():
    result = fcr({1: 7, 0: 3})
    assert result.value == pytest.approx(70.0)
    assert result.parts == {"yes": 7, "no": 3}
    assert result.mean is None


def test_agreement_share_of_8_to_10_with_mean():
    # 10 answers: 10,9,8 agree; 7,6,5 lukewarm; 4,2,0,0 disagree -> 3/10 = 30 %; mean 51/10 = 5.1
    result = agreement({10: 1, 9: 1, 8: 1, 7: 1, 6: 1, 5: 1, 4: 1, 2: 1, 0: 2})
    assert result.value == pytest.approx(30.0) and result.mean == pytest.approx(5.1)
    assert result.parts == {"positive": 3, "neutral": 3, "negative": 4}
    assert agreement({9: 4}).reason == NOT_ENOUGH_DATA  # n = 4 < 5
    with pytest.raises(ValueError, match="agree11"):
        agreement({11: 1})


def test_seed_001_targets_hand_computed():
    # Seed 001 (001_16850100cef510ed.txt, "Цели проекта"): "Повышение показателя удовлетворенности
    # клиента до 60% (минимальный порог удовлетворенности) и лояльности клиента — до 15%", on a
    # "5-бальная шкала оценки". The seeds give these targets but no worked count; these are the
    # smallest office days that sit exactly on them.
    # CSAT: 10 answers 5,5,5,5,4,4,3,3,2,1 -> 6 of 10 are 4–5 = 60 %; mean (20+8+6+2+1)/10 = 3.7
    day = csat({5: 4, 4: 2, 3: 2, 2: 1, 1: 1})
    assert day.value == pytest.approx(60.0)
    assert day.mean == pytest.approx(3.7)
    # NPS: 20 answers, 7 promoters, 9 passives, 4 detractors -> 35 % − 20 % = 15
    assert nps({10: 4, 9: 3, 8: 5, 7: 4, 6: 2, 0: 2}).value == pytest.approx(15.0)
    # one more detractor instead of a passive drops below the target: 7/20 − 5/20 = 10
    assert nps({10: 4, 9: 3, 8: 5, 7: 3, 6: 3, 0: 2}).value == pytest.approx(10.0)


# --- CSI ------------------------------------------------------------------------------------

# Hand-computed on 1–5: s = (mean − 1) / 4 · 100
#   speed      5,5,4,4,3 -> mean 4.2 -> s = 80
#   politeness 5,5,5,5,5 -> mean 5.0 -> s = 100
#   comfort    3,3,3,2,2 -> mean 2.6 -> s = 40
PARAMS = {"speed": {5: 2, 4: 2, 3: 1}, "politeness": {5: 5}, "comfort": {3: 3, 2: 2}}


def test_csi_with_given_weights_hand_computed():
    # (2·80 + 1·100 + 1·40) / (2 + 1 + 1) = 300 / 4 = 75
    result = csi(PARAMS, {"speed": 2, "politeness": 1, "comfort": 1})
    assert result.value == pytest.approx(75.0)
    assert (result.n, result.enough) == (5, True)
    assert result.parts == pytest.approx({"speed": 80.0, "politeness": 100.0, "comfort": 40.0})
    # equal weights: the plain mean of the scores, (80 + 100 + 40) / 3
    assert csi(PARAMS, dict.fromkeys(PARAMS, 1.0)).value == pytest.approx(220 / 3)
    # weights only matter relative to each other
    assert csi(PARAMS, {"speed": 0.5, "politeness": 0.25, "comfort": 0.25}).value == pytest.approx(75.0)


def test_csi_on_the_agreement_scale():
    # 0–10: s = mean / 10 · 100; a: mean 8 -> 80, b: mean 4 -> 40; (80 + 3·40) / 4 = 50
    result = csi({"a": {8: 5}, "b": {2: 3, 6: 3}}, {"a": 1, "b": 3}, scale="agree11")
    assert result.value == pytest.approx(50.0)
    assert result.n == 5


def test_csi_n_is_the_thinnest_weighted_parameter():
    thin = {**PARAMS, "comfort": {3: 2}}
    result = csi(thin, {"speed": 2, "politeness": 1, "comfort": 1})
    assert (result.value, result.n, result.enough) == (None, 2, False)
    assert result.parts["comfort"] is None and result.parts["speed"] == pytest.approx(80.0)
    # with weight 0 the thin parameter cannot change the value, so it does not block it
    ok = csi(thin, {"speed": 2, "politeness": 1, "comfort": 0})
    assert ok.value == pytest.approx((2 * 80 + 100) / 3)
    assert ok.n == 5


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"speed": 0, "politeness": 0, "comfort": 0}, "all zero"),
        ({"speed": -1, "politeness": 1, "comfort": 1}, "finite number >= 0"),
        ({"speed": math.nan, "politeness": 1, "comfort": 1}, "finite number >= 0"),
        ({"speed": 1, "politeness": 1}, r"no weight for \['comfort'\]"),
        ({"speed": 1, "politeness": 1, "comfort": 1, "queue": 1}, r"no answers for \['queue'\]"),
    ],
)
def test_csi_refuses_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        csi(PARAMS, weights)


def test_csi_checks_the_scale():
    with pytest.raises(ValueError, match="outside the csat5 scale"):
        csi({"speed": {7: 5}}, {"speed": 1})


# --- derived importance ---------------------------------------------------------------------


def _survey(overall, **params):
    return [{"overall": o, **{k: v[i] for k, v in params.items()}} for i, o in enumerate(overall)]


def test_derive_importance_on_a_constructed_dataset():
    # overall 1,2,3,4,5 (deviations −2,−1,0,1,2)
    # speed   = overall          -> r = 1
    # queue   1,3,2,5,4 (−2,0,−1,2,1): Σxy = 4+0+0+2+2 = 8, Σx² = Σy² = 10 -> r = 0.8
    # polite  always 5           -> r undefined -> 0
    # noise   = 6 − overall      -> r = −1 -> 0
    samples = _survey(
        [1, 2, 3, 4, 5], speed=[1, 2, 3, 4, 5], queue=[1, 3, 2, 5, 4], polite=[5] * 5, noise=[5, 4, 3, 2, 1]
    )
    weights = derive_importance(samples, scale="csat5")
    assert weights == pytest.approx({"speed": 1.0, "queue": 0.8, "polite": 0.0, "noise": 0.0})
    # the derived weights feed CSI: (1·100 + 0.8·50) / 1.8 with s(speed) = 100, s(queue) = 50
    hists = {"speed": {5: 5}, "queue": {3: 5}, "polite": {4: 5}, "noise": {1: 5}}
    assert csi(hists, weights).value == pytest.approx(140 / 1.8)


def test_derive_importance_drops_missing_answers_and_needs_enough_pairs():
    samples = _survey([1, 2, 3, 4, 5], speed=[1, 2, 3, 4, 5], queue=[1, 2, 3, 4, None])
    samples.append({"speed": 1, "overall": None})  # no overall answer: skipped, would spoil r
    samples.append({"speed": 5})
    weights = derive_importance(samples)
    assert weights["speed"] == pytest.approx(1.0)
    assert weights["queue"] == 0.0  # 4 pairs < min_n
    assert derive_importance(samples, min_n=4)["queue"] == pytest.approx(1.0)
    assert derive_importance([]) == {}


def test_derive_importance_checks_the_scale_when_given():
    samples = _survey([1, 2, 3, 4, 5], speed=[1, 2, 3, 4, 9])
    with pytest.raises(ValueError, match="outside the csat5 scale"):
        derive_importance(samples, scale="csat5")


# --- indices per served client --------------------------------------------------------------


def test_support_criticality_and_response_rate_hand_computed():
    # 200 served clients, 50 ratings of which 30 positive and 6 negative
    assert response_rate(50, 200).value == pytest.approx(25.0)
    assert support_index(30, 200).value == pytest.approx(15.0)
    result = criticality_index(6, 200)
    assert result.value == pytest.approx(3.0)
    assert (result.n, result.enough) == (200, True)
    assert result.parts == {"negative": 6, "served": 200}


@pytest.mark.parametrize("index", [response_rate, support_index, criticality_index])
def test_served_zero_or_unknown_gives_no_value_with_a_reason(index):
    zero = index(4, 0)
    assert (zero.value, zero.n, zero.enough, zero.reason) == (None, 0, False, NO_SERVED)
    unknown = index(4, None)
    assert (unknown.value, unknown.n, unknown.enough, unknown.reason) == (None, 0, False, SERVED_UNKNOWN)
    few = index(2, 3)
    assert (few.value, few.n, few.reason) == (None, 3, NOT_ENOUGH_DATA)
    with pytest.raises(ValueError, match="served clients must not be negative"):
        index(1, -5)


def test_more_ratings_than_served_is_not_clamped():
    assert response_rate(30, 20).value == pytest.approx(150.0)


# --- emotional NPS --------------------------------------------------------------------------


def test_emotional_nps_hand_computed():
    # 10 visits: positive happy 5 + surprise 1 = 6; negative angry 1 + sad 1 = 2; neutral 2
    # 60 % − 20 % = 40
    result = emotional_nps({"happy": 5, "surprise": 1, "neutral": 2, "angry": 1, "sad": 1})
    assert result.value == pytest.approx(40.0)
    assert result.parts == {"positive": 6, "neutral": 2, "negative": 2}
    assert emotional_nps({"angry": 2, "disgust": 1, "fear": 1, "sad": 1}).value == -100.0
    assert emotional_nps({"neutral": 5}).value == 0.0


@pytest.mark.parametrize("label", ["contempt", "Happy", ""])
def test_emotional_nps_unknown_label(label):
    with pytest.raises(ValueError, match="unknown emotion label"):
        emotional_nps({"happy": 5, label: 1})


# --- executor rating ------------------------------------------------------------------------


def test_wilson_lower_bound_known_values():
    # 8 of 10 at z = 1.96: (0.8 + 0.19208 − 1.96·√(0.016 + 0.009604)) / 1.38416 ≈ 0.4902
    assert wilson_lower_bound(8, 10) == pytest.approx(0.4902, abs=1e-4)
    # all positive: the bound is 1 / (1 + z²/n)
    assert wilson_lower_bound(3, 3) == pytest.approx(1 / (1 + 1.96**2 / 3))
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(0, 10) == 0.0
    assert wilson_lower_bound(8, 10, z=2.576) < wilson_lower_bound(8, 10)


@pytest.mark.parametrize(
    ("args", "message"),
    [((11, 10), "exceed total"), ((-1, 10), "must not be negative"), ((8, 10, 0.0), "z must be")],
)
def test_wilson_lower_bound_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        wilson_lower_bound(*args)


def test_executor_rating():
    result = executor_rating(8, 10)
    assert result.value == pytest.approx(80.0)
    assert result.parts["lower_bound"] == pytest.approx(49.02, abs=0.01)
    few = executor_rating(3, 3)
    assert (few.value, few.n, few.parts["lower_bound"]) == (None, 3, None)


def test_rank_executors_3_of_3_does_not_outrank_290_of_300():
    # with min_n = 1 every operator is ranked: the bound, not the raw share, decides
    table = rank_executors({"lucky": (3, 3), "steady": (290, 300), "poor": (10, 20)}, min_n=1)
    assert [(e.name, e.rank) for e in table] == [("steady", 1), ("lucky", 2), ("poor", 3)]
    assert table[1].share == 100.0 > table[0].share
    assert table[0].lower_bound == pytest.approx(100 * wilson_lower_bound(290, 300))
    # with the default min_n, 3 ratings are too few to rank at all
    default = rank_executors({"lucky": (3, 3), "steady": (290, 300), "poor": (10, 20)})
    assert [(e.name, e.rank, e.share) for e in default][-1] == ("lucky", None, None)


def test_rank_executors_ties_share_a_rank():
    table = rank_executors({"b": (9, 10), "a": (9, 10), "c": (5, 10), "d": (1, 10)})
    assert [(e.name, e.rank) for e in table] == [("a", 1), ("b", 1), ("c", 3), ("d", 4)]
    assert rank_executors({}) == []


# --- customer-centricity blocks -------------------------------------------------------------


def test_centricity_block_names():
    assert CENTRICITY_BLOCK_KEYS == ("friendliness", "usefulness", "effort", "personal", "comfort")
    assert [b.numeral for b in CENTRICITY_BLOCKS] == ["I", "II", "III", "IV", "V"]
    assert all(b.ru and b.en for b in CENTRICITY_BLOCKS)


def test_centricity_blocks_seed_002_positive_is_8_to_10():
    # Seed 002 (002_5d084aa4b8e63de3.txt, "Основные изменения в методике по итогам пилотирования",
    # item 03): "Изменена верхняя граница при подсчете субъективных данных (от 8 до 10 - является
    # положительным ответом)". So a 7 is not positive:
    # comfort answers 10,10,10,9,8 | 7,7,7 | 4,0 -> 5 positive of 10 = 50 %; mean 72/10 = 7.2
    result = centricity_blocks({"comfort": {10: 3, 9: 1, 8: 1, 7: 3, 4: 1, 0: 1}, "effort": {9: 2}})
    assert list(result) == list(CENTRICITY_BLOCK_KEYS)
    assert result["comfort"].value == pytest.approx(50.0)
    assert result["comfort"].mean == pytest.approx(7.2)
    assert result["comfort"].parts == {"positive": 5, "neutral": 3, "negative": 2}
    assert (result["effort"].value, result["effort"].n) == (None, 2)
    assert (result["usefulness"].value, result["usefulness"].n) == (None, 0)


def test_centricity_blocks_unknown_block():
    with pytest.raises(ValueError, match="unknown centricity blocks"):
        centricity_blocks({"speed": {9: 5}})
