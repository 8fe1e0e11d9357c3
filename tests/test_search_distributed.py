"""Two CPU ranks (gloo): the same path per step, sharded batches, averaged gradients."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from glitlib import SPACES, stage2
from glitlib.data import batch_at, load_digits
from glitlib.train import TrainConfig, train_supernet

# All-global paths (no BatchNorm): each rank's half batch gives exactly its share of
# the full batch's gradient, so two ranks must follow one process.
PATHS = stage2(SPACES["digits"], [3, 3, 3, 3])
CFG = TrainConfig(steps=4, batch_size=64, warmup_steps=1, seed=5)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    torch.set_num_threads(1)
    s = load_digits(0)
    shard = batch_at(s.train, 64, 5, 0)
    net = train_supernet(PATHS, s.train, CFG, progress=False)
    torch.save({"model": net.state_dict(), "labels": shard.y}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not built")
def test_two_ranks_train_like_one_process(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    s = load_digits(0)
    full = batch_at(s.train, 64, 5, 0).y
    # each rank saw its own half of the global batch
    assert torch.equal(r0["labels"], full[0::2]) and torch.equal(r1["labels"], full[1::2])
    single = train_supernet(PATHS, s.train, CFG, progress=False)
    for k, v in single.state_dict().items():
        assert torch.equal(r0["model"][k], r1["model"][k]), k  # ranks agree exactly
        assert torch.allclose(r0["model"][k], v, atol=1e-5), k  # and follow one process
