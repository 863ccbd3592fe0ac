"""Images on the serving side (Pillow + numpy): pixels, grids, strips, GIFs, and the recipe they carry.

Every file written here carries its recipe (model sha256, seed, operation and parameters) as PNG text
(or a GIF comment) under the key "ganstudio", so any image can be re-created from itself.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from ganstudio.artifact import atomic
from ganstudio.errors import UserError
from ganstudio.explore import limits
from ganstudio.explore.latent import grid_shape

RECIPE_KEY = "ganstudio"
PAD = 2  # pixels between tiles, as torchvision's make_grid


def to_uint8(x: np.ndarray, output_range: tuple[float, float]) -> np.ndarray:
    """Generator output (n, C, H, W) float in output_range -> (n, H, W, C) uint8, rounded to nearest."""
    lo, hi = output_range
    scaled = (x.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def _as_pil(tile: np.ndarray) -> Image.Image:
    return Image.fromarray(tile[..., 0] if tile.shape[-1] == 1 else tile)


def tile(images: np.ndarray, cols: int | None = None, pad: int = PAD) -> Image.Image:
    """A grid of (n, H, W, C) uint8 images, rows filled left to right, pad-pixel black borders."""
    n, h, w, c = images.shape
    rows, cols = grid_shape(n, cols)
    canvas = np.zeros((pad + rows * (h + pad), pad + cols * (w + pad), c), dtype=np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        canvas[y : y + h, x : x + w] = img
    return _as_pil(canvas)


def rows(image_rows: Sequence[np.ndarray], pad: int = PAD) -> Image.Image:
    """One strip per row: rows[i] is (k, H, W, C); all rows have the same k."""
    stacked = np.concatenate(list(image_rows))
    return tile(stacked, cols=len(image_rows[0]), pad=pad)


def single(image: np.ndarray) -> Image.Image:
    return _as_pil(image)


def png_bytes(img: Image.Image, recipe: dict[str, Any]) -> bytes:
    """The bytes save_png writes (the studio's HTTP API answers with them)."""
    info = PngImagePlugin.PngInfo()
    info.add_text(RECIPE_KEY, json.dumps(recipe, sort_keys=True))
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def save_png(img: Image.Image, path: str | Path, recipe: dict[str, Any]) -> Path:
    return atomic.write_bytes(path, png_bytes(img, recipe))


def save_gif(frames: Sequence[Image.Image], path: str | Path, recipe: dict[str, Any], fps: float = 10) -> Path:
    return atomic.write_bytes(path, gif_bytes(frames, recipe, fps))


def gif_bytes(frames: Sequence[Image.Image], recipe: dict[str, Any], fps: float = 10) -> bytes:
    """An endlessly looping GIF; its comment holds the recipe."""
    buf = io.BytesIO()
    # Grey stays grey: converting to RGB first makes Pillow quantise colours, far slower for the same picture.
    first, *rest = [f if f.mode in ("L", "RGB") else f.convert("RGB") for f in frames]
    first.save(
        buf,
        format="GIF",
        save_all=True,
        append_images=rest,
        duration=round(1000 / fps),
        loop=0,
        comment=json.dumps(recipe, sort_keys=True).encode(),
    )
    return buf.getvalue()


class TooLarge(UserError):
    """A file refused for its size alone (which the studio says as it is, not as "not an image")."""


@contextmanager
def opened(path: str | Path) -> Iterator[Image.Image]:
    """The image as Pillow opens it (its header read, no pixel decoded), once the file's size and the pixel count
    its header declares are inside the limits: a 236 KB PNG can declare 9000x9000 pixels, and everything that
    reads pixels or text stored after them decodes all of them. One line (UserError) for a file refused."""
    path = Path(path)
    name = path.name[:60]
    try:
        nbytes = path.stat().st_size
    except OSError as e:
        raise UserError(f"{name}: cannot read it ({e.strerror or e})") from None
    if nbytes > limits.PROJECT_BYTES:
        raise TooLarge(f"{name} is {nbytes / 2**20:.1f} MiB: images up to {limits.PROJECT_BYTES // 2**20} MiB can be read")
    try:
        im = Image.open(path)
    except Image.DecompressionBombError:  # over twice Pillow's own limit: refused by Pillow before we see its size
        raise TooLarge(f"{name} declares more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels: "
                        f"images up to {limits.PROJECT_PIXELS:,} pixels can be read") from None
    except UnidentifiedImageError:  # its message holds the full path, which a server must not show
        raise UserError(f"{name}: not an image Pillow can read, e.g. PNG, JPEG, WebP, BMP, GIF") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise UserError(f"{name}: not an image Pillow can read ({str(e).splitlines()[0][:80] if str(e) else type(e).__name__})") from None
    with im:
        w, h = im.size
        if w * h > limits.PROJECT_PIXELS:
            raise TooLarge(f"{name} is {w}x{h} pixels: images up to {limits.PROJECT_PIXELS:,} pixels can be read")
        yield im


def read_recipe(path: str | Path) -> dict[str, Any] | None:
    """The recipe a ganstudio image carries, or None; one line (UserError) for a file that is not one.

    A PNG's recipe is read from the text chunks before its image data, where png_bytes writes it (Pillow's
    `im.text` would decode the whole image to look for text after it); a GIF's from its comment.
    """
    comment = False
    with opened(path) as im:
        raw = im.info.get(RECIPE_KEY) if im.format == "PNG" else None
        if raw is None:
            raw, comment = im.info.get("comment"), True
            raw = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if not isinstance(raw, str) or not raw or (comment and not raw.lstrip().startswith("{")):  # a camera's or editor's comment is no recipe
        return None
    try:
        recipe = json.loads(raw)
    except json.JSONDecodeError as e:
        raise UserError(f"{Path(path).name[:60]}: its ganstudio recipe is not valid JSON ({e})") from None
    if not isinstance(recipe, dict):
        raise UserError(f"{Path(path).name[:60]}: its ganstudio recipe is not a JSON object")
    return recipe
