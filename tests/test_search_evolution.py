"""Evolution and random search: limits, duplicates, records, resume; the evaluator."""

import json

import pytest
import torch

from glitlib import SPACES, Arch, CostModel, joint, stage1
from glitlib.config.recipes import EvolutionConfig, SupernetConfig
from glitlib.data.memory import load_digits
from glitlib.nas.budget import macs_bounds
from glitlib.nas.evaluator import Evaluator
from glitlib.nas.evolution import Evolution, RandomSearch
from glitlib.nas.records import best_candidates
from glitlib.nas.strategy import run_strategy
from glitlib.nas.training import train_supernet
from glitlib.runtime.context import Runtime

SPACE = SPACES["digits"]
CM = CostModel(SPACE)


def score(arch: Arch) -> float:
    # A cheap, deterministic stand-in for accuracy that prefers global heads and big FFNs.
    return sum(b.g + b.d_z for b in arch.blocks) / 100


QUIET = Runtime(progress=False)


def evolve(paths, score, cfg, limit, seed=0, state=None, resume=False, kind=Evolution):
    return run_strategy(kind(paths, cfg, limit, seed), score, state, resume, QUIET)


def _limit(paths, frac=0.4):
    lo, hi = macs_bounds(paths, CM)
    return int(lo + frac * (hi - lo))


def test_evolution_respects_limit_records_all_and_never_repeats():
    paths = joint(SPACE)
    cfg = EvolutionConfig(population=20, generations=5, parents=5, mutations=8, crossovers=8)
    calls, limit = [], _limit(paths)
    recs = evolve(paths, lambda a: calls.append(a) or score(a), cfg, limit, seed=1)
    assert len(recs) == len(calls) == 100
    keys = [r.arch.canonical(SPACE) for r in recs]
    assert len(set(keys)) == len(keys)
    assert all(r.macs <= limit for r in recs)
    assert {r.generation for r in recs} == set(range(5))
    for r, a in zip(recs, calls):
        cost = CM(a)
        assert (r.macs, r.params, r.supernet_accuracy) == (cost.macs, cost.params, score(a))


def test_evolution_improves_over_random_search():
    paths = joint(SPACE)
    cfg = EvolutionConfig(population=20, generations=6, parents=5, mutations=8, crossovers=8)
    limit = _limit(paths, 0.6)
    best_evo = best_candidates(evolve(paths, score, cfg, limit), 1)[0]
    best_rand = best_candidates(evolve(paths, score, cfg, limit, kind=RandomSearch), 1)[0]
    assert best_evo.supernet_accuracy > best_rand.supernet_accuracy


def test_small_space_runs_out_without_hanging_or_repeating():
    paths = stage1(SPACE)  # 256 paths, fewer under the limit
    cfg, limit = EvolutionConfig(population=50, generations=8), _limit(paths, 0.5)
    recs = evolve(paths, score, cfg, limit)
    feasible = sum(CM.macs(a) <= limit for a in _all(paths))
    keys = {json.dumps(r.to_dict()["arch"]) for r in recs}
    assert len(keys) == len(recs)
    assert 0.9 * feasible <= len(recs) <= feasible  # nearly all of it, each path once


def _all(paths):
    import itertools

    return [Arch(b) for b in itertools.product(*paths.choices)]


def test_evolution_resumes_exactly(tmp_path, monkeypatch):
    import glitlib.nas.strategy as strategy

    paths = joint(SPACE)
    cfg = EvolutionConfig(population=10, generations=4, parents=3, mutations=4, crossovers=4)
    limit = _limit(paths)
    full = evolve(paths, score, cfg, limit, 2, tmp_path / "a.json")
    write, calls = strategy.write_json, []

    def write_then_die(path, obj):
        write(path, obj)
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(strategy, "write_json", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        evolve(paths, score, cfg, limit, 2, tmp_path / "b.json")
    monkeypatch.setattr(strategy, "write_json", write)
    resumed = evolve(paths, score, cfg, limit, 2, tmp_path / "b.json", resume=True)
    assert resumed == full
    assert evolve(paths, score, cfg, limit, seed=3) != full


def test_a_resumed_search_with_other_settings_is_refused(tmp_path):
    from glitlib.errors import CheckpointError

    paths, cfg = joint(SPACE), EvolutionConfig(population=6, generations=2)
    evolve(paths, score, cfg, None, 0, tmp_path / "s.json")
    with pytest.raises(CheckpointError, match="other settings.*config.population"):
        evolve(paths, score, EvolutionConfig(population=7, generations=2), None, 0,
               tmp_path / "s.json", resume=True)


def test_evaluator_recalibrates_bn_and_is_deterministic():
    s = load_digits(seed=0)
    paths = stage1(SPACE)
    net = train_supernet(paths, s.train, SupernetConfig(steps=20, batch_size=64), rt=QUIET)
    ev = Evaluator(net, s.train, s.val, bn_batches=2, bn_batch_size=64)
    local = Arch((paths.choices[0][0],) * SPACE.depth)  # g = 0 everywhere: BN in every block
    assert local.distribution == (0,) * SPACE.depth
    bn = net.blocks[0].path_modules(local.blocks[0])[1].norm
    with torch.no_grad():
        bn.running_mean.fill_(100.0)
    first = ev(local)
    assert bn.running_mean.abs().max() < 50  # reset and re-estimated
    assert int(bn.num_batches_tracked) == 2
    other = Arch((paths.choices[0][-1],) * SPACE.depth)
    ev(other)
    assert ev(local) == first  # no memory of what was scored before
    assert 0.0 <= first <= 1.0
