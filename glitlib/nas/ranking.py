"""How well a supernet ranks: its scores against the accuracy of the same paths retrained.

One-shot NAS stands on one assumption: a path that scores well with the supernet's
shared weights also trains well on its own. Every search checks it on the
candidates it retrained (its best ones plus a few drawn uniformly from all it
scored, so the check is not confined to the top):

* plain Kendall's tau-b and Spearman's rho between supernet accuracy and retrained
  held-out accuracy, with their p-values (``glitlib.stats.rank_agreement``);
* a tie-aware Kendall tau, where two retrained accuracies closer than one standard
  error of a held-out accuracy (``sqrt(p (1 - p) / n)`` on ``n`` images) count as a
  tie, not as an order: it reads higher than tau-b, as it drops the close pairs;
* precision@k: the share of the supernet's ``k`` best that are among the ``k`` best
  after retraining, strictly (``precision_at_k_strict``) and with ties at the ``k``-th
  place counted as hits (which a random order can score 1.0 on);
* 95 % bootstrap intervals of the tie-aware figures (candidates resampled).

On the handful of candidates a search retrains these are weak tests: read the
p-values and the intervals, not the point values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .. import stats
from ..runtime import seeds

__all__ = ["standard_error", "kendall_tau", "precision_at_k", "bootstrap_interval",
           "ranking_report"]


def standard_error(accuracy: float, images: int) -> float:
    """Standard error of an accuracy measured on ``images`` independent images."""
    return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / max(images, 1))


def kendall_tau(scores: Sequence[float], truth: Sequence[float], tie: float = 0.0) -> float:
    """Kendall's tau-b; ``truth`` values within ``tie`` of each other are tied.

    Returns ``nan`` when one side is all ties (no order to compare).
    """
    n, concordant, discordant, ties_s, ties_t = len(scores), 0, 0, 0, 0
    for i in range(n):
        for j in range(i + 1, n):
            ds, dt = scores[i] - scores[j], truth[i] - truth[j]
            tied_s, tied_t = ds == 0, abs(dt) <= tie
            if tied_s:
                ties_s += 1
            if tied_t:
                ties_t += 1
            if not (tied_s or tied_t):
                concordant += (ds > 0) == (dt > 0)
                discordant += (ds > 0) != (dt > 0)
    pairs = n * (n - 1) // 2
    denom = math.sqrt((pairs - ties_s) * (pairs - ties_t))
    return (concordant - discordant) / denom if denom else float("nan")


def precision_at_k(scores: Sequence[float], truth: Sequence[float], k: int,
                   tie: float = 0.0) -> float:
    """Share of the ``k`` best by ``scores`` that are among the ``k`` best by ``truth``.

    A path within ``tie`` of the ``k``-th best true accuracy counts as a true top-k.
    """
    k = min(k, len(scores))
    if k == 0:
        return float("nan")
    by_score = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
    kth = sorted(truth, reverse=True)[k - 1]
    return sum(truth[i] >= kth - tie for i in by_score) / k


def bootstrap_interval(stat: Callable[[list[int]], float], n: int, rounds: int = 1000,
                       seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of ``stat(indices)`` over resampled index lists."""
    rng = seeds.rng("bootstrap", seed)
    values = sorted(v for v in (stat([rng.randrange(n) for _ in range(n)])
                                for _ in range(rounds)) if not math.isnan(v))
    if not values:
        return (float("nan"), float("nan"))
    return (values[int(0.025 * (len(values) - 1))], values[int(0.975 * (len(values) - 1))])


def ranking_report(scores: Sequence[float], truth: Sequence[float], images: int, k: int,
                   seed: int = 0) -> dict[str, Any]:
    """Kendall tau and precision@k of supernet ``scores`` against retrained ``truth``."""
    n = len(scores)
    mean = sum(truth) / n if n else 0.0
    tie = standard_error(mean, images)

    def tau(idx: list[int]) -> float:
        return kendall_tau([scores[i] for i in idx], [truth[i] for i in idx], tie)

    def prec(idx: list[int]) -> float:
        return precision_at_k([scores[i] for i in idx], [truth[i] for i in idx], k, tie)

    everyone = list(range(n))
    return {"candidates": n, "k": k, "tie": round(tie, 6),
            "kendall_tau": _r(tau(everyone)), "kendall_tau_ci95": _r2(
                bootstrap_interval(tau, n, seed=seed)),
            "precision_at_k": _r(prec(everyone)), "precision_at_k_ci95": _r2(
                bootstrap_interval(prec, n, seed=seed + 1)),
            "precision_at_k_strict": _r(precision_at_k(scores, truth, k)),
            **stats.rank_agreement(scores, truth)}


def _r(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 4)


def _r2(pair: tuple[float, float]) -> list[float | None]:
    return [_r(pair[0]), _r(pair[1])]
