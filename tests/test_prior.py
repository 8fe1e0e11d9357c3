"""The sampling prior: how a block is drawn at random, a setting of every search."""

import collections
import random

import pytest

from glitlib.config.search import SearchConfig
from glitlib.errors import ArchitectureError
from glitlib.model.space import get_space
from glitlib.nas.paths import PathSpace, joint, stage1, stage2
from glitlib.nas.pipeline import first_paths

SPACE = get_space("digits")


def _g_share(paths: PathSpace) -> dict[int, float]:
    share: dict[int, float] = collections.defaultdict(float)
    for b, p in paths.block_probabilities(0).items():
        share[b.g] += p
    return dict(share)


def test_distinct_prior_rarely_draws_an_all_global_module():
    # 27 / 81 / 81 / 9 distinct blocks with 0 / 1 / 2 / 3 global heads
    share = _g_share(joint(SPACE, "distinct"))
    assert [round(100 * share[g], 1) for g in range(4)] == [13.6, 40.9, 40.9, 4.5]


def test_heads_prior_draws_every_number_of_global_heads_equally():
    share = _g_share(joint(SPACE, "heads"))
    assert share == pytest.approx({g: 0.25 for g in range(4)})


@pytest.mark.parametrize("prior", ["distinct", "heads"])
def test_draws_follow_the_stated_probabilities(prior):
    paths, rng = joint(SPACE, prior), random.Random(0)
    n = 20_000
    counts = collections.Counter(paths.draw(rng, 0).g for _ in range(n))
    for g, p in _g_share(paths).items():
        assert abs(counts[g] / n - p) < 0.015, (g, counts[g] / n, p)


def test_distinct_prior_draws_what_a_uniform_choice_draws():
    # the default keeps every earlier seeded run: one rng.choice per block
    paths = joint(SPACE)
    a, b = random.Random(7), random.Random(7)
    for _ in range(50):
        assert paths.sample(a).blocks == tuple(b.choice(c) for c in paths.choices)


def test_priors_agree_where_a_stage_fixes_one_of_the_two():
    for make in (lambda p: stage1(SPACE, prior=p), lambda p: stage2(SPACE, [0, 2, 1, 3], p)):
        d, h = make("distinct"), make("heads")
        for i in range(SPACE.depth):
            assert d.block_probabilities(i) == pytest.approx(h.block_probabilities(i))


def test_the_setting_reaches_the_first_path_space():
    assert first_paths(SearchConfig(stages=1, sampling_prior="heads")).prior == "heads"
    assert first_paths(SearchConfig(stages=1)).prior == "distinct"


def test_an_unknown_prior_is_refused_naming_the_choices():
    with pytest.raises(ArchitectureError, match="distinct.*heads"):
        joint(SPACE, "uniform")
    from glitlib.errors import ConfigError

    with pytest.raises(ConfigError, match="sampling_prior"):
        SearchConfig(sampling_prior="uniform").resolve()


def test_supernet_checkpoint_keeps_its_prior(tmp_path):
    from dataclasses import replace

    from glitlib.data.memory import load_digits
    from glitlib.nas.training import load_supernet, train_supernet
    from glitlib.runtime.context import Runtime
    from glitlib.train.loop import Checkpoint

    cfg = replace(SearchConfig().supernet, steps=2, batch_size=16)
    paths = joint(SPACE, "heads")
    train_supernet(paths, load_digits(0).train, cfg, 0, Runtime(progress=False),
                   Checkpoint(tmp_path / "s.pt"))
    net, _ = load_supernet(tmp_path / "s.pt")
    assert net.paths.prior == "heads"


def test_cli_supernet_trains_under_the_prior_it_was_given(tmp_path):
    import subprocess
    import sys

    from glitlib.nas.training import load_supernet

    r = subprocess.run([sys.executable, "-m", "glitlib", "supernet", "--stage", "joint",
                        "--sampling-prior", "heads", "--steps", "2", "--batch-size", "8",
                        "--out", str(tmp_path / "s"), "--quiet"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    net, _ = load_supernet(tmp_path / "s" / "supernet.pt")
    assert net.paths.prior == "heads"
