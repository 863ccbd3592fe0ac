"""The training timeline's curves: the run's losses, D(x)/D(G(z)) and eval points (metrics.jsonl), drawn with
Pillow as small panels sharing one step axis, with a line at the snapshot on screen."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont

COLOURS = ["#4f46e5", "#e11d48", "#059669", "#d97706", "#0891b2"]
WIDTH, PANEL, LEFT, RIGHT, TOP = 480, 150, 44, 10, 20


def series(rows: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, list[tuple[int, float]]], bool]]:
    """(title, {name: [(step, value)]}, points only) of each panel the rows have data for."""

    def pts(key: str, rows_: Sequence[dict[str, Any]] = rows) -> list[tuple[int, float]]:
        out = []
        for r in rows_:
            v = r.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v):
                out.append((int(r["step"]), float(v)))
        return out

    panels = []
    if any("wasserstein" in r for r in rows):
        panels.append(("Critic: Wasserstein estimate, G loss", {"W": pts("wasserstein"), "G": pts("loss_g")}, False))
    elif any("loss_d_real" in r for r in rows):
        d = [{"step": r["step"], "d": r["loss_d_real"] + r["loss_d_fake"]} for r in rows
             if isinstance(r.get("loss_d_real"), float) and isinstance(r.get("loss_d_fake"), float)]
        panels.append(("Losses", {"D": pts("d", d), "G": pts("loss_g")}, False))
    if any("d_x" in r for r in rows):
        panels.append(("D(x), D(G(z))", {"D(x)": pts("d_x"), "D(G(z))": pts("d_g_z")}, False))
    evals = sorted({k for r in rows for k in r if k.startswith("eval/")})
    if evals:
        first = "eval/fd" if "eval/fd" in evals else evals[0]
        panels.append((f"Eval: {first[5:]}", {first[5:]: pts(first)}, True))
    return [(t, {k: v for k, v in s.items() if v}, p) for t, s, p in panels if any(s.values())]


def chart(rows: Sequence[dict[str, Any]], step: int, first: int, last: int) -> Image.Image | None:
    """The panels over steps first..last, a vertical line at `step`; None when the run logged nothing."""
    panels = series(rows)
    if not panels:
        return None
    img = Image.new("RGB", (WIDTH, len(panels) * PANEL + 16), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=13)
    span = max(last - first, 1)

    def x_of(s: float) -> float:
        return LEFT + (s - first) / span * (WIDTH - LEFT - RIGHT)

    for p, (title, lines, points) in enumerate(panels):
        y0, y1 = p * PANEL + TOP, (p + 1) * PANEL - 4
        values = [v for pts in lines.values() for _, v in pts]
        lo, hi = min(values), max(values)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5

        draw.rectangle([LEFT, y0, WIDTH - RIGHT, y1], outline="#d4d4d8")
        draw.text((LEFT, y0 - 17), title, fill="#27272a", font=font)
        draw.text((4, y0), f"{hi:.3g}", fill="#71717a", font=font)
        draw.text((4, y1 - 12), f"{lo:.3g}", fill="#71717a", font=font)
        legend_x = WIDTH - RIGHT - 8
        for i, (name, pts) in enumerate(reversed(list(lines.items()))):
            colour = COLOURS[(len(lines) - 1 - i) % len(COLOURS)]
            xy = [(x_of(s), y1 - (v - lo) / (hi - lo) * (y1 - y0)) for s, v in pts]
            if points or len(xy) == 1:
                for x, y in xy:
                    draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
            else:
                draw.line(xy, fill=colour, width=1)
            legend_x -= draw.textlength(name, font=font) + 6
            draw.text((legend_x, y0 - 17), name, fill=colour, font=font)
        x = x_of(step)
        draw.line([(x, y0), (x, y1)], fill="#f97316", width=2)
    draw.text((LEFT, img.height - 14), f"step {first:,}", fill="#71717a", font=font)
    end = f"step {last:,}"
    draw.text((WIDTH - RIGHT - draw.textlength(end, font=font), img.height - 14), end, fill="#71717a", font=font)
    return img
