"""eval.json beside a model, the nearest-neighbour sheet, and the eval as words (CLI, `info`, the studio).

Annotating a model never touches its files: generator.safetensors (whose sha256 every PNG recipe carries),
the graph and card.json stay byte for byte as exported. eval.json records the sha256 it was computed for; a
model whose weights differ from it shows its eval as stale, never as current.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from ganstudio.artifact import atomic
from ganstudio.artifact.catalog import ModelDir
from ganstudio.artifact.checkpoint import sha256_file
from ganstudio.data import datasets
from ganstudio.eval import latent_space
from ganstudio.eval.run import FORMAT, Result, Source
from ganstudio.explore import images, latent

EVAL_FILE = "eval.json"
SHEET_FILE = "eval-neighbours.png"
# (key, label, higher is better, format)
ROWS = [
    ("fd", "FD", False, "{:.3g}"),
    ("kid", "KID ± s.e.", False, "{:.3g}"),
    ("precision", "precision", True, "{:.3f}"),
    ("recall", "recall", True, "{:.3f}"),
    ("density", "density", True, "{:.3f}"),
    ("coverage", "coverage", True, "{:.3f}"),
]


def write(model: ModelDir, result: Result) -> Path:
    return atomic.write_text(model.path / EVAL_FILE, json.dumps(result.to_dict(), indent=1) + "\n")


def read(model: ModelDir) -> tuple[Result | None, bool]:
    """(the model's eval or None, whether it was computed for these exact weights)."""
    path = model.path / EVAL_FILE
    if not path.is_file():
        return None, False
    try:
        d = json.loads(path.read_text())
        if d.get("format") != FORMAT:
            return None, False
        result = Result.from_dict(d)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None, False
    return result, result.model_sha256 == sha256_file(model.weights)


def write_sheet(model: ModelDir, gen: Source, result: Result, data_dir: str | None = None) -> Path | None:
    """The closest generated/training pairs (in pixels): samples on the top row, their nearest training image below."""
    if not result.memorisation or not result.memorisation["pairs"]:
        return None
    pairs = result.memorisation["pairs"]
    samples = np.concatenate([gen.images(latent.z_batch(result.seed + i, 1, gen.nz)) for i, _ in pairs])
    ds = datasets.load(result.dataset, data_dir, samples.shape[1])
    real = ds.images[[j for _, j in pairs]].transpose(0, 2, 3, 1)
    recipe = {"op": "eval-neighbours", "model_sha256": result.model_sha256, "seeds": [result.seed + i for i, _ in pairs],
              "training_indices": [j for _, j in pairs]}
    return images.save_png(images.tile(np.concatenate([samples, real]), cols=len(pairs)), model.path / SHEET_FILE, recipe)


def _fmt(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def table(result: Result) -> list[tuple[str, str, str]]:
    """(measure, this model, real-vs-real baseline) rows; KID carries its standard error, each k-NN measure its k."""
    rows = []
    for key, label, _, fmt in ROWS:
        mine, base = _fmt(result.metrics.get(key), fmt), _fmt(result.baseline.get(key), fmt)
        if key == "kid":
            mine += f" ± {_fmt(result.metrics.get('kid_se'), fmt)}"
            base += f" ± {_fmt(result.baseline.get('kid_se'), fmt)}"
        if key in result.k:
            label += f" (k={result.k[key]})"
        rows.append((label, mine, base))
    return rows


def space_line(result: Result) -> str:
    s = result.space
    acc = f", {s['held_out_accuracy']:.1%} held-out accuracy" if s.get("held_out_accuracy") else ""
    note = {"user": "", "inception": "; FD is FID here: comparable to a paper's only at the same n (papers use 50,000) against "
            "the same reference set"}.get(s.get("kind"), "; ganstudio's own feature space, so these are not Inception-FID numbers")
    return f"features: {s.get('name')} ({s.get('what')}{acc}; {s.get('feature_layer')}){note}"


def sizes_line(result: Result) -> str:
    z = result.sizes
    return (f"{result.n:,} samples (seeds {result.seed}..{result.seed + result.n - 1}) and {z['held_out']:,} held-out real "
            f"images, each against {z['reference']:,} training images; the data split {z['training_part']:,} training / "
            f"{z['held_out_part']:,} held out")


def lines(result: Result, current: bool) -> list[str]:
    """The eval as plain sentences (besides the table)."""
    out = [] if current else ["STALE: this eval was computed for other weights (sha256 "
                              f"{result.model_sha256[:12]}); run `ganstudio eval` again"]
    out += [sizes_line(result), space_line(result)]
    cov = result.class_coverage
    if cov is not None:
        base = f" (held-out real images: {result.baseline_unrecognisable:.1%})" if result.baseline_unrecognisable is not None else ""
        out.append(f"classes: {cov.drawn} of {len(cov.names)} drawn; {cov.sentence()}{base}")
    if result.memorisation:
        seen = {True: "; note: this generator trained on the held-out images too, so the test is weaker",
                False: "", None: ""}[result.held_out_seen]
        out.append(f"memorisation: {result.memorisation['verdict']}{seen}")
    if result.latent_space:
        out += latent_space.lines(result.latent_space)
    return out


def time_line(result: Result) -> str:
    """Where the time went, and whether the data's side was computed (a dataset's first eval) or read back."""
    s = result.seconds
    side = {"computed": "computed, and cached for the next eval of this data",
            "cache": "read from the cache"}.get(result.real_side or "", "computed")
    return (f"took {s.get('generate', 0):.1f} s generating, {s.get('featurise', 0):.1f} s featurising and "
            f"{s.get('metrics', 0):.1f} s scoring the samples; the real side (the data's features and baseline): "
            f"{s.get('real_side', 0):.1f} s, {side}" + (f"; the latent space: {s['latent_space']:.1f} s" if "latent_space" in s else ""))


# What each measure says, for the card's readers (higher-is-better measures are shares of something real data has)
MEANINGS = {
    "fd": "distance between the samples' and the data's feature distributions",
    "kid": "the same, a kernel estimate that is unbiased at any n",
    "precision": "share of samples that look like real images",
    "recall": "share of the data's variety the samples reach",
    "density": "how closely samples crowd around real images",
    "coverage": "share of real images with a sample near them",
}
# The card's verdict bands: a lower-is-better distance as a multiple of real data's own, a higher-is-better share as
# a fraction of real data's; KID by how many standard errors it sits above real data's.
DISTANCE_BANDS = ((1.5, "like real data"), (5.0, "near real data"), (25.0, "clearly apart from real data"))
SHARE_BANDS = ((0.95, "like real data"), (0.8, "a little below real data"), (0.5, "well below real data"))
KID_SE = 2.0


def in_words(result: Result, key: str) -> str:
    """One measure against its real-vs-real baseline, in words with the comparison it rests on."""
    mine, base = result.metrics.get(key), result.baseline.get(key)
    if mine is None or base is None:
        return "-"
    if key == "kid":
        se = float(np.hypot(result.metrics.get("kid_se", 0.0), result.baseline.get("kid_se", 0.0)))
        apart = (mine - base) / se if se > 0 else float("inf")
        return "not told apart from real data at this n" if apart < KID_SE else f"{apart:.0f} standard errors above real data"
    if key == "fd":
        ratio = mine / base if base > 0 else float("inf")
        word = next((w for limit, w in DISTANCE_BANDS if ratio <= limit), "far from real data")
        return f"{word} ({ratio:.1f}x real data's)"
    ratio = mine / base if base > 0 else 0.0
    word = next((w for limit, w in SHARE_BANDS if ratio >= limit), "far below real data")
    return f"{word} ({ratio:.0%} of real data's)"


def markdown(model: ModelDir) -> tuple[list[str], Path | None]:
    """The model's eval as Markdown lines and the nearest-neighbour sheet's path (for the studio's model card);
    ([], None) when the model has no eval. Written for someone who has not read the papers: which way is better,
    a verdict in words against real data, what each measure means; the copying test's statistics in a fold."""
    result, current = read(model)
    if result is None:
        return [], None
    md = ["| measure | this model | real vs real | in words |", "|---|---|---|---|"]
    for (key, _, higher, _), (label, mine, base) in zip(ROWS, table(result)):
        md.append(f"| {label} {'↑' if higher else '↓'} | {mine} | {base} | {in_words(result, key)}: {MEANINGS[key]} |")
    md += ["", "↑ higher is better, ↓ lower is better; real vs real is what held-out real images score the same way.", ""]
    for line in lines(result, current):
        words, _, evidence = line.partition(" (C_T ") if line.startswith("memorisation: ") else (line, "", "")
        md.append(f"- {words}")
        if evidence:
            md.append(f"  <details><summary>the copying test's figures</summary>C_T {html.escape(evidence.rstrip(')'))}"
                      "</details>")
    sheet = model.path / SHEET_FILE
    return md, (sheet if sheet.is_file() and current else None)


def class_rows(result: Result) -> list[tuple[str, str, str]]:
    """(class, share of samples with a dropped/under-drawn mark, share of data)."""
    cov = result.class_coverage
    if cov is None:
        return []
    rows = []
    for name, share, want in zip(cov.names, cov.share, cov.data_share):
        mark = "  dropped" if name in cov.dropped else "  under-drawn" if name in cov.under_drawn else ""
        rows.append((name, f"{share:.1%}{mark}", f"{want:.1%}"))
    return rows


def info_rows(model: ModelDir) -> list[tuple[str, str]]:
    """What `ganstudio info` adds: one row per measure (model vs baseline) and the sentences."""
    result, current = read(model)
    if result is None:
        return [("eval", f"none yet: run `ganstudio eval {model.name}`")]
    rows = [(f"eval {label}", f"{mine}   (real vs real: {base})") for label, mine, base in table(result)]
    return rows + [("eval", line) for line in lines(result, current)]


def summary(result: Result) -> dict[str, Any]:
    """The few numbers a training run logs (metrics.jsonl keys, all floats)."""
    out = {f"eval/{k}": float(v) for k, v in result.metrics.items()}
    if result.class_coverage is not None:
        out["eval/classes_drawn"] = float(result.class_coverage.drawn)
    return out
