"""The files the studio hands to Gradio: PNGs and GIFs with their recipe, in a private temporary folder."""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image

from ganstudio.artifact import atomic
from ganstudio.explore import images
from ganstudio.explore.operations import Render


class Outputs:
    """The files the app hands to Gradio: PNGs/GIFs with their recipe, in a private temporary folder.

    Gradio copies each returned file into its own cache, so files here only have to outlive one request;
    ones older than `keep` seconds are swept away now and then.
    """

    def __init__(self, root: Path | None = None, keep: float = 600.0):
        self.root = root or Path(tempfile.mkdtemp(prefix="ganstudio-studio-"))
        if root is None:
            atexit.register(shutil.rmtree, self.root, True)
        self.root.mkdir(parents=True, exist_ok=True)
        self._keep = keep
        self._last_sweep = time.monotonic()

    def _path(self, stem: str, recipe: dict, suffix: str, *extra: object) -> Path:
        digest = hashlib.sha256(json.dumps([recipe, *extra], sort_keys=True).encode()).hexdigest()[:10]
        self._sweep()
        return self.root / f"{stem}-{digest}{suffix}"

    def png(self, rendered: Render, stem: str) -> str:
        return str(images.save_png(rendered.image, self._path(stem, rendered.recipe, ".png"), rendered.recipe))

    def gif(self, rendered: Render, stem: str, fps: float) -> str:
        return str(images.save_gif(rendered.gif_frames(), self._path(stem, rendered.recipe, ".gif", fps), rendered.recipe, fps))

    def still(self, rendered: Render, stem: str) -> str:
        """One image's PNG without the grid's border, with its recipe (the current image on the page)."""
        return self.image(images.single(rendered.frames[0][0]), rendered.recipe, stem)

    def image(self, img: Image.Image, recipe: dict, stem: str) -> str:
        """Any picture the page shows, as a PNG with its recipe."""
        return str(images.save_png(img, self._path(stem, recipe, ".png"), recipe))

    def enlarged(self, img: Image.Image, recipe: dict, stem: str, px: int) -> str:
        """img scaled so its longer side is px, nearest neighbour (sharp pixels), as a PNG with its recipe."""
        scale = px / max(img.size)
        big = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.NEAREST)
        return str(images.save_png(big, self._path(stem, recipe, ".png", px), recipe))

    def webp(self, frames: list[Image.Image], stem: str, fps: float, recipe: dict, px: int = 256) -> str:
        """An endlessly looping, lossless animated WebP of frames enlarged to px (Pillow encodes it: nothing to install)."""
        scale = max(1, px // max(frames[0].size))
        big = [f.convert("RGB").resize((f.width * scale, f.height * scale), Image.Resampling.NEAREST) for f in frames]
        out = io.BytesIO()
        big[0].save(out, "WEBP", save_all=True, append_images=big[1:], duration=round(1000 / fps), loop=0, lossless=True)
        return str(atomic.write_bytes(self._path(stem, recipe, ".webp", fps, px), out.getvalue()))

    def copy(self, src: Path, name: str) -> str:
        self._sweep()
        return str(atomic.write_bytes(self.root / name, src.read_bytes()))  # atomic: another request may be reading it

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < 60:
            return
        self._last_sweep = now
        cutoff = time.time() - self._keep
        for p in self.root.iterdir():
            try:
                if p.stat().st_mtime < cutoff:
                    p.unlink()
            except FileNotFoundError:  # another request swept it first
                pass
