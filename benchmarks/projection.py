"""How close does `ganstudio project` get to real images, and how fast? Measured in this run on this machine.

For each model, on held-out real images (eval.split's held-out part of the model's dataset; the encoder
never saw a real image, and whether the generator did is printed):
  projection  the model's encoder (or, without one, the nearest of PROJECT_SAMPLES random samples), then
              the default search rounds, as `ganstudio project IMG` runs it
  baseline    the nearest of --baseline random samples (seeded), by the same pixel error; by default 4x
              the images the projection draws, so it costs at least as much (both times are printed)
Errors: pixel MSE (pixels in [0, 1]) and the distance in the eval's feature space (the dataset's shipped
classifier, else the random net). Every model and the baseline run ONNX Runtime on one thread.

    python benchmarks/projection.py [MODEL ...] [--n 50] [--rounds 40] [--baseline 0] [--sheet out.png] [--no-encoder]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ganstudio.data import datasets
from ganstudio.eval import features, split
from ganstudio.explore import images, latent, limits, projection, runtime

SHIPPED = ["mnist-dcgan", "mnist-mlp", "fashion-mnist-dcgan", "fashion-mnist-wgangp", "emoji-dcgan"]


def held_out(gen: runtime.Generator, n: int) -> np.ndarray:
    """n held-out real images of the model's dataset, evenly spread over the held-out part, (n, H, W, C) uint8."""
    ds = datasets.load(gen.card.dataset, image_size=gen.card.image_size)
    _, held = split.split(ds.name, len(ds.images))
    return ds.images[held[np.linspace(0, len(held) - 1, min(n, len(held))).astype(int)]].transpose(0, 2, 3, 1)


def nearest_of(gen: runtime.Generator, target: np.ndarray, n: int) -> np.ndarray:
    """The z of the nearest of seeds 10**6 .. 10**6 + n - 1 (past every seed the projection uses)."""
    best, best_e = None, np.inf
    for start in range(0, n, 1024):  # chunks bound the memory at large n
        z = latent.z_batch(10**6 + start, min(1024, n - start), gen.nz)
        e = projection.errors(gen, z, target)
        if e.min() < best_e:
            best, best_e = z[int(np.argmin(e))], float(e.min())
    return best


def mse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a.astype(np.float32) / 255 - b.astype(np.float32) / 255) ** 2).mean((1, 2, 3))


def run(model: str, n: int, rounds: int, baseline: int, sheet: str | None, use_encoder: bool = True) -> None:
    gen = runtime.load(model, threads=1)
    real = held_out(gen, n)
    net = features.for_dataset(gen.card.dataset)
    enc, note = projection.encoder_for(gen) if use_encoder else (None, "the nearest random sample (--no-encoder)")
    seen = "trained on them too" if not gen.card.training.get("recipe", {}).get("hold_out") else "never saw them"
    print(f"\n{model}: {len(real)} held-out {gen.card.dataset} images (the generator {seen}); "
          f"start: {'encoder' if enc else note}")
    proj, start, base, t_proj, t_base, drawn = [], [], [], [], [], 0
    for target in real:
        t = time.perf_counter()
        p = projection.project(gen, target, rounds, use_encoder=use_encoder)
        t_proj.append(time.perf_counter() - t)
        proj.append(p.image)
        start.append(p.start_error)
        drawn = p.evaluations
        t = time.perf_counter()
        z = nearest_of(gen, target.astype(np.float32) / 255, baseline or 4 * drawn)
        base.append(gen.images(z[None])[0])
        t_base.append(time.perf_counter() - t)
    proj_a, base_a = np.stack(proj), np.stack(base)
    feats = [net.run(x.transpose(0, 3, 1, 2))[0] for x in (real, proj_a, base_a)]
    f_proj, f_base = (np.linalg.norm(feats[0] - f, axis=1) for f in feats[1:])
    m_proj, m_base = mse(real, proj_a), mse(real, base_a)
    n_base = baseline or 4 * drawn
    print(f"  its start alone ({'the encoder' if enc else 'the nearest random sample'}): pixel MSE {np.mean(start):.4f}")
    print(f"  projection ({rounds} rounds, {drawn:,} images drawn): pixel MSE {m_proj.mean():.4f}, feature distance "
          f"{f_proj.mean():.3f}, {np.median(t_proj):.2f} s per image (median)")
    print(f"  nearest of {n_base:,} random samples:          pixel MSE {m_base.mean():.4f}, feature distance "
          f"{f_base.mean():.3f}, {np.median(t_base):.2f} s per image (median)")
    print(f"  baseline / projection: pixel MSE x{m_base.mean() / m_proj.mean():.2f}, feature distance "
          f"x{f_base.mean() / f_proj.mean():.2f}; projection better on {(m_proj < m_base).mean():.0%} of images; "
          f"time x{np.median(t_base) / np.median(t_proj):.2f}")
    if sheet:
        pick = np.linspace(0, len(real) - 1, min(len(real), 10)).astype(int)  # spread over the held-out part
        path = sheet.replace(".png", f"-{gen.model.name}.png")
        rows = images.rows([real[pick], proj_a[pick], base_a[pick]])
        images.save_png(rows, path, {"op": "projection-benchmark", "model_sha256": gen.sha256,
                                     "rows": ["held-out real", "projection", f"nearest of {n_base} random"]})
        print(f"  wrote {path}: held-out real / projection / nearest random")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=SHIPPED)
    ap.add_argument("--n", type=int, default=50, help="held-out images per model")
    ap.add_argument("--rounds", type=int, default=limits.PROJECT_ROUNDS_DEFAULT)
    ap.add_argument("--baseline", type=int, default=0, help="random samples of the baseline (0: 4x the projection's)")
    ap.add_argument("--sheet", help="write a sheet per model (real / projection / baseline) to this .png path")
    ap.add_argument("--no-encoder", action="store_true", help="start from the nearest random sample, as without an encoder")
    args = ap.parse_args()
    for model in args.models:
        run(model, args.n, args.rounds, args.baseline, args.sheet, not args.no_encoder)


if __name__ == "__main__":
    main()
