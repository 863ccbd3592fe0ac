"""What `ganstudio info` prints: a generator's card as a person wants to read it, with its files verified."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.table import Table

from ganstudio.artifact.catalog import ModelDir
from ganstudio.errors import UserError
from ganstudio.artifact.checkpoint import CARD, GRAPH, WEIGHTS, read_card, read_header, sha256_file


def _file_rows(model: ModelDir, recorded: dict[str, str]) -> list[tuple[str, str]]:
    rows = []
    for name in (WEIGHTS, GRAPH, CARD):
        path = model.path / name
        if not path.is_file():
            rows.append((name, "missing"))
            continue
        digest = sha256_file(path)
        want = recorded.get(name)
        verdict = "" if want is None else ("  [green]matches the card[/]" if want == digest else "  [red]DIFFERS from the card[/]")
        rows.append((name, f"{digest}  {_size(path.stat().st_size)}{verdict}"))
    return rows


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def describe(model: ModelDir, extra: list[tuple[str, str]] = ()) -> Table:
    """The card as a table; `extra` rows (the eval, which lives a floor above) go after the notes."""
    card, manifest = read_header(model.weights)
    params = sum(math.prod(shape) for shape in manifest.values())
    t = Table(title=f"{model.name}  ({model.path})", show_header=False, title_justify="left", box=None, padding=(0, 2))
    t.add_column(style="bold cyan", no_wrap=True)
    t.add_column()
    arch = ", ".join(f"{k}={v}" for k, v in card.architecture.items() if k != "name")
    t.add_row("architecture", f"{card.name} ({arch}); {params:,} parameters in {len(manifest)} tensors")
    t.add_row("latent", f"{card.nz} dimensions, z ~ N(0, I); seed s -> numpy default_rng(s).standard_normal({card.nz}, float32)")
    t.add_row("images", f"{card.image_size}x{card.image_size}, {card.channels} channel(s), generator outputs in {list(card.output_range)}")
    t.add_row("dataset", card.dataset)
    tr = card.training
    if tr:
        t.add_row("training", f"{tr.get('steps', 0):,} steps ({tr.get('epochs')} epochs, {tr.get('images_seen', 0):,} images) "
                  f"in {tr.get('seconds', 0):.0f} s on {tr.get('device')}; exported the {tr.get('exported')} generator")
        t.add_row("date", str(tr.get("date")))
        recipe = tr.get("recipe", {})
        t.add_row("recipe", ", ".join(f"{k}={v}" for k, v in recipe.items()))
    if card.metrics:
        t.add_row("last metrics", ", ".join(f"{k}={v:.4g}" for k, v in card.metrics.items()))
    if card.parity:
        per = ", ".join(f"batch {b}: {d:.1e}" for b, d in card.parity["per_batch"].items())
        t.add_row("onnx parity", f"max abs diff {card.parity['max_abs_diff']:.2e} (tolerance {card.parity['tolerance']:g}; {per})")
    if card.notes:
        t.add_row("notes", card.notes)
    for label, text in extra:
        t.add_row(label, text)
    recorded = dict(card.files)
    if (model.path / CARD).is_file():
        recorded.update(json.loads((model.path / CARD).read_text()).get("files", {}))
    for name, text in _file_rows(model, recorded):
        t.add_row(name, text)
    return t


def list_table(models: list[ModelDir]) -> Table | str:
    if not models:
        return "no generators found (looked in checkpoints/ and runs/)"
    t = Table(title="generators, newest first", title_justify="left")
    t.add_column("name", no_wrap=True)  # what --model takes: never cut short
    for header in ("arch", "dataset", "image", "nz", "steps"):
        t.add_column(header)
    t.add_column("in", no_wrap=True)  # the folder: `info NAME` gives the whole path
    for m in models:
        path = _short(m.path.parent)
        try:
            c = read_card(m.weights)
        except UserError as e:  # one broken model must not hide the others
            t.add_row(m.name, f"[red]unreadable: {e}[/]", "", "", "", "", path)
            continue
        t.add_row(m.name, c.name, c.dataset, f"{c.image_size}px x{c.channels}", str(c.nz), f"{c.training.get('steps', 0):,}", path)
    return t


def _short(path: Path) -> str:
    """The path relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
