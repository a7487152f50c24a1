"""Pure metric formulas of the hub: NPS, CSAT, CES, FCR, CSI, the served-client indices,
emotional NPS, the executor rating and the customer-centricity blocks.

Inputs are mergeable histograms (answer value -> count) or plain counts, so hourly buckets can be
summed into days and months (:func:`merge_histograms`) before a formula runs. No SQL, no I/O,
no state: the store counts, these functions compute. Values are exact floats (percent or points,
never rounded here; presentation rounds). Every :class:`Result` carries its sample size ``n``,
and a value from fewer than ``min_n`` answers is withheld ("not enough data").

The formulas, their inputs and worked examples are in ``README.md`` beside this file.

Long: every formula of ../shared/docs/domain.md with its rule in its docstring; pure
functions with no state, read one at a time, tested one at a time (test_metrics_formulas.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

#: A value from fewer answers than this is shown as "not enough data".
DEFAULT_MIN_N = 5
#: z of a two-sided 95 % confidence interval, for the Wilson lower bound.
DEFAULT_Z = 1.96

#: Reasons a :class:`Result` carries no value.
NOT_ENOUGH_DATA = "not enough data"
SERVED_UNKNOWN = "served clients unknown"
NO_SERVED = "no served clients"

#: Answer value -> number of answers; hourly histograms sum into daily ones.
Histogram = Mapping[int, int]

K = TypeVar("K")


# --- scales ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scale:
    """An answer scale: the values ``low``..``high`` and its positive and negative bands.

    Bands are inclusive (low, high) pairs; values in neither band are neutral (NPS "passives").
    """

    name: str
    low: int
    high: int
    positive: tuple[int, int]
    negative: tuple[int, int]

    def contains(self, value: int) -> bool:
        return self.low <= value <= self.high

    def is_positive(self, value: int) -> bool:
        return self.positive[0] <= value <= self.positive[1]

    def is_negative(self, value: int) -> bool:
        return self.negative[0] <= value <= self.negative[1]


#: The scales of the MQTT contract (``config.schema.json``), by name.
SCALES: Mapping[str, Scale] = MappingProxyType(
    {
        s.name: s
        for s in (
            Scale("csat5", 1, 5, positive=(4, 5), negative=(1, 2)),
            Scale("nps11", 0, 10, positive=(9, 10), negative=(0, 6)),
            Scale("ces7", 1, 7, positive=(5, 7), negative=(1, 3)),
            Scale("yesno", 0, 1, positive=(1, 1), negative=(0, 0)),
            Scale("agree11", 0, 10, positive=(8, 10), negative=(0, 4)),
        )
    }
)


def get_scale(scale: str | Scale) -> Scale:
    """The :class:`Scale` named ``scale`` (a Scale passes through); ValueError if unknown."""
    if isinstance(scale, Scale):
        return scale
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r} (known: {', '.join(SCALES)})") from None


# --- result ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    """A metric value with its sample size.

    ``value`` is None when ``enough`` is False: fewer than ``min_n`` answers (or served clients),
    or no denominator at all; ``reason`` then says why. ``n`` is always set. ``mean`` is the mean
    answer where the metric shows one. ``parts`` holds the counts the value was computed from
    (always) and per-part scores (only where they have enough data themselves).
    """

    value: float | None
    n: int
    enough: bool
    mean: float | None = None
    parts: Mapping[str, float | int | None] = field(default_factory=dict)
    reason: str | None = None


def _withheld(n: int, parts: Mapping[str, float | int | None], reason: str = NOT_ENOUGH_DATA) -> Result:
    return Result(value=None, n=n, enough=False, parts=dict(parts), reason=reason)


# --- validation -----------------------------------------------------------------------------


def _check_count(count: object, what: str) -> int:
    if isinstance(count, bool) or not isinstance(count, int):
        raise ValueError(f"{what} must be a whole number, got {count!r}")
    if count < 0:
        raise ValueError(f"{what} must not be negative, got {count}")
    return count


def _check_min_n(min_n: int) -> None:
    if isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 1:
        raise ValueError(f"min_n must be a whole number >= 1, got {min_n!r}")


def _check_value(value: object, scale: Scale) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"answer value {value!r} is not a whole number (scale {scale.name})")
    if not scale.contains(value):
        raise ValueError(
            f"answer value {value} is outside the {scale.name} scale ({scale.low}..{scale.high})"
        )
    return value


@dataclass(frozen=True, slots=True)
class _Tally:
    n: int
    positive: int
    negative: int
    total: int  # sum of value * count, for the mean

    @property
    def neutral(self) -> int:
        return self.n - self.positive - self.negative


def _tally(hist: Histogram, scale: Scale) -> _Tally:
    n = positive = negative = total = 0
    for value, count in hist.items():
        value = _check_value(value, scale)
        count = _check_count(count, f"count of answer {value}")
        n += count
        total += value * count
        if scale.is_positive(value):
            positive += count
        elif scale.is_negative(value):
            negative += count
    return _Tally(n, positive, negative, total)


# --- histograms -----------------------------------------------------------------------------


def merge_histograms(*hists: Mapping[K, int]) -> dict[K, int]:
    """The sum of histograms (or label counts): hourly buckets -> a day, windows -> an office."""
    merged: dict[K, int] = {}
    for hist in hists:
        for key, count in hist.items():
            merged[key] = merged.get(key, 0) + _check_count(count, f"count of {key!r}")
    return merged


def positive_count(hist: Histogram, scale: str | Scale) -> int:
    """Answers in the scale's positive band (CSAT 4–5, NPS promoters 9–10, ...)."""
    return _tally(hist, get_scale(scale)).positive


def negative_count(hist: Histogram, scale: str | Scale) -> int:
    """Answers in the scale's negative band (CSAT 1–2, NPS detractors 0–6, ...)."""
    return _tally(hist, get_scale(scale)).negative


# --- answer metrics -------------------------------------------------------------------------


def _share(hist: Histogram, scale: Scale, min_n: int, with_mean: bool = True) -> Result:
    """% of answers in the positive band, with the mean answer beside it."""
    _check_min_n(min_n)
    t = _tally(hist, scale)
    parts = {"positive": t.positive, "neutral": t.neutral, "negative": t.negative}
    if t.n < min_n:
        return _withheld(t.n, parts)
    return Result(
        value=100.0 * t.positive / t.n,
        n=t.n,
        enough=True,
        mean=t.total / t.n if with_mean else None,
        parts=parts,
    )


def nps(hist: Histogram, min_n: int = DEFAULT_MIN_N) -> Result:
    """Net Promoter Score on 0–10: %promoters (9–10) − %detractors (0–6), from −100 to +100.

    ``parts``: promoters, passives, detractors (counts); ``mean``: the mean answer.
    """
    _check_min_n(min_n)
    t = _tally(hist, SCALES["nps11"])
    parts = {"promoters": t.positive, "passives": t.neutral, "detractors": t.negative}
    if t.n < min_n:
        return _withheld(t.n, parts)
    return Result(
        value=100.0 * (t.positive - t.negative) / t.n, n=t.n, enough=True, mean=t.total / t.n, parts=parts
    )


#: eNPS (employee NPS) is the same formula on the staff's answers about their workplace.
enps = nps


def csat(hist: Histogram, min_n: int = DEFAULT_MIN_N) -> Result:
    """Customer Satisfaction Score on 1–5: % of answers 4 and 5; ``mean`` is the mean answer."""
    return _share(hist, SCALES["csat5"], min_n)


def ces(hist: Histogram, min_n: int = DEFAULT_MIN_N) -> Result:
    """Customer Effort Score on 1–7 (7 = very easy): % of answers 5–7; ``mean`` is the mean answer."""
    return _share(hist, SCALES["ces7"], min_n)


def fcr(hist: Histogram, min_n: int = DEFAULT_MIN_N) -> Result:
    """First-contact resolution from yes (1) / no (0) answers: % of yes. ``parts``: yes, no."""
    _check_min_n(min_n)
    t = _tally(hist, SCALES["yesno"])
    parts = {"yes": t.positive, "no": t.negative}
    if t.n < min_n:
        return _withheld(t.n, parts)
    return Result(value=100.0 * t.positive / t.n, n=t.n, enough=True, parts=parts)


def agreement(hist: Histogram, min_n: int = DEFAULT_MIN_N) -> Result:
    """Agreement with a statement on 0–10 (``agree11``): % of positive answers, 8–10, the rule of
    the customer-centricity blocks (seed 002); ``mean`` is the mean agreement."""
    return _share(hist, SCALES["agree11"], min_n)


# --- CSI and derived importance -------------------------------------------------------------


def csi(
    param_hists: Mapping[str, Histogram],
    weights: Mapping[str, float],
    scale: str | Scale = "csat5",
    min_n: int = DEFAULT_MIN_N,
) -> Result:
    """Customer Satisfaction Index: Σ wᵢ·sᵢ / Σ wᵢ, from 0 to 100.

    sᵢ is the mean answer of parameter i scaled to 0–100 (``(mean − low) / (high − low) · 100``)
    and wᵢ its importance. ``param_hists`` and ``weights`` must name the same parameters (an
    unanswered one gets an empty histogram); weights are >= 0 and not all zero. ``n`` is the
    fewest answers of any parameter with a weight above zero: the index is only as sure as its
    thinnest part. ``parts``: sᵢ per parameter (None where that parameter has < ``min_n`` answers).
    """
    _check_min_n(min_n)
    sc = get_scale(scale)
    if not param_hists:
        raise ValueError("CSI needs at least one parameter")
    if set(param_hists) != set(weights):
        missing = sorted(set(param_hists) - set(weights))
        extra = sorted(set(weights) - set(param_hists))
        raise ValueError(
            f"CSI weights do not match the parameters: no weight for {missing}, no answers for {extra}"
        )
    ws: dict[str, float] = {}
    for name, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise ValueError(f"CSI weight of {name!r} must be a finite number >= 0, got {w!r}")
        ws[name] = float(w)
    weight_sum = sum(ws.values())
    if weight_sum <= 0:
        raise ValueError("CSI weights are all zero")

    tallies = {name: _tally(hist, sc) for name, hist in param_hists.items()}
    scores: dict[str, float | None] = {
        name: (100.0 * (t.total / t.n - sc.low) / (sc.high - sc.low) if t.n >= min_n else None)
        for name, t in tallies.items()
    }
    n = min(t.n for name, t in tallies.items() if ws[name] > 0)
    if n < min_n:
        return _withheld(n, scores)
    value = sum(ws[name] * s for name, s in scores.items() if ws[name] > 0 and s is not None) / weight_sum
    return Result(value=value, n=n, enough=True, parts=scores)


def _pearson(pairs: list[tuple[float, float]]) -> float | None:
    """Pearson's r of (x, y) pairs; None if undefined (fewer than 2 pairs or a constant side)."""
    k = len(pairs)
    if k < 2:
        return None
    mx = sum(x for x, _ in pairs) / k
    my = sum(y for _, y in pairs) / k
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    syy = sum((y - my) ** 2 for _, y in pairs)
    if sxx == 0 or syy == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def derive_importance(
    samples: Iterable[Mapping[str, float | None]],
    overall: str = "overall",
    scale: str | Scale | None = None,
    min_n: int = DEFAULT_MIN_N,
) -> dict[str, float]:
    """CSI weights derived from the answers: wᵢ = max(0, r(parameter i, overall question)).

    ``samples`` are one visitor's paired answers each, e.g. ``{"speed": 4, "politeness": 5,
    "overall": 4}``; a missing or None answer drops that pair only, a sample without the overall
    answer is skipped. r is Pearson's correlation over the pairs. A parameter whose r is negative,
    undefined (its answers or the overall ones do not vary) or rests on fewer than ``min_n`` pairs
    gets weight 0. Weights are not normalised (CSI divides by their sum); they may all be 0,
    which :func:`csi` refuses, so the caller then falls back to configured weights.
    If ``scale`` is given, every answer is checked against it.
    """
    _check_min_n(min_n)
    sc = get_scale(scale) if scale is not None else None
    pairs: dict[str, list[tuple[float, float]]] = {}
    for sample in samples:
        for name in sample:
            if name != overall:
                pairs.setdefault(name, [])
        y = sample.get(overall)
        if y is None:
            continue
        if sc is not None:
            _check_value(y, sc)
        for name, x in sample.items():
            if name == overall or x is None:
                continue
            if sc is not None:
                _check_value(x, sc)
            pairs[name].append((float(x), float(y)))
    weights: dict[str, float] = {}
    for name, ps in pairs.items():
        r = _pearson(ps) if len(ps) >= min_n else None
        weights[name] = r if r is not None and r > 0 else 0.0
    return weights


# --- indices per served client --------------------------------------------------------------


def _per_served(count: int, served: int | None, what: str, min_n: int) -> Result:
    _check_min_n(min_n)
    count = _check_count(count, what)
    if served is None:
        return _withheld(0, {what: count, "served": None}, SERVED_UNKNOWN)
    served = _check_count(served, "served clients")
    parts = {what: count, "served": served}
    if served == 0:
        return _withheld(0, parts, NO_SERVED)
    if served < min_n:
        return _withheld(served, parts)
    return Result(value=100.0 * count / served, n=served, enough=True, parts=parts)


def response_rate(ratings: int, served: int | None, min_n: int = DEFAULT_MIN_N) -> Result:
    """All ratings per 100 served clients (%); ``n`` is the number of served clients."""
    return _per_served(ratings, served, "ratings", min_n)


def support_index(positive: int, served: int | None, min_n: int = DEFAULT_MIN_N) -> Result:
    """Support index (Индекс Поддержки Клиентов): positive ratings per 100 served clients (%)."""
    return _per_served(positive, served, "positive", min_n)


def criticality_index(negative: int, served: int | None, min_n: int = DEFAULT_MIN_N) -> Result:
    """Criticality index (Индекс Критичности Клиентов): negative ratings per 100 served clients (%)."""
    return _per_served(negative, served, "negative", min_n)


# --- emotional NPS --------------------------------------------------------------------------

EMOTIONS_POSITIVE = frozenset({"happy", "surprise"})
EMOTIONS_NEGATIVE = frozenset({"angry", "disgust", "fear", "sad"})
EMOTIONS_NEUTRAL = frozenset({"neutral"})
#: The seven labels of the camera's classifier (FER-2013 classes).
EMOTIONS = EMOTIONS_POSITIVE | EMOTIONS_NEGATIVE | EMOTIONS_NEUTRAL


def emotional_nps(label_counts: Mapping[str, int], min_n: int = DEFAULT_MIN_N) -> Result:
    """Emotional NPS (Индекс Эмоциональной Лояльности): %positive − %negative visits, −100..+100.

    ``label_counts`` counts visits (tracked faces, not frames) by their emotion label; labels are
    the lowercase names in :data:`EMOTIONS`, any other raises ValueError.
    """
    _check_min_n(min_n)
    positive = negative = neutral = 0
    for label, count in label_counts.items():
        count = _check_count(count, f"count of {label!r}")
        if label in EMOTIONS_POSITIVE:
            positive += count
        elif label in EMOTIONS_NEGATIVE:
            negative += count
        elif label in EMOTIONS_NEUTRAL:
            neutral += count
        else:
            raise ValueError(f"unknown emotion label {label!r} (known: {', '.join(sorted(EMOTIONS))})")
    n = positive + negative + neutral
    parts = {"positive": positive, "neutral": neutral, "negative": negative}
    if n < min_n:
        return _withheld(n, parts)
    return Result(value=100.0 * (positive - negative) / n, n=n, enough=True, parts=parts)


# --- executor rating ------------------------------------------------------------------------


def _check_positive_total(positive: int, total: int) -> None:
    _check_count(positive, "positive ratings")
    _check_count(total, "total ratings")
    if positive > total:
        raise ValueError(f"positive ratings ({positive}) exceed total ratings ({total})")


def wilson_lower_bound(positive: int, total: int, z: float = DEFAULT_Z) -> float:
    """Lower bound (0..1) of the Wilson score interval of the share ``positive / total``.

    (p̂ + z²/2n − z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n); 0.0 when total is 0.
    """
    _check_positive_total(positive, total)
    if not (math.isfinite(z) and z > 0):
        raise ValueError(f"z must be a finite number > 0, got {z!r}")
    if total == 0:
        return 0.0
    p = positive / total
    z2 = z * z
    centre = p + z2 / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    return max(0.0, (centre - spread) / (1 + z2 / total))


def executor_rating(positive: int, total: int, z: float = DEFAULT_Z, min_n: int = DEFAULT_MIN_N) -> Result:
    """Executor rating (Рейтинг исполнителей): an operator's or window's share of positive ratings (%).

    ``parts``: positive, total, and ``lower_bound``, the Wilson lower bound in % that ranks
    executors (see :func:`rank_executors`), given only with enough ratings.
    """
    _check_min_n(min_n)
    _check_positive_total(positive, total)
    parts: dict[str, float | int | None] = {"positive": positive, "total": total, "lower_bound": None}
    if total < min_n:
        return _withheld(total, parts)
    parts["lower_bound"] = 100.0 * wilson_lower_bound(positive, total, z)
    return Result(value=100.0 * positive / total, n=total, enough=True, parts=parts)


@dataclass(frozen=True, slots=True)
class RankedExecutor:
    """One line of the executor league table; ``share`` and ``lower_bound`` are in %.

    ``rank`` is None (and ``share`` None) for an executor with fewer than ``min_n`` ratings;
    equal bounds share a rank (1, 2, 2, 4).
    """

    name: str
    rank: int | None
    positive: int
    total: int
    share: float | None
    lower_bound: float


def rank_executors(
    ratings: Mapping[str, tuple[int, int]], z: float = DEFAULT_Z, min_n: int = DEFAULT_MIN_N
) -> list[RankedExecutor]:
    """The league table of ``{name: (positive, total)}``, best first by the Wilson lower bound.

    Ranking by the lower bound, not the raw share, keeps 3 of 3 (bound 43.8 %) below 290 of 300
    (94.0 %). Executors with fewer than ``min_n`` ratings follow the ranked ones, unranked.
    Ties on the bound are broken by more ratings, then by name.
    """
    _check_min_n(min_n)
    rows = []
    for name, (positive, total) in ratings.items():
        rows.append((100.0 * wilson_lower_bound(positive, total, z), name, positive, total))
    rows.sort(key=lambda r: (r[3] < min_n, -r[0], -r[3], r[1]))
    table: list[RankedExecutor] = []
    rank = 0
    previous: float | None = None
    for i, (bound, name, positive, total) in enumerate(rows, start=1):
        if total < min_n:
            table.append(RankedExecutor(name, None, positive, total, None, bound))
            continue
        if bound != previous:
            rank, previous = i, bound
        table.append(RankedExecutor(name, rank, positive, total, 100.0 * positive / total, bound))
    return table


# --- customer-centricity blocks -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CentricityBlock:
    """One of the five blocks of the customer-centricity index (seed 002)."""

    key: str
    numeral: str
    ru: str
    en: str


CENTRICITY_BLOCKS: tuple[CentricityBlock, ...] = (
    CentricityBlock("friendliness", "I", "Дружелюбие и партнёрство", "Friendliness and partnership"),
    CentricityBlock("usefulness", "II", "Полезность обращения", "Usefulness of the visit"),
    CentricityBlock("effort", "III", "Минимизация усилий клиента", "Minimal client effort"),
    CentricityBlock("personal", "IV", "Адресность и персонализация", "Personal approach"),
    CentricityBlock("comfort", "V", "Внешний комфорт и удобство", "Comfort"),
)
CENTRICITY_BLOCK_KEYS = tuple(b.key for b in CENTRICITY_BLOCKS)


def centricity_blocks(block_hists: Mapping[str, Histogram], min_n: int = DEFAULT_MIN_N) -> dict[str, Result]:
    """Customer-centricity block scores (Индекс клиентоцентричности): per block, % of positive
    answers (8–10 on the 0–10 agreement scale) over all answers to the block's statements.

    ``block_hists`` maps a key of :data:`CENTRICITY_BLOCKS` to the merged histogram of its
    statements; a missing block has n = 0, an unknown key raises ValueError. The result has all
    five blocks in order I..V; ``mean`` is the mean agreement.
    """
    unknown = sorted(set(block_hists) - set(CENTRICITY_BLOCK_KEYS))
    if unknown:
        raise ValueError(f"unknown centricity blocks {unknown} (known: {', '.join(CENTRICITY_BLOCK_KEYS)})")
    scale = SCALES["agree11"]
    return {key: _share(block_hists.get(key, {}), scale, min_n) for key in CENTRICITY_BLOCK_KEYS}
