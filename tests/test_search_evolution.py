"""Evolution and random search: limits, duplicates, records, resume; the evaluator."""

import json

import pytest
import torch

from glitlib import SPACES, Arch, CostModel, joint, stage1
from glitlib.budget import macs_bounds
from glitlib.data import load_digits
from glitlib.evaluate import Evaluator
from glitlib.evolution import EvolutionConfig, evolve, random_search
from glitlib.records import best_candidates
from glitlib.train import TrainConfig, train_supernet

SPACE = SPACES["digits"]
CM = CostModel(SPACE)


def score(arch: Arch) -> float:
    # A cheap, deterministic stand-in for accuracy that prefers global heads and big FFNs.
    return sum(b.g + b.d_z for b in arch.blocks) / 100


def _limit(paths, frac=0.4):
    lo, hi = macs_bounds(paths, CM)
    return int(lo + frac * (hi - lo))


def test_evolution_respects_limit_records_all_and_never_repeats():
    paths = joint(SPACE)
    cfg = EvolutionConfig(population=20, generations=5, parents=5, mutations=8, crossovers=8,
                          max_macs=_limit(paths), seed=1)
    calls = []
    recs = evolve(paths, lambda a: calls.append(a) or score(a), cfg, progress=False)
    assert len(recs) == len(calls) == 100
    keys = [r.arch.canonical(SPACE) for r in recs]
    assert len(set(keys)) == len(keys)
    assert all(r.macs <= cfg.max_macs for r in recs)
    assert {r.generation for r in recs} == set(range(5))
    for r, a in zip(recs, calls):
        cost = CM(a)
        assert (r.macs, r.params, r.supernet_accuracy) == (cost.macs, cost.params, score(a))


def test_evolution_improves_over_random_search():
    paths = joint(SPACE)
    cfg = EvolutionConfig(population=20, generations=6, parents=5, mutations=8, crossovers=8,
                          max_macs=_limit(paths, 0.6), seed=0)
    best_evo = best_candidates(evolve(paths, score, cfg, progress=False), 1)[0]
    best_rand = best_candidates(random_search(paths, score, cfg, progress=False), 1)[0]
    assert best_evo.supernet_accuracy > best_rand.supernet_accuracy


def test_small_space_runs_out_without_hanging_or_repeating():
    paths = stage1(SPACE)  # 256 paths, fewer under the limit
    cfg = EvolutionConfig(population=50, generations=8, max_macs=_limit(paths, 0.5))
    recs = evolve(paths, score, cfg, progress=False)
    feasible = sum(CM.macs(a) <= cfg.max_macs for a in _all(paths))
    keys = {json.dumps(r.to_dict()["arch"]) for r in recs}
    assert len(keys) == len(recs)
    assert 0.9 * feasible <= len(recs) <= feasible  # nearly all of it, each path once


def _all(paths):
    import itertools

    return [Arch(b) for b in itertools.product(*paths.choices)]


def test_evolution_resumes_exactly(tmp_path, monkeypatch):
    import glitlib.evolution as evo

    paths = joint(SPACE)
    cfg = EvolutionConfig(population=10, generations=4, parents=3, mutations=4, crossovers=4,
                          max_macs=_limit(paths), seed=2)
    full = evolve(paths, score, cfg, tmp_path / "a.json", progress=False)
    write, calls = evo.write_json, []

    def write_then_die(path, obj):
        write(path, obj)
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(evo, "write_json", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        evolve(paths, score, cfg, tmp_path / "b.json", progress=False)
    monkeypatch.setattr(evo, "write_json", write)
    resumed = evolve(paths, score, cfg, tmp_path / "b.json", resume=True, progress=False)
    assert resumed == full
    other = evolve(paths, score, EvolutionConfig(**{**cfg.__dict__, "seed": 3}), progress=False)
    assert other != full


def test_evaluator_recalibrates_bn_and_is_deterministic():
    s = load_digits(seed=0)
    paths = stage1(SPACE)
    net = train_supernet(paths, s.train, TrainConfig(steps=20, batch_size=64),
                         progress=False)
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
