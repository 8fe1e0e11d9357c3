"""Ranking diagnostics and enumeration of small stages."""

import itertools
import math

import pytest

from glitlib import SPACES, Arch, CostModel, stage1
from glitlib.model.costs import default_max_macs
from glitlib.nas.exhaustive import Exhaustive, feasible_paths
from glitlib.nas.ranking import (
    bootstrap_interval,
    kendall_tau,
    precision_at_k,
    ranking_report,
    standard_error,
)
from glitlib.nas.strategy import run_strategy
from glitlib.runtime.context import Runtime


def test_kendall_tau_matches_scipy_without_ties():
    from scipy.stats import kendalltau

    xs = [0.1, 0.5, 0.3, 0.9, 0.7, 0.2]
    ys = [0.2, 0.4, 0.6, 0.8, 0.9, 0.1]
    assert kendall_tau(xs, ys) == pytest.approx(kendalltau(xs, ys).statistic)
    assert kendall_tau(xs, xs) == 1.0 and kendall_tau(xs, [-x for x in xs]) == -1.0


def test_differences_within_one_standard_error_are_ties():
    scores = [0.9, 0.8, 0.7]
    truth = [0.900, 0.902, 0.800]  # the first two are 2 images of 1000 apart
    se = standard_error(0.9, 1000)
    assert kendall_tau(scores, truth) < 1.0  # an inversion when read exactly
    assert kendall_tau(scores, truth, tie=se) == pytest.approx(2 / math.sqrt(6))  # tau-b
    assert math.isnan(kendall_tau([1, 2, 3], [0.5, 0.5, 0.5]))


def test_precision_at_k_counts_ties_at_the_boundary():
    scores = [0.9, 0.8, 0.7, 0.6]
    truth = [0.95, 0.80, 0.81, 0.99]
    assert precision_at_k(scores, truth, 2) == 0.5  # top-2 by truth: 3 and 0
    assert precision_at_k(scores, truth, 2, tie=0.2) == 1.0


def test_bootstrap_interval_brackets_the_estimate():
    xs = [i / 10 for i in range(10)]
    ys = [x + (0.3 if i % 3 == 0 else 0) for i, x in enumerate(xs)]
    rep = ranking_report(xs, ys, images=360, k=3)
    lo, hi = rep["kendall_tau_ci95"]
    assert lo <= rep["kendall_tau"] <= hi and lo < hi
    assert bootstrap_interval(lambda idx: float("nan"), 5) != (0, 0)


def test_feasible_paths_are_exactly_the_paths_under_the_limit():
    space = SPACES["digits"]
    paths, cm = stage1(space), CostModel(space)
    limit = default_max_macs(space)
    every = {Arch(b).canonical(space) for b in itertools.product(*paths.choices)}
    under = {a for a in every if cm.macs(a) <= limit}
    got = feasible_paths(paths, limit, budget := 1000)
    assert set(got) == under and len(got) == len(under) == 179 <= budget
    assert feasible_paths(paths, limit, 100) is None  # more than the budget: search instead


def test_enumeration_scores_each_feasible_path_once(tmp_path):
    space = SPACES["digits"]
    paths = stage1(space)
    archs = feasible_paths(paths, default_max_macs(space), 1000)
    calls = []
    quiet = Runtime(progress=False)
    found = run_strategy(Exhaustive(paths, archs), lambda a: calls.append(a) or 0.5,
                         tmp_path / "s.json", rt=quiet)
    assert [c.arch for c in found] == archs == calls
    again = run_strategy(Exhaustive(paths, archs), lambda a: 1 / 0, tmp_path / "s.json",
                         resume=True, rt=quiet)
    assert again == found  # resumed: nothing scored twice
