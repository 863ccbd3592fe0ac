
import json

import numpy as np
import pytest
from PIL import Image

from ganstudio.artifact import atomic
from ganstudio.explore import images, limits
from ganstudio.errors import UserError


def test_to_uint8_maps_the_output_range_to_0_255():
    x = np.array([-1.0, 0.0, 1.0, 2.0, -3.0], dtype=np.float32).reshape(1, 1, 1, 5)
    got = images.to_uint8(x, (-1.0, 1.0))
    assert got.shape == (1, 1, 5, 1)
    assert got.ravel().tolist() == [0, 128, 255, 255, 0]
    assert images.to_uint8(np.full((1, 3, 2, 2), 0.5, np.float32), (0.0, 1.0)).ravel()[0] == 128


def test_tile_layout_and_padding():
    tiles = np.stack([np.full((4, 5, 3), i, np.uint8) for i in range(1, 7)])
    grid = images.tile(tiles)
    assert grid.size == (2 + 3 * 7, 2 + 2 * 6)  # 6 images -> 2 rows x 3 cols, 2-px borders
    arr = np.asarray(grid)
    assert arr[2, 2].tolist() == [1, 1, 1]
    assert arr[2 + 6, 2 + 7 * 2].tolist() == [6, 6, 6]
    assert arr[0, 0].tolist() == [0, 0, 0]


def test_grey_images_stay_grey():
    assert images.tile(np.zeros((2, 3, 3, 1), np.uint8)).mode == "L"


def test_png_and_gif_carry_their_recipe(tmp_path):
    recipe = {"op": "sample", "seed": 3, "model_sha256": "ab" * 32}
    img = images.tile(np.zeros((4, 6, 6, 1), np.uint8))
    images.save_png(img, tmp_path / "a.png", recipe)
    assert images.read_recipe(tmp_path / "a.png") == recipe
    other = images.tile(np.full((4, 6, 6, 1), 200, np.uint8))
    images.save_gif([img, other], tmp_path / "a.gif", recipe, fps=5)
    assert images.read_recipe(tmp_path / "a.gif") == recipe
    with Image.open(tmp_path / "a.gif") as g:
        assert g.n_frames == 2
    Image.new("L", (2, 2)).save(tmp_path / "plain.png")
    assert images.read_recipe(tmp_path / "plain.png") is None


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")

    def boom(*_):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(UserError, match="cannot write .*disk full"):
        atomic.write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_atomic_write_to_unwritable_place_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot write"):
        atomic.write_bytes(blocker / "sub" / "x.png", b"")


def test_a_png_whose_recipe_is_not_json_or_not_an_image_is_one_line(tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(images.RECIPE_KEY, "{not json")
    Image.new("L", (2, 2)).save(tmp_path / "bad.png", pnginfo=info)
    with pytest.raises(UserError, match="recipe is not valid JSON") as e:
        images.read_recipe(tmp_path / "bad.png")
    assert "\n" not in str(e.value)
    info = PngImagePlugin.PngInfo()
    info.add_text(images.RECIPE_KEY, "[1, 2]")
    Image.new("L", (2, 2)).save(tmp_path / "list.png", pnginfo=info)
    with pytest.raises(UserError, match="not a JSON object"):
        images.read_recipe(tmp_path / "list.png")
    (tmp_path / "noise.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(UserError, match="not an image"):
        images.read_recipe(tmp_path / "noise.png")


def declared_png(width: int, height: int, recipe: dict | None = None) -> bytes:
    """A few hundred bytes of PNG whose header declares width x height grey pixels (its data is one row: decoding
    it would allocate the whole image, then find the data short)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    text = chunk(b"tEXt", images.RECIPE_KEY.encode() + b"\0" + json.dumps(recipe).encode()) if recipe else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + text
            + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1))) + chunk(b"IEND", b""))


@pytest.fixture()
def no_decoding(monkeypatch):
    """Fails the test when anything decodes an image's pixels."""
    from PIL import ImageFile

    def load(self):
        raise AssertionError(f"decoded a {self.size} image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def test_a_recipe_is_read_without_decoding_the_image(tmp_path, no_decoding):
    recipe = {"op": "sample", "seed": 3}
    (tmp_path / "a.png").write_bytes(images.png_bytes(Image.new("L", (300, 200)), recipe))
    assert images.read_recipe(tmp_path / "a.png") == recipe


@pytest.mark.parametrize("width, height, message", [
    (9000, 9000, "is 9000x9000 pixels: images up to 40,000,000 pixels can be read"),
    (20000, 20000, "declares more than .* pixels: images up to 40,000,000 pixels can be read"),  # over Pillow's bomb limit
])
def test_a_file_declaring_too_many_pixels_is_refused_before_it_is_decoded(tmp_path, no_decoding, width, height, message):
    path = tmp_path / "big.png"
    path.write_bytes(declared_png(width, height, {"op": "sample", "seed": 1}))
    with pytest.raises(UserError, match="big.png " + message) as e:
        images.read_recipe(path)
    assert "\n" not in str(e.value)


def test_a_recipe_file_over_the_byte_limit_is_refused_before_it_is_opened(tmp_path, monkeypatch):
    (tmp_path / "a.png").write_bytes(images.png_bytes(Image.new("L", (8, 8)), {"op": "sample"}) + bytes(2**20))
    monkeypatch.setattr(limits, "PROJECT_BYTES", 2**20)
    monkeypatch.setattr(Image, "open", lambda *_: pytest.fail("opened"))
    with pytest.raises(UserError, match=r"a.png is 1\.0 MiB: images up to 1 MiB can be read"):
        images.read_recipe(tmp_path / "a.png")
