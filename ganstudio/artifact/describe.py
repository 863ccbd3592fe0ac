"""A generator's card as a person reads it: one set of rows, rendered as plain text (`ganstudio info`),
Markdown (the studio's model card) or HTML rows (the training report).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.table import Table

from ganstudio.artifact.catalog import REPO_ROOT, ModelDir
from ganstudio.artifact.checkpoint import CARD, GRAPH, WEIGHTS, Card, read_card, read_header, sha256_file
from ganstudio.errors import UserError

Rows = list[tuple[str, str]]


def card_rows(card: Card, recipe_defaults: Mapping[str, Any] | None = None) -> Rows:
    """(label, text) rows of everything a card says. With recipe_defaults, the recipe lists only changed keys."""
    arch = ", ".join(f"{k}={v}" for k, v in card.architecture.items() if k != "name")
    rows = [
        ("architecture", f"{card.name} ({arch})"),
        ("latent", f"{card.nz} dimensions, z ~ N(0, I); seed s -> numpy default_rng(s).standard_normal({card.nz}, float32)"),
        *([("classes", f"{card.classes}, one per label: z's largest entry among dimensions 0-{card.classes - 1} picks the class drawn")]
          if card.classes else []),
        ("images", f"{card.image_size}x{card.image_size}, {card.channels} channel(s), generator outputs in {list(card.output_range)}"),
        ("dataset", card.dataset),
    ]
    tr = card.training
    if tr:
        rows.append(("training", f"{tr.get('steps', 0):,} steps ({tr.get('epochs')} epochs, {tr.get('images_seen', 0):,} images) "
                     f"in {tr.get('seconds', 0):,.0f} s on {tr.get('device')}"
                     + (f" in {tr['precision']}" if tr.get("precision") else "") + f"; exported the {tr.get('exported')} generator"))
        rows.append(("date", f"{tr.get('date', '')}, ganstudio {tr.get('ganstudio_version', '?')}"))
        recipe = tr.get("recipe", {})
        if recipe_defaults is not None:
            changed = {k: v for k, v in recipe.items() if k in recipe_defaults and v != recipe_defaults[k]}
            rows.append(("recipe (changed keys)", ", ".join(f"{k}={v}" for k, v in changed.items()) or "the defaults"))
        else:
            rows.append(("recipe", ", ".join(f"{k}={v}" for k, v in recipe.items())))
    if card.metrics:
        rows.append(("metrics at the end of training", ", ".join(f"{k}={v:.4g}" for k, v in card.metrics.items())))
    if card.parity:
        per = ", ".join(f"batch {b}: {d:.1e}" for b, d in card.parity["per_batch"].items())
        rows.append(("onnx parity", f"max abs diff {card.parity['max_abs_diff']:.2e} (tolerance {card.parity['tolerance']:g}; {per})"))
    else:
        rows.append(("onnx parity", "not checked"))
    if card.notes:
        rows.append(("notes, written at export", card.notes))
    return rows


def file_rows(model: ModelDir, card: Card) -> Rows:
    """Each file's sha256 and size, checked against what the card and card.json recorded."""
    recorded = dict(card.files)
    if (model.path / CARD).exists():
        recorded.update(_recorded_files(model.path / CARD))
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


def _recorded_files(path: Path) -> dict[str, str]:
    """The sha256s card.json records, or one line saying why card.json cannot be read."""
    fix = f"re-export with `ganstudio export {path.parent}`"
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e}); {fix}") from None
    if not isinstance(d, dict):
        raise UserError(f"{path} is not a JSON object; {fix}")
    files = d.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise UserError(f"{path}: its files must map file names to sha256 strings; {fix}")
    return files


def describe(model: ModelDir, extra: Rows = ()) -> Table:
    """`ganstudio info`: the card, the parameter count, `extra` rows (the eval, which lives a floor above)
    and every file verified."""
    card, manifest = read_header(model.weights)
    params = sum(math.prod(shape) for shape in manifest.values())
    t = Table(title=f"{model.name}  ({_short(model.path)})", show_header=False, title_justify="left", box=None, padding=(0, 2))
    t.add_column(style="bold cyan", no_wrap=True)
    t.add_column()
    for label, text in card_rows(card):
        if label == "architecture":
            text += f"; {params:,} parameters in {len(manifest)} tensors"
        t.add_row(label, text)
    for label, text in [*extra, *file_rows(model, card)]:
        t.add_row(label, text)
    return t


def markdown(model: ModelDir, key: str) -> str:
    """The studio's model card."""
    card = read_card(model.weights)
    lines = [f"**{key}** — `{_shown_to_visitors(model.path)}`"]
    lines += [f"- **{label}** {text}" for label, text in card_rows(card)]
    return "\n".join(lines)


def html_rows(rows: Rows) -> str:
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows) + "</table>"


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


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def _shown_to_visitors(path: Path) -> str:
    """A path as the studio's visitors see it: relative to the project (or the working directory), else only its
    last two parts, so the page never shows the server's directory tree."""
    for root in (REPO_ROOT, Path.cwd()):
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return str(Path("…", *path.resolve().parts[-2:]))


def _short(path: Path) -> str:
    """The path relative to the working directory when it lies below it (never the server's whole tree)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
