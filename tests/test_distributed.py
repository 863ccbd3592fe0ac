"""Training under torchrun: shards of the global batch, rank 0 the only writer, the same run as one process.

The torchrun tests start 2 CPU processes (gloo, one thread each) on tiny MNIST models.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from ganstudio.cli import app
from ganstudio.errors import UserError
from ganstudio.train import distributed, recipe, state
from ganstudio.train.distributed import World
from ganstudio.train.loop import Batches

from conftest import one_thread

ENTRY = Path(__file__).with_name("torchrun_entry.py")
REPO = Path(__file__).resolve().parent.parent
TINY = ["--set", "nz=12", "--set", "ngf=8", "--set", "ndf=8", "--set", "batch_size=16", "--set", "ema_decay=0.9",
        "--set", "eval_every=0",  # no cheap eval: these runs log every few steps
        # the mnist recipe's mode-seeking terms pair images within each shard, so they differ from one process by design
        "--set", "mode_seeking=0", "--set", "mode_seeking_axis=0"]
# Weights of 2 processes against 1 after the same steps: only the order of fp32 sums differs (gradient
# all-reduce, BatchNorm statistics combined across ranks), so they agree to a few ulps of the weights'
# changes; a shard mix-up or a wrong reduction moves them by the learning rate (2e-4) per step.
TOLERANCE = 1e-5
# The share of elements that may end further apart than TOLERANCE where Adam's beta1 is 0 (see the WGAN-GP test).
APART = 0.01


def torchrun(*args: object, env: dict[str, str] | None = None, module: bool = False) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node=2` of `python -m ganstudio` (module) or of the test entry point."""
    target = ["-m", "ganstudio"] if module else [str(ENTRY)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *target, *map(str, args)]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})}
    result = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result


def train_here(*args: object) -> None:
    """One process, in this one (no torchrun): the baseline. It runs on one thread, as each torchrun rank does
    (OMP_NUM_THREADS=1): the thread count decides how the CPU's matmul and convolution kernels split their
    sums, and so the last bits of every gradient, which Adam can turn into whole steps apart."""
    with one_thread():
        result = CliRunner().invoke(app, ["train", *map(str, args)])
    assert result.exit_code == 0, result.output


def differences(a: Path, b: Path, prefixes: tuple[str, ...], suffix: str = "") -> torch.Tensor:
    """|a - b| over two checkpoints' floating-point tensors named prefix...suffix, flattened into one."""
    ta, tb = load_file(str(a)), load_file(str(b))
    keys = [k for k in ta if k.startswith(prefixes) and k.endswith(suffix) and ta[k].is_floating_point()]
    assert keys and all(k in tb for k in keys)
    return torch.cat([(ta[k] - tb[k]).abs().flatten() for k in keys])


def max_diff(a: Path, b: Path, prefixes: tuple[str, ...], suffix: str = "") -> float:
    """The largest |a - b| over two checkpoints' floating-point tensors named prefix...suffix."""
    return float(differences(a, b, prefixes, suffix).max())


def apart(a: Path, b: Path, prefixes: tuple[str, ...], suffix: str = "") -> float:
    """The share of those elements that differ by more than TOLERANCE."""
    return float((differences(a, b, prefixes, suffix) > TOLERANCE).float().mean())


# --- one process: the identities the sharding rests on -------------------------------------------------


def test_a_rank_draws_its_rows_of_the_global_batch_and_every_rank_ends_in_the_same_rng_state():
    whole = torch.Generator().manual_seed(5)
    want = torch.rand((8, 3), generator=whole)
    for rank in range(2):
        gen = torch.Generator().manual_seed(5)
        got = World(rank=rank, size=2).draw(torch.rand, (4, 3), generator=gen)
        assert torch.equal(got, want[rank * 4 : rank * 4 + 4])
        assert torch.equal(gen.get_state(), whole.get_state())
    single = torch.Generator().manual_seed(5)  # one process: exactly the plain draw
    assert torch.equal(World().draw(torch.rand, (8, 3), generator=single), want)


def test_shards_of_batches_are_disjoint_and_make_up_the_global_batch():
    images = torch.randint(0, 256, (40, 1, 4, 4), dtype=torch.uint8)
    whole = Batches(images, 8, seed=1, output_range=(-1.0, 1.0))
    shards = [Batches(images, 8, seed=1, output_range=(-1.0, 1.0), rows=World(rank=k, size=2).rows(8)) for k in range(2)]
    for step in range(7):  # across an epoch boundary (5 batches an epoch)
        assert torch.equal(torch.cat([s(step) for s in shards]), whole(step))


def test_a_global_batch_that_does_not_split_over_the_processes_is_one_line(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(UserError, match=r"^batch_size 15 does not split evenly over 2 processes: use a multiple of 2"):
        distributed.setup("cpu", 15)


def test_sync_batchnorm_is_a_recipe_flag_for_the_models_with_batchnorm():
    assert recipe.make().sync_batchnorm is False
    assert recipe.make(sync_batchnorm=True, model="wgan-gp").sync_batchnorm
    with pytest.raises(UserError, match="sync_batchnorm: the MLP GAN has no BatchNorm layers"):
        recipe.make(model="mlp", sync_batchnorm=True)


def test_sync_batchnorm_keeps_the_state_dict_and_is_batchnorm_with_one_process():
    from ganstudio.train.models import DCGANGenerator

    torch.manual_seed(0)
    plain = DCGANGenerator(8, 8, 28, 1)
    synced = distributed.sync_batchnorm(DCGANGenerator(8, 8, 28, 1))
    synced.load_state_dict(plain.state_dict())
    assert any(isinstance(m, distributed.GlobalBatchNorm) for m in synced.modules())
    z = torch.randn(6, 8)
    torch.testing.assert_close(synced(z), plain(z), rtol=0, atol=0)
    assert synced.state_dict().keys() == plain.state_dict().keys()


def _two_ranks(rank: int, port: int) -> None:
    """One of two gloo processes (torch.multiprocessing.spawn): checks World's collective pieces."""
    import copy

    from torch import nn

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    world = distributed.setup("cpu", 8)
    # GlobalBatchNorm on each rank's shard is BatchNorm2d on the whole batch: output, gradients, running stats
    torch.manual_seed(0)
    x, upstream = torch.randn(8, 3, 4, 4) * 3 + 1, torch.randn(8, 3, 4, 4)
    plain = nn.BatchNorm2d(3)
    synced = distributed.sync_batchnorm(copy.deepcopy(plain))
    whole, shard = x.clone().requires_grad_(), world.take(x).clone().requires_grad_()
    want = plain(whole)
    (want * upstream).sum().backward()
    out = synced(shard)
    (out * world.take(upstream)).sum().backward()
    torch.testing.assert_close(out, world.take(want.detach()), atol=1e-5, rtol=0)
    torch.testing.assert_close(shard.grad, world.take(whole.grad), atol=1e-5, rtol=0)
    weight_grad = synced.weight.grad.clone()
    torch.distributed.all_reduce(weight_grad)  # each rank holds its shard's part; DDP would combine them
    torch.testing.assert_close(weight_grad, plain.weight.grad, atol=1e-5, rtol=0)
    torch.testing.assert_close(synced.running_var, plain.running_var, atol=1e-6, rtol=0)
    torch.testing.assert_close(synced.running_mean, plain.running_mean, atol=1e-6, rtol=0)
    # share: rank 0's weights, optimizer state and RNG state reach rank 1
    torch.manual_seed(rank)
    model, gen = nn.Linear(3, 2), torch.Generator().manual_seed(rank)
    opt = torch.optim.Adam(model.parameters())
    if world.main:
        model(torch.randn(4, 3)).sum().backward()
        opt.step()
    meta = world.share({"m": model}, {"opt": opt}, {"gen": gen}, {"step": 7} if world.main else None)
    assert meta == {"step": 7} and len(opt.state) == 2
    mine = torch.cat([model.weight.flatten(), opt.state[model.weight]["exp_avg"].flatten(), gen.get_state().float()])
    both = [torch.empty_like(mine) for _ in range(2)]
    torch.distributed.all_gather(both, mine)
    assert torch.equal(both[0], both[1])
    # together: rank 0's UserError is every rank's
    def stop() -> None:
        raise UserError("stopped on rank 0")

    with pytest.raises(UserError, match="^stopped on rank 0$"):
        world.together(stop)
    assert world.together(lambda: 42) == 42
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_global_batchnorm_share_and_together_on_two_gloo_processes():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    torch.multiprocessing.spawn(_two_ranks, args=(port,), nprocs=2)


# --- two processes ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A default DCGAN (BatchNorm D, no sync) on 2 processes, rank 1 forbidden to write under the run's
    folder, and a NaN in rank 1's D loss at step 7 (call 8): the all-reduced gradients carry it to rank 0."""
    root = tmp_path_factory.mktemp("ddp")
    run = root / "run"
    env = {"GANSTUDIO_TEST_READONLY": str(root), "GANSTUDIO_TEST_NAN": "1:8"}
    terms = ["--set", "mode_seeking=3", "--set", "mode_seeking_axis=2"]  # the recipe's, paired within each shard
    result = torchrun("train", "mnist", "--steps", 12, "--out", run, *TINY, *terms, "--set", "log_every=4",
                      "--set", "checkpoint_every=4", "--set", "sample_every=6", env=env)
    return run, result


@pytest.mark.slow
def test_two_processes_train_and_export_with_rank_0_the_only_writer(two_process_run):
    run, result = two_process_run
    assert result.stdout.count("trained 12 steps") == 1  # rank 0 reports; rank 1 prints nothing
    card = json.loads((run / "card.json").read_text())
    assert card["training"]["device"] == "cpu x 2 processes (gloo)"
    assert card["training"]["images_seen"] == 12 * 16  # the recipe's batch is the global one
    assert (run / "generator.onnx").is_file() and (run / "report.html").is_file()
    assert [p.name for p in sorted((run / "samples").glob("*.png"))] == ["step_0000006.png", "step_0000012.png"]
    assert card["training"]["exported"] == "ema"
    assert card["training"]["recipe"]["mode_seeking"] == 3 and card["training"]["recipe"]["mode_seeking_axis"] == 2
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged and all(row["mode_seeking_axis_ratio"] > 0 and "mode_seeking_ratio" in row for row in logged)


@pytest.mark.slow
def test_a_nan_on_one_rank_rolls_every_rank_back_together(two_process_run):
    run, _ = two_process_run
    alerts = [json.loads(line) for line in (run / "alerts.jsonl").read_text().splitlines()]
    assert [a["kind"] for a in alerts] == ["NaN/Inf"]
    assert "by step 8: rolled back to step 4" in alerts[0]["message"]
    meta, tensors = state.read(state.latest(run))
    # one rollback only: had rank 1 kept its NaN weights, the next all-reduce would have poisoned rank 0 again
    assert meta["step"] == 12 and meta["rollbacks"] == 1 and meta["lr_scale"] == 0.5
    assert all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())


@pytest.fixture(scope="module")
def sync_runs(tmp_path_factory) -> dict[str, Path]:
    """SyncBatchNorm DCGAN, global batch 16: one process for 12 steps (checkpoints at 6 and 12), and
    `torchrun -m ganstudio` with 2 processes for 6."""
    root = tmp_path_factory.mktemp("sync")
    common = ["mnist", *TINY, "--set", "sync_batchnorm=true", "--set", "checkpoint_every=6", "--set", "log_every=3"]
    train_here(*common, "--steps", 12, "--out", root / "one")
    torchrun("train", *common, "--steps", 6, "--out", root / "two", module=True)
    return {"one": root / "one", "two": root / "two"}


@pytest.mark.slow
def test_two_processes_with_sync_batchnorm_match_one_process(sync_runs):
    one = sync_runs["one"] / "state" / "step_0000006.safetensors"
    two = sync_runs["two"] / "state" / "step_0000006.safetensors"
    diff = max_diff(one, two, ("G/", "D/", "G_ema/"))  # weights and BatchNorm running statistics
    assert diff < TOLERANCE, diff
    moved = max_diff(one, sync_runs["two"] / "state" / "step_0000000.safetensors", ("G/",))
    assert moved > 100 * TOLERANCE  # the comparison is not of two untrained models


@pytest.mark.slow
def test_a_run_resumed_under_torchrun_continues_as_one_process_would(sync_runs, tmp_path):
    resumed = Path(shutil.copytree(sync_runs["two"], tmp_path / "two"))
    result = torchrun("train", "--resume", resumed, "--steps", 12, module=True)
    assert "trained 12 steps" in result.stdout
    diff = max_diff(sync_runs["one"] / "state" / "step_0000012.safetensors", state.latest(resumed), ("G/", "D/", "G_ema/"))
    assert diff < TOLERANCE, diff


@pytest.mark.slow
def test_wgan_gp_penalty_through_ddp_matches_one_process(tmp_path):
    # The critic's double backward (autograd.grad with create_graph) through a DDP module, 15 critic steps;
    # class-coded, so each rank's labels must be the rows of the global batch its images are.
    common = ["mnist", *TINY, "--set", "model=wgan-gp", "--set", "label_smoothing=0", "--set", "sync_batchnorm=true",
              "--set", "checkpoint_every=3", "--set", "class_code=true", "--set", "nz=12", "--steps", 3]
    train_here(*common, "--out", tmp_path / "one")
    torchrun("train", *common, "--out", tmp_path / "two")
    one, two = state.latest(tmp_path / "one"), state.latest(tmp_path / "two")
    # Adam with beta1 0 moves each element by about its learning rate on the first step, whatever the size of
    # its gradient: an element whose gradient is within rounding of zero can end two steps apart when a sum
    # is reordered. So count the elements that moved apart rather than take the largest difference: a wrong
    # penalty reduction or labels mixed across shards moves most of them (docs/hardening.md).
    for prefixes, suffix in ((("G/",), ""), (("D/",), ".weight"), (("D/",), ".bias")):
        assert apart(one, two, prefixes, suffix) < APART, (prefixes, suffix, apart(one, two, prefixes, suffix))
    assert max_diff(one, two, ("G/",)) < 3 * 2 * recipe.MODEL_DEFAULTS["wgan-gp"]["lr_g"]  # never more than 2 lr a step
    assert max_diff(one, state.checkpoints(tmp_path / "two")[0], ("G/",)) > 100 * TOLERANCE  # the runs trained


def test_the_write_guard_of_the_torchrun_tests_stops_a_write(tmp_path):
    target = tmp_path / "x"
    code = "\n".join([
        "import sys; from pathlib import Path",
        f"sys.path.insert(0, {str(ENTRY.parent)!r}); import torchrun_entry",
        f"torchrun_entry.forbid_writes(Path({str(tmp_path)!r}), 1)",
        f"open({str(target)!r}, 'w')",
    ])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0 and "rank 1 must not write under" in result.stderr
    assert not target.exists()
