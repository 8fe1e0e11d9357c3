"""The search replay's pure functions: every frame holds what the search saw."""

import random
import subprocess
import sys

import pytest

import glitlib
from glitlib.config.recipes import EvolutionConfig
from glitlib.errors import GlitError
from glitlib.model.costs import default_max_macs
from glitlib.nas.evolution import Evolution
from glitlib.nas.records import Candidate, best_candidates
from glitlib.nas.strategy import run_strategy
from glitlib.runtime.context import Runtime
from glitlib.studies import replay

SPACE = glitlib.get_space("digits")
PATHS = glitlib.stage2(SPACE, (3, 2, 1, 0))
LIMIT = default_max_macs(SPACE)
CFG = EvolutionConfig(population=8, generations=5, parents=3)


def stand_in(arch: glitlib.Arch) -> float:
    """A cheap, deterministic score: a fixed pseudo-random number per path."""
    return random.Random(repr(arch.blocks)).random()


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    path = tmp_path_factory.mktemp("replay") / "search.json"
    found = run_strategy(Evolution(PATHS, CFG, LIMIT, seed=0), stand_in, path,
                         rt=Runtime(progress=False))
    return found, path


def made_up(generations, scores=None):
    """Candidates with the given generations (and scores), on distinct paths."""
    rng = random.Random(0)
    scores = scores or [0.1 * (i + 1) for i in range(len(generations))]
    return [Candidate(PATHS.sample(rng), 1000 + i, 10, s, g)
            for i, (g, s) in enumerate(zip(generations, scores))]


def test_import_does_not_load_ipywidgets():
    code = "import sys, glitlib.studies.replay; print('ipywidgets' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=300)
    assert done.stdout.strip() == "False"


def test_frames_partition_the_candidates(search):
    cands, _ = search
    frames = replay.generation_frames(cands, CFG.parents)
    assert [f.generation for f in frames] == list(range(CFG.generations))
    assert [c for f in frames for c in f.children] == cands
    for f in frames:
        assert list(f.earlier) == [c for c in cands if c.generation < f.generation]
        assert all(c.generation == f.generation for c in f.children)
        assert f.population == f.earlier + f.children


def test_each_frame_regenerates_its_children(search):
    """Handing a frame's earlier candidates to the search rebuilds its generation."""
    cands, _ = search
    frames = replay.generation_frames(cands, CFG.parents)
    evolution = Evolution(PATHS, CFG, LIMIT, seed=0)
    for f in frames:
        again = evolution.children(f.earlier, f.generation)
        assert again == [c.arch for c in f.children]
        assert list(f.parents) == best_candidates(list(f.earlier), CFG.parents)
    assert frames[0].parents == ()
    assert all(len(f.parents) == CFG.parents for f in frames[1:])


def test_best_is_the_best_so_far(search):
    cands, _ = search
    curve = replay.best_so_far(cands)
    for f in replay.generation_frames(cands, CFG.parents):
        top = max(c.supernet_accuracy for c in f.population)
        assert f.best.supernet_accuracy == top == curve[len(f.population) - 1]
        assert f.best in f.population


def test_best_so_far_is_a_running_max():
    cands = made_up([0, 0, 0, 1, 1], scores=[0.3, 0.1, 0.5, 0.4, 0.6])
    assert replay.best_so_far(cands) == [0.3, 0.3, 0.5, 0.5, 0.6]


def test_load_frames_reads_the_recorded_search(search):
    cands, path = search
    frames, max_macs = replay.load_frames(path)
    assert frames == replay.generation_frames(cands, CFG.parents)
    assert max_macs == LIMIT


def test_a_generation_that_proposed_nothing_gets_an_empty_frame():
    cands = made_up([0, 0, 2])
    frames = replay.generation_frames(cands, parents=1)
    assert [len(f.children) for f in frames] == [2, 0, 1]
    assert frames[1].best == frames[0].best == cands[1]
    assert frames[2].parents == (cands[1],)


@pytest.mark.parametrize("cands, parents, message", [
    ([], 2, "no candidates to replay"),
    (made_up([0, 1]), 0, "parents must be an integer >= 1"),
    (made_up([0, 1, 0]), 2, "candidate 2 is from generation 0 but follows generation 1"),
    ([Candidate(PATHS.sample(random.Random(1)), 1, 1, None, 0)], 2, "never scored"),
])
def test_bad_input_is_refused_with_the_fix(cands, parents, message):
    with pytest.raises(replay.ReplayError, match=message) as err:
        replay.generation_frames(cands, parents)
    assert isinstance(err.value, GlitError) and isinstance(err.value, ValueError)


def test_draw_generation_draws_the_frame(search):
    from matplotlib.figure import Figure

    cands, _ = search
    frames = replay.generation_frames(cands, CFG.parents)
    ax = Figure().subplots()
    replay.draw_generation(frames, 2, ax, LIMIT)
    earlier, parents, children, best = (len(c.get_offsets()) for c in ax.collections)
    f = frames[2]
    assert (earlier, parents, children, best) == (len(f.earlier), CFG.parents,
                                                  len(f.children), 1)
    assert [tuple(p) for p in ax.collections[3].get_offsets()] == [
        (f.best.macs / 1e6, 100 * f.best.supernet_accuracy)]
    assert ax.lines[0].get_xdata()[0] == LIMIT / 1e6
    with pytest.raises(replay.ReplayError, match="generations 0 to 4"):
        replay.draw_generation(frames, 5, ax)


def test_plane_limits_hold_every_candidate_and_the_limit(search):
    cands, _ = search
    (x0, x1), (y0, y1) = replay.plane_limits(cands, LIMIT)
    assert x0 < min(c.macs for c in cands) / 1e6 and LIMIT / 1e6 < x1
    assert y0 < 100 * min(c.supernet_accuracy for c in cands)
    assert 100 * max(c.supernet_accuracy for c in cands) < y1


def test_replay_widget_steps_through_generations(search):
    pytest.importorskip("ipywidgets")
    cands, _ = search
    ui = replay.replay(cands, CFG.parents, LIMIT)
    (play, slider), numbers, _ = ui.children[0].children, ui.children[1], ui.children[2]
    assert slider.value == play.value == slider.max == CFG.generations - 1
    frames = replay.generation_frames(cands, CFG.parents)
    for g in (0, 3):
        slider.value = g
        assert numbers.value.startswith(f"generation {g}: {len(frames[g].children)} new")
        assert f"{len(frames[g].population)} evaluated so far" in numbers.value
    with pytest.raises(replay.ReplayError, match="generation 9 does not exist"):
        replay.replay(cands, CFG.parents, generation=9)
