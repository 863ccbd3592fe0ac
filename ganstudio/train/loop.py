"""The training loop, readable top to bottom: data -> models -> (n_critic D steps, G step, EMA, monitors, watchdog)* -> export.

All randomness flows from the recipe's seed through two torch.Generators whose states are checkpointed,
and each epoch's shuffle is a pure function of (seed, epoch), so a resumed run repeats an uninterrupted one
exactly (bit for bit on CPU).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import functools
import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from rich.console import Console
from torch import Tensor, nn
from torchvision.utils import save_image

from ganstudio import __version__
from ganstudio.artifact import atomic, rundir
from ganstudio.data import datasets
from ganstudio.eval import split
from ganstudio.artifact.checkpoint import Card
from ganstudio.errors import UserError
from ganstudio.train.export import export_run
from ganstudio.train.models import OUTPUT_RANGE, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, coded_as
from ganstudio.train import devices, distributed, state
from ganstudio.train.monitor import Monitor, Sampler, diversity, evaluate, grad_norms, layer_weights, summary
from ganstudio.train.watchdog import Watchdog
from ganstudio.train.losses import AxisSeeking, Loss, Metrics, ModeSeeking, build_loss
from ganstudio.train.optim import build_optimizers, schedule
from ganstudio.train.progress import TrainProgress
from ganstudio.train.recipe import Recipe
from ganstudio.train.tricks import DiffAugment, InstanceNoise

FIXED_Z = 64  # images in each timeline grid


def class_count(r: Recipe, ds: datasets.Dataset) -> int:
    """How many classes a class-coded recipe's latent codes (0 without class_code): one per label the data has."""
    if not r.class_code:
        return 0
    classes = int(ds.labels.max()) + 1
    if r.nz < classes:
        raise UserError(f"class_code: nz {r.nz} is below the {classes} classes of {ds.name} (z's first {classes} entries code the class)")
    return classes


def build_models(r: Recipe, ds: datasets.Dataset) -> tuple[nn.Module, nn.Module, dict]:
    """G, D and the generator's architecture dict (what the card records)."""
    size, ch, k = ds.image_size, ds.channels, class_count(r, ds)
    coded = {"classes": k} if k else {}
    if r.model == "mlp":
        arch = {"name": "mlp", "nz": r.nz, "hidden": r.ngf, "image_size": size, "channels": ch, **coded}
        return MLPGenerator(r.nz, r.ngf, size, ch, k), MLPDiscriminator(r.ndf, size, ch, r.spectral_norm, k), arch
    # dcgan and wgan-gp share the DCGAN generator (export and serving see "dcgan"); their D differs in its norm
    arch = {"name": "dcgan", "nz": r.nz, "ngf": r.ngf, "image_size": size, "channels": ch, **coded}
    d = DCGANDiscriminator(r.ndf, size, ch, r.d_norm, r.spectral_norm, r.minibatch_std, k)
    return DCGANGenerator(r.nz, r.ngf, size, ch, k), d, arch


def total_steps(r: Recipe, n_images: int) -> tuple[int, int]:
    """(total steps, steps per epoch); an epoch is one pass over the data in full batches, n_critic a step."""
    per_epoch = n_images // (r.batch_size * r.n_critic)
    if per_epoch == 0:
        raise UserError(f"batch_size {r.batch_size} x n_critic {r.n_critic} is larger than the dataset ({n_images} images)")
    return (r.steps or r.epochs * per_epoch), per_epoch


class Batches:
    """Real batches from a uint8 tensor already on the device; epoch e's order is randperm(seed, e)."""

    def __init__(
        self, images: Tensor, batch_size: int, seed: int, output_range: tuple[float, float],
        memory_format: torch.memory_format = torch.contiguous_format, rows: slice = slice(None),
        labels: Tensor | None = None,
    ):
        """rows: the part of each batch this process trains on (its shard of the global batch under torchrun)."""
        self.images, self.batch_size, self.seed, self.memory_format = images, batch_size, seed, memory_format
        self.rows, self.all_labels = rows, labels
        self.per_epoch = len(images) // batch_size
        lo, hi = output_range
        self.scale, self.shift = (hi - lo) / 255.0, lo
        self._epoch, self._perm = -1, None

    def _index(self, step: int) -> Tensor:
        epoch, i = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self.images), generator=gen).to(self.images.device)
            self._epoch = epoch
        return self._perm[i * self.batch_size : (i + 1) * self.batch_size][self.rows]

    def __call__(self, step: int) -> Tensor:
        batch = self.images[self._index(step)].to(torch.float32, memory_format=self.memory_format)
        return batch.mul_(self.scale).add_(self.shift)

    def labels(self, step: int) -> Tensor:
        """The labels of batch `step`'s images, in the same order."""
        return self.all_labels[self._index(step)]


@torch.no_grad()
def ema_update(ema: nn.Module, live: nn.Module, decay: float, step: int) -> None:
    """EMA of weights; float buffers (BatchNorm statistics) follow the same average, counters are copied.

    The decay warms up as (1+t)/(10+t), so early exports are not dominated by the random initial weights.
    """
    decay = min(decay, (1 + step) / (10 + step))
    e_params, l_params = list(ema.parameters()), list(live.parameters())
    torch._foreach_lerp_(e_params, l_params, 1.0 - decay)
    for eb, lb in zip(ema.buffers(), live.buffers()):
        if eb.dtype.is_floating_point:
            eb.lerp_(lb, 1.0 - decay)
        else:
            eb.copy_(lb)


def judged(d: Callable, labels: Tensor | None) -> Callable:
    """D as the losses call it, d(x): a class-conditional D judges every image with the step's labels."""
    return d if labels is None else functools.partial(d, labels=labels)


def generator_backward(
    loss: Loss, d: nn.Module, fake: Tensor, real: Tensor, step: int, amp: Callable, labels: Tensor | None = None,
    extras: Sequence[Callable[[], tuple[Tensor, Metrics]]] = (),
) -> Metrics:
    """G's loss and its gradients. They flow through D to G, but D's weights need none: freezing D skips its
    weight gradients, a third of its backward pass (docs/performance.md), and leaves D's .grad alone.
    Under torchrun d is D's plain module, not its DDP wrapper (see distributed.World.wrap).
    extras: further terms of G's loss that need no D (mode seeking), added under the same autocast."""
    d.requires_grad_(False)
    try:
        with amp():
            loss_g, metrics = loss.generator(judged(d, labels), fake, real, step)
            for extra in extras:
                term, more = extra()
                loss_g, metrics = loss_g + term, metrics | more
        loss_g.backward()
    finally:
        d.requires_grad_(True)
    return metrics


def _grid(g: nn.Module, z: Tensor, output_range: tuple[float, float], path: Path) -> None:
    was_training = g.training
    g.eval()
    with torch.no_grad():
        x = g(z).float().cpu()
    g.train(was_training)
    buf = io.BytesIO()
    save_image(x, buf, format="png", nrow=8, normalize=True, value_range=output_range)
    atomic.write_bytes(path, buf.getvalue())


def train(
    recipe: Recipe,
    run_dir: Path,
    resume: bool = False,
    console: Console | None = None,
    tensorboard: bool = True,
) -> Card | None:
    """Train per the recipe into run_dir (resuming from its last checkpoint if asked); export at the end.

    Under torchrun every rank calls this (see distributed.py); rank 0 returns the card, the others None."""
    r = recipe
    world = distributed.setup(r.device, r.batch_size)  # under torchrun: this process's rank, shard and device
    device = world.device
    console = (console or Console(stderr=True)) if world.main else Console(quiet=True)
    torch.manual_seed(r.seed)

    ds = datasets.load(r.dataset, r.data or None, r.image_size)
    if r.hold_out:
        ds = split.training_part(ds)
    g, d, arch = build_models(r, ds)
    if r.sync_batchnorm:
        g, d = distributed.sync_batchnorm(g), distributed.sync_batchnorm(d)
    # Convolutions run channels_last, the layout oneDNN (CPU) and cuDNN (tensor cores) are fastest in
    # (docs/performance.md); the MLP has no convolutions.
    layout = torch.channels_last if arch["name"] == "dcgan" else torch.contiguous_format
    g, d = g.to(device, memory_format=layout), d.to(device, memory_format=layout)
    g_ema = copy.deepcopy(g).eval().requires_grad_(False) if r.ema_decay > 0 and world.main else None
    output_range = OUTPUT_RANGE[arch["name"]]
    opt_g, opt_d = build_optimizers(r, g, d)
    g_ddp, d_ddp = world.wrap(g), world.wrap(d)  # the training passes; checkpoints, EMA and export use g and d
    # bf16 forward passes where the GPU computes bf16 natively (the gradient penalty opts out to fp32 inside the loss)
    precision = devices.configure(device, r.amp)
    amp = functools.partial(torch.autocast, device.type, dtype=precision.dtype, enabled=precision.dtype is not None)

    noise = torch.Generator(device=device).manual_seed(r.seed)
    loss = build_loss(r, noise, world)
    instance_noise = InstanceNoise(r.instance_noise, r.instance_noise_steps, noise, world)
    augment = DiffAugment(r.augment, noise, world)
    mode_seeking = ModeSeeking(r.mode_seeking) if r.mode_seeking else None
    axis_seeking = AxisSeeking(r.mode_seeking_axis) if r.mode_seeking_axis else None
    fixed_z = torch.randn(FIXED_Z, r.nz, generator=torch.Generator().manual_seed(r.seed + 1)).to(device)
    classes = arch.get("classes", 0)
    labels = torch.from_numpy(ds.labels.astype("int64")).to(device) if classes else None
    batches = Batches(torch.from_numpy(ds.images).to(device), r.batch_size, r.seed, output_range, layout, world.rows(r.batch_size), labels)
    steps, per_epoch = total_steps(r, len(ds.images))

    modules = {"G": g, "D": d, **({"G_ema": g_ema} if g_ema is not None else {})}
    optimizers = {"opt_G": opt_g, "opt_D": opt_d}
    rngs = {"noise": noise}
    replicas = {"G": g, "D": d}  # what every rank holds (the EMA is rank 0's)
    start, seconds_before, resumed = 0, 0.0, None
    if world.main:  # rank 0 alone touches the run directory
        try:
            (run_dir / rundir.SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot write {run_dir}: {e.strerror or e}") from None
        for folder in (run_dir, run_dir / rundir.STATE_DIR, run_dir / rundir.SAMPLES_DIR):
            atomic.clean(folder)  # temp files of a killed run
    metrics_file = run_dir / rundir.METRICS_FILE
    if resume and world.main:
        last = state.latest(run_dir)
        if last is None:
            raise UserError(f"{run_dir}: no training checkpoint to resume from")
        resumed = state.restore(last, modules, optimizers, rngs)
        start, seconds_before = resumed["step"], resumed.get("seconds", 0.0)
        console.print(f"resuming {run_dir} from step {start:,}")
        if resumed["reseeded"]:
            console.print(f"saved on another device than {device}: the noise stream restarts from the seed and step, so the "
                          "run goes on as a valid continuation but not bit for bit as it would have on one device", soft_wrap=True)
    if resume and world.size > 1:
        resumed = world.share(replicas, optimizers, rngs, resumed)  # rank 0's restored state and metadata, everywhere
        start = resumed["step"]
    console.print(f"training on {world.label()} in {precision.why}", soft_wrap=True)
    watchdog = Watchdog(run_dir, console, r.max_rollbacks, resumed)
    monitor = Monitor(run_dir, r.log_every, tensorboard and world.main)
    if resume and world.main:
        monitor.resume(resumed.get("monitor"), start, device)
        watchdog.rewind(rundir.read_rows(metrics_file))
    g_layers, d_layers = layer_weights(g), layer_weights(d)
    sampler = g_ema if g_ema is not None else g
    eval_sampler = Sampler(sampler, r.nz, output_range)

    def checkpoint(step: int, seconds: float) -> None:
        if not world.main:
            return
        meta = {
            "recipe": r.to_dict(),
            "architecture": arch,
            "output_range": list(output_range),
            "steps_per_epoch": per_epoch,
            "seconds": seconds,
            "device": world.label(),
            "precision": precision.label,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "ganstudio_version": __version__,
            **watchdog.state(),  # lr_scale: what NaN/Inf rollbacks left of the learning rates; alerts so far
            "monitor": monitor.state(),  # the open interval of the metrics, so a resume logs the same rows
        }
        state.save(run_dir, step, meta, modules, optimizers, rngs, r.keep_checkpoints)

    t0 = time.perf_counter()

    def elapsed() -> float:
        return seconds_before + time.perf_counter() - t0

    if not resume:
        checkpoint(0, 0.0)  # a rollback point before the first step

    def roll_back(step: int, what: str) -> int:
        """NaN/Inf by `step`: the last good checkpoint again, at lower learning rates (or stop); its step."""
        last = state.latest(run_dir)
        watchdog.diverged(step, what, last, state.step_of(last))
        meta = state.restore(last, modules, optimizers, rngs)
        back = meta["step"]
        monitor.resume(meta.get("monitor"), back, device)
        watchdog.rewind(rundir.read_rows(metrics_file))
        checkpoint(back, elapsed())  # the lowered rate becomes part of the resume point
        return back

    with TrainProgress(console, steps) as progress, contextlib.closing(monitor):
        task = progress.add_task("train", total=steps, completed=start, health="")
        step = start
        while step < steps:
            schedule(r, step, opt_g, opt_d, watchdog.lr_scale)  # lr decay, momentum ramp: a pure function of the step

            # Discriminator (critic): n_critic steps, each on its own real batch and fresh fakes; with
            # instance noise both are blurred by the same decaying sigma, with augment both are augmented alike.
            # Class-coded: the fakes' z code the real batch's labels, so D judges both halves with one label set.
            for k in range(r.n_critic):
                z = world.take(torch.randn(r.batch_size, r.nz, generator=noise, device=device))
                y = batches.labels(step * r.n_critic + k) if classes else None
                if classes:
                    z = coded_as(z, y, classes)
                # With mode_seeking_axis G also draws partner rows for the term, which D never sees.
                partners = AxisSeeking.partners(z, classes, noise) if axis_seeking else None
                opt_d.zero_grad(set_to_none=True)
                with amp():
                    clean_real = batches(step * r.n_critic + k)
                    clean_fake = g_ddp(z if partners is None else torch.cat([z, partners]))
                    clean_fake, partner_fake = clean_fake[: len(z)], clean_fake[len(z):]
                    real, fake = augment(instance_noise(clean_real, step)), augment(instance_noise(clean_fake, step))
                    loss_d, m = loss.discriminator(judged(d_ddp, y), real, fake)
                loss_d.backward()
                opt_d.step()
            m |= grad_norms("D", d_layers) | diversity(clean_real, clean_fake)

            # Generator: make D call the last fakes real.
            opt_g.zero_grad(set_to_none=True)
            # With mode_seeking, G's clean images (before noise and augmentation) are compared with their latents.
            extras = [functools.partial(mode_seeking, clean_fake, z, y)] if mode_seeking else []
            extras += [functools.partial(axis_seeking, clean_fake, partner_fake, z, partners)] if axis_seeking else []
            m_g = generator_backward(loss, d, fake, real, step, amp, y, extras)
            m |= m_g | grad_norms("G", g_layers)
            opt_g.step()
            if g_ema is not None:
                ema_update(g_ema, g, r.ema_decay, step)

            # Watch: name failure modes; on NaN/Inf (in a logged row, or in the weights about to be saved) roll back.
            evaluated = None
            if world.main and r.eval_every and (step + 1) % r.eval_every == 0:
                evaluated = evaluate(eval_sampler, r.dataset, r.data or None, r.eval_n, r.seed)
            logged = monitor.add(step, m, last=step + 1 == steps, extra=evaluated) if world.main else None
            nan_in = watchdog.check(step + 1, logged, partial=monitor.pending) if logged is not None else None
            due = (step + 1) % r.checkpoint_every == 0 or step + 1 == steps
            if nan_in is None and due and not state.finite(modules, optimizers):
                nan_in = "the weights"
            if due or (step + 1) % r.log_every == 0:
                nan_in = world.agree(nan_in)  # rank 0's verdict: every rank rolls back (or stops) at the same step
            if nan_in is not None:
                step, watchdog.lr_scale = world.together(lambda: (roll_back(step + 1, nan_in), watchdog.lr_scale))
                world.share(replicas, optimizers, rngs)
                progress.update(task, completed=step)
                continue
            if logged is not None:
                progress.update(task, completed=step + 1, health=summary(logged) + watchdog.badge())
            if world.main and ((step + 1) % r.sample_every == 0 or step + 1 == steps):
                _grid(sampler, fixed_z, output_range, run_dir / rundir.SAMPLES_DIR / f"step_{step + 1:07d}.png")
            if due:
                checkpoint(step + 1, elapsed())
            step += 1

    return world.finish(lambda: export_run(run_dir))
