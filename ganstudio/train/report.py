"""The end-of-run report: one self-contained report.html a person can open offline, or mail.

It shows what the issue asks a practitioner to look at: the losses, D's outputs on real and fake images,
the first- and last-layer gradient norms of G and D, the WGAN-GP critic's estimate and penalty, the fakes'
diversity, every fixed-z sample grid in order, the watchdog's alerts (marked on every plot) and the card.
Plots are inline SVG drawn here (polylines on nice ticks) and images are base64 PNGs, so the file needs no
network, scripts, fonts or other files.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ganstudio.artifact import atomic, describe, rundir
from ganstudio.artifact.checkpoint import GRID, Card
from ganstudio.train import watchdog
from ganstudio.train.recipe import defaults

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
WIDTH, PLOT_HEIGHT = 520, 180  # two plots side by side on a laptop screen
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 26, 30  # margins around the plot area (TOP grows by one line per legend row)

Series = list[tuple[float, float]]  # (step, value)

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } td, th { padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
th { color: #555; font-weight: 600; } code { font-size: 13px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; } svg { background: #fff; border: 1px solid #e4e4e4; }
.grids { display: flex; flex-wrap: wrap; gap: 14px; } figure { margin: 0; text-align: center; }
figure img { width: 240px; image-rendering: pixelated; border: 1px solid #e4e4e4; }
figure.final img { width: 360px; }
.alert td { color: #8a5300; } .ok { color: #2b6b2b; }
"""


def write(run_dir: Path, card: Card, out_dir: Path | None = None) -> Path:
    """Write report.html for a training run into out_dir (default: the run directory); return its path."""
    out = (out_dir or run_dir) / rundir.REPORT_FILE
    atomic.write_bytes(out, render(run_dir, card, out_dir or run_dir).encode())
    return out


def render(run_dir: Path, card: Card, model_dir: Path) -> str:
    rows = rundir.read_rows(run_dir / rundir.METRICS_FILE)
    alerts = watchdog.read_alerts(run_dir)
    marks = [(a["step"], a["kind"]) for a in alerts]
    body = [
        f"<h1>Training report: {esc(run_dir.name)}</h1>",
        describe.html_rows(describe.card_rows(card, defaults())),
        "<h2>Training health</h2>",
        alerts_section(alerts),
        "<h2>Monitors</h2>",
        f"<p>Averages over each logged interval of {esc(interval(rows))} steps; dashed lines mark the watchdog's alerts.</p>",
        '<div class="plots">',
        *(chart(title, series, log=log, marks=marks) for title, series, log in plots(rows)),
        "</div>",
        "<h2>Samples</h2>",
        grids_section(run_dir, model_dir),
    ]
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"/>',
        f"<title>ganstudio report: {esc(run_dir.name)}</title><style>{CSS}</style></head><body>",
        *body,
        "</body></html>",
        "",
    ])


def esc(x: Any) -> str:
    return html.escape(str(x))


def interval(rows: list[dict[str, Any]]) -> str:
    return str(rows[1]["step"] - rows[0]["step"]) if len(rows) > 1 else "the logged"


def series(rows: list[dict[str, Any]], key: str) -> Series:
    """(step, value) of one monitor; values a row logged as "nan"/"inf" come back as floats and break the line."""
    return [(row["step"], float(row[key])) for row in rows if key in row]


def plots(rows: list[dict[str, Any]]) -> list[tuple[str, dict[str, Series], bool]]:
    """(title, {label: series}, log scale) for every plot the logged monitors allow."""
    if not rows:
        return []
    first = rows[0]
    out: list[tuple[str, dict[str, Series], bool]] = []
    if "loss_d_real" in first:
        out.append(("Losses (BCE)", {"D on real": series(rows, "loss_d_real"), "D on fake": series(rows, "loss_d_fake"),
                                     "G": series(rows, "loss_g")}, False))
        out.append(("D's outputs", {"D(x)": series(rows, "d_x"), "D(G(z))": series(rows, "d_g_z")}, False))
    if "wasserstein" in first:
        out.append(("Losses (WGAN-GP)", {"critic": series(rows, "loss_d"), "G": series(rows, "loss_g")}, False))
        out.append(("Critic: Wasserstein estimate and penalty", {"E D(x) - E D(G(z))": series(rows, "wasserstein"),
                    "gradient penalty": series(rows, "gp"), "|grad D| on interpolates": series(rows, "grad_norm_interp")}, False))
    if "feature_distance" in first:
        out.append(("Feature matching distance", {"feature distance": series(rows, "feature_distance")}, False))
    grads: dict[str, Series] = {}
    for net in ("G", "D"):
        layers = [k for k in first if k.startswith(f"grad/{net}/")]
        for where, key in (("first", layers[0]), ("last", layers[-1])) if layers else ():
            grads[f"{net} {where} layer ({key.split('/', 2)[2]})"] = series(rows, key)
    if grads:
        out.append(("Gradient norms (log scale)", grads, True))
    if "diversity_fake" in first:
        ratio = [(row["step"], watchdog.diversity_ratio({k: float(row[k]) for k in ("diversity_fake", "diversity_real")}))
                 for row in rows]
        out.append(("Fakes' pixel diversity / real images'", {"fake / real": ratio}, False))
    if any("eval/recall" in row for row in rows):  # the cheap eval, every eval_every steps
        out.append(("Eval: precision, recall, density, coverage",
                    {k: series(rows, f"eval/{k}") for k in ("precision", "recall", "density", "coverage")}, False))
        out.append(("Eval: FD in the eval's feature space (log scale)", {"FD": series(rows, "eval/fd")}, True))
    if any("eval/classes_drawn" in row for row in rows):
        out.append(("Eval: classes drawn", {"classes": series(rows, "eval/classes_drawn")}, False))
    return out


def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round-numbered ticks (1, 2 or 5 x 10^k apart) covering [lo, hi]."""
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    return [first + i * step for i in range(int(math.ceil((hi - first) / step - 1e-9)) + 1)]


def domain(values: Sequence[float], log: bool) -> list[float]:
    """The y ticks: whole decades on a log scale (values are log10 there), round numbers otherwise."""
    lo, hi = min(values), max(values)
    if log:
        return [float(k) for k in range(math.floor(lo), max(math.ceil(hi), math.floor(lo) + 1) + 1)]
    if hi - lo < 1e-12:
        lo, hi = lo - (abs(lo) or 1) / 2, hi + (abs(hi) or 1) / 2
    return ticks(lo, hi)


def chart(title: str, lines: dict[str, Series], log: bool = False, marks: Sequence[tuple[int, str]] = ()) -> str:
    """One line plot as inline SVG: steps across, values up (log10 if asked); non-finite points break a line."""
    def usable(v: float) -> bool:
        return math.isfinite(v) and (v > 0 or not log)

    lines = {label: [(s, math.log10(v) if log else v) if usable(v) else (s, math.nan) for s, v in pts]
             for label, pts in lines.items()}
    xs = [s for pts in lines.values() for s, _ in pts]
    ys = [v for pts in lines.values() for _, v in pts if math.isfinite(v)]
    if not ys:
        return ""
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    yt = domain(ys, log)
    y0, y1 = yt[0], yt[-1]
    legend = legend_rows(list(lines))
    top = TOP + 14 * len({y for _, y in legend})
    pw, ph, height = WIDTH - LEFT - RIGHT, PLOT_HEIGHT, top + PLOT_HEIGHT + BOTTOM

    def px(s: float) -> float:
        return LEFT + (s - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return top + (1 - (v - y0) / (y1 - y0)) * ph

    out = [f'<svg width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{esc(title)}">',
           f'<text x="{LEFT}" y="16" font-size="14" font-weight="600">{esc(title)}</text>']
    for v in yt:
        label = f"{10 ** v:g}" if log else f"{v:.4g}"
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#eee"/>'
                   f'<text x="{LEFT - 6}" y="{py(v) + 4:.1f}" font-size="11" text-anchor="end" fill="#555">{esc(label)}</text>')
    for s in ticks(x0, x1):
        if x0 <= s <= x1:
            out.append(f'<text x="{px(s):.1f}" y="{height - BOTTOM + 16}" font-size="11" text-anchor="middle" '
                       f'fill="#555">{s:,.0f}</text>')
    out.append(f'<text x="{WIDTH - RIGHT}" y="{height - 2}" font-size="11" text-anchor="end" fill="#555">step</text>')
    for step, kind in marks:
        if x0 <= step <= x1:
            out.append(f'<line x1="{px(step):.1f}" x2="{px(step):.1f}" y1="{top}" y2="{top + ph}" stroke="#e69500" '
                       f'stroke-dasharray="4 3"><title>{esc(kind)} at step {step:,}</title></line>')
    for (label, pts), colour, (x, y) in zip(lines.items(), COLOURS, legend):
        for segment in segments(pts):
            coords = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in segment)
            out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.6"/>')
        out.append(f'<rect x="{x}" y="{y - 5}" width="12" height="3" fill="{colour}"/>'
                   f'<text x="{x + 16}" y="{y}" font-size="11">{esc(label)}</text>')
    out.append("</svg>")
    return "".join(out)


def legend_rows(labels: list[str]) -> list[tuple[float, int]]:
    """Where each legend entry goes: left to right under the title, wrapping to a new row when full."""
    x, y, places = float(LEFT), 32, []
    for label in labels:
        width = 26 + 6.2 * len(label)
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, y = float(LEFT), y + 14
        places.append((x, y))
        x += width
    return places


def segments(pts: Series) -> list[Series]:
    """The runs of finite points (a lone point is drawn as a tiny segment so it shows)."""
    runs: list[Series] = [[]]
    for s, v in pts:
        if math.isfinite(v):
            runs[-1].append((s, v))
        elif runs[-1]:
            runs.append([])
    return [run if len(run) > 1 else run * 2 for run in runs if run]


def alerts_section(alerts: list[dict[str, Any]]) -> str:
    watched = (f"The watchdog watches for convergence failure (D(G(z)) below {watchdog.D_WINS_BELOW}, or G's first-layer "
               f"gradient {watchdog.G_GRAD_FALL:g}x below its peak), mode collapse (fakes varying under "
               f"{watchdog.COLLAPSE_OF_REAL}x as much as real images and under {watchdog.COLLAPSE_OF_PEAK}x their best), "
               f"oscillation (the G-D loss gap reversing {watchdog.SWING_REVERSALS}+ times in {watchdog.SWING_WINDOW} "
               f"intervals by {watchdog.SWING_NATS:g}+ nats), each for {watchdog.PATIENCE} intervals running, and NaN/Inf.")
    if not alerts:
        return f'<p class="ok">No alerts.</p><p>{esc(watched)}</p>'
    rows = "".join(f'<tr class="alert"><td>{a["step"]:,}</td><td>{esc(a["kind"])}</td><td>{esc(a["message"])}</td></tr>'
                   for a in alerts)
    return f"<table><tr><th>step</th><th>failure mode</th><th>what the watchdog saw</th></tr>{rows}</table><p>{esc(watched)}</p>"


def img(path: Path, caption: str, cls: str = "") -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    klass = f' class="{cls}"' if cls else ""
    return f'<figure{klass}><img src="data:image/png;base64,{data}" alt="{esc(caption)}"/><figcaption>{esc(caption)}</figcaption></figure>'


def grids_section(run_dir: Path, model_dir: Path) -> str:
    grids = sorted((run_dir / rundir.SAMPLES_DIR).glob("step_*.png"))
    parts = ["<p>The same 64 latent vectors at every kept step (the EMA generator when the run keeps one).</p>",
             '<div class="grids">', *(img(p, f"step {int(p.stem.removeprefix('step_')):,}") for p in grids), "</div>"]
    if (model_dir / GRID).is_file():
        parts.append(img(model_dir / GRID, "the exported generator: seeds 0-63", "final"))
    return "\n".join(parts)
