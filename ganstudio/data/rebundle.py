"""`python -m ganstudio.data.rebundle`: rewrite ganstudio's copies of its evaluation data (see bundled.py) from the
packages they come from, through the dataset loaders themselves, so a copy is what the loader gives."""

from __future__ import annotations

import numpy as np

from ganstudio.data import bundled, datasets


def main() -> None:
    datasets.mnist_csv(), datasets.emoji_files()  # the packages themselves, never the copies this rewrites
    for (name, size), file in bundled.FILES.items():
        ds = datasets.load(name, None, size)
        arrays = {"images": ds.images} | ({"labels": ds.labels.astype(np.uint8)} if ds.labels is not None else {})
        np.savez_compressed(bundled.FOLDER / file, **arrays)
        print(f"wrote {bundled.FOLDER / file} ({len(ds.images):,} images, {(bundled.FOLDER / file).stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
