"""The studio in a real browser: Debian's chromium driven by Playwright, against a server started here on
127.0.0.1 with the shipped checkpoint. Skipped, with the reason, when chromium or Playwright is missing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from conftest import IN_BROWSER, SHIPPED, expect

pytestmark = IN_BROWSER


@pytest.fixture(scope="module")
def tab(chromium, server):
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((server, "data:", "blob:")) else None)
    yield page, outside
    page.close()


@pytest.fixture
def page(tab, server):
    """The studio freshly opened for each test: no message, filter or permalink left by the one before
    (an earlier test's error toast, still up under load, failed a later test's "no message" check)."""
    page, outside = tab
    page.goto(server)
    expect(page.locator("#current-info")).to_contain_text("seed")
    return page, outside


def test_slider_sweep_and_screenshot(page, tmp_path: Path):
    page, outside = page
    current = page.locator("#current img")
    expect(current).to_be_visible()
    first = current.get_attribute("src")

    page.locator("#grid-tiles button.thumbnail-item").nth(3).click()  # pick seed 3 from the grid
    expect(current).not_to_have_attribute("src", first)
    expect(page.locator("#current-info")).to_contain_text("seed 3")
    picked = current.get_attribute("src")

    page.get_by_role("tab", name="Dimensions").click()
    slider = page.locator(".dims input[type=range]").first  # the strongest dimension
    slider.focus()
    slider.press("End")  # as a person drags it to the top: the image re-renders live
    expect(current).not_to_have_attribute("src", picked)
    expect(page.locator("#current-info")).to_contain_text("=+4.00")

    page.get_by_role("button", name="Sweep this dimension").click()
    frames = page.locator("#sweep-frames .thumbnail-item")
    expect(frames).to_have_count(10)  # one clickable frame per step, its value under it
    expect(page.locator("#sweep-frames")).to_contain_text("+3.00")
    expect(page.locator("#sweep-png")).to_be_visible()

    page.screenshot(path=tmp_path / "studio.png", full_page=True)
    assert (tmp_path / "studio.png").stat().st_size > 10_000
    assert not page.locator(".toast-body").is_visible()  # no error message anywhere
    assert outside == []  # the page fetched nothing but the local server

    search = page.get_by_label("Find dimensions")  # a mistake shows as a one-line message; the page keeps working
    search.fill("3; 7")
    search.press("Enter")
    expect(page.locator(".toast-body")).to_contain_text("dimension filter '3;'")
    search.fill("10-13")
    search.press("Enter")
    expect(page.locator(".dims input[type=range]:visible")).to_have_count(4)


def info(page) -> str:
    return page.locator("#current-info").inner_text()


def test_frames_undo_link_and_directions(page, tmp_path: Path):
    page, outside = page
    page.get_by_role("tab", name="Sample").click()
    typed = page.locator("input[type=number][aria-label*='Images (n)']")
    typed.fill("6")
    typed.press("Enter")  # Enter applies a typed n
    expect(page.locator("#grid-tiles button.thumbnail-item")).to_have_count(6)
    page.locator("#grid-tiles button.thumbnail-item").nth(5).click()
    expect(page.locator("#current-info")).to_contain_text("seed 5")
    expect(page.locator("#current-info")).to_contain_text("unedited")
    expect(page.locator("#how-to").get_by_text("How to explore.")).to_be_hidden()  # read: it collapsed

    page.get_by_role("tab", name="Dimensions").click()
    page.locator(".sweep-one").first.click()  # ⇆ beside the strongest dimension's slider
    frames = page.locator("#sweep-frames .thumbnail-item")
    expect(frames).to_have_count(10)
    frames.first.click()  # the frame at -3 becomes the current image
    expect(page.locator("#current-info")).to_contain_text("=-3.00")
    expect(page.locator(".dims input[type=range]").first).to_have_value("-3")
    page.screenshot(path=tmp_path / "frame-picked.png", full_page=True)

    page.locator("#undo").click()
    expect(page.locator("#current-info")).to_contain_text("unedited")
    page.locator("#redo").click()
    expect(page.locator("#current-info")).to_contain_text("=-3.00")
    edited = info(page)

    page.get_by_role("tab", name="Directions").click()
    sefa = page.locator("input[type=range][aria-label*='SeFa 2']").first
    sefa.focus()
    sefa.press("End")  # SeFa 2 to its top
    expect(page.locator("#current-info")).to_contain_text("SeFa 2:+10.0")
    page.locator(".slot", has=sefa).locator("button.reset-button").click()  # its ↺: back to 0, and the image with it (defect 11)
    expect(page.locator("#current-info")).not_to_contain_text("SeFa")
    assert info(page) == edited

    page.locator("#copy-link").click()
    link = page.locator("#link textarea")
    expect(link).to_have_value(re.compile(r"\?model=.*seed=5.*dims="))
    other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    other.goto(link.input_value())
    expect(other.locator("#current-info")).to_contain_text("=-3.00")
    assert other.locator("#current-info").inner_text() == edited
    other.screenshot(path=tmp_path / "link-opened.png", full_page=True)
    other.close()
    assert not page.locator(".toast-body").is_visible()
    assert outside == []


def test_dropping_a_recipe_png_restores_it(page, tmp_path: Path):
    import subprocess
    import sys

    page, _ = page
    png = tmp_path / "seed42.png"
    subprocess.run([sys.executable, "-m", "ganstudio", "sample", "--model", str(SHIPPED), "--seed", "42", "--n", "1",
                    "--psi", "0.7", "--out", str(png)], check=True, capture_output=True)
    page.locator("#drop input[type=file]").set_input_files(str(png))
    expect(page.locator("#current-info")).to_contain_text("seed 42")
    expect(page.locator("#current-info")).to_contain_text("ψ 0.7")
    page.screenshot(path=tmp_path / "dropped.png", full_page=True)

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    page.locator("#drop input[type=file]").set_input_files(str(broken))
    expect(page.locator(".toast-body.warning")).to_contain_text("broken.png: not an image ganstudio can read")
    expect(page.locator(".toast-body.error")).to_have_count(0)  # refused, not failed: no red badge on every part
    expect(page.get_by_text("Error", exact=True)).to_have_count(0)
    expect(page.locator("#current-info")).to_contain_text("seed 42")  # nothing changed
    expect(page.locator("#drop input[type=file]")).to_be_attached()  # and the zone is ready for the next file


def test_a_class_direction_slider_turns_the_digit(page, tmp_path: Path):
    """The shipped model's class directions (`ganstudio directions mnist-dcgan`): → 7, conditional, a sweep."""
    page, outside = page
    page.get_by_role("tab", name="Sample").click()
    page.locator("#grid-tiles button.thumbnail-item").first.click()
    expect(page.locator("#current-info")).to_contain_text("unedited")
    before = page.locator("#current img").get_attribute("src")
    page.get_by_role("tab", name="Classes").click()
    seven = page.locator("input[type=range][aria-label*='→ 7']").first
    expect(seven).to_be_visible()
    seven.focus()
    seven.press("End")  # as a person drags it to the top (one key: arrow presses race the re-render of every slider)
    expect(page.locator("#current-info")).to_contain_text("→ 7 +10.0")
    expect(page.locator("#current img")).not_to_have_attribute("src", before)
    page.screenshot(path=tmp_path / "class-seven.png", full_page=True)

    page.get_by_label("Keep the other classes").check()  # the same amount along the conditional direction
    expect(page.locator("#current-info")).to_contain_text("→ 7 +10.0 (others held)")
    page.locator(".slot", has=seven).locator(".sweep-one").click()
    frames = page.locator("#classdir-frames .thumbnail-item")
    expect(frames).to_have_count(9)
    expect(page.locator("#classdir-frames")).to_contain_text("+6.0")
    frames.last.click()  # the +6 frame becomes the current image
    expect(page.locator("#current-info")).to_contain_text("→ 7 +6.0 (others held)")
    expect(seven).to_have_value("6")
    page.screenshot(path=tmp_path / "class-sweep.png", full_page=True)
    assert not page.locator(".toast-body").is_visible()
    assert outside == []


def test_dropping_a_real_digit_projects_it_and_it_can_be_edited(page, tmp_path: Path):
    """Bring your own image: a held-out MNIST digit (no recipe) becomes the closest image the model draws."""
    from ganstudio.data import datasets
    from ganstudio.eval import split

    page, outside = page
    ds = datasets.load("mnist")
    digit = tmp_path / "digit.png"
    Image.fromarray(ds.images[split.split("mnist", len(ds.images))[1][0], 0]).resize((112, 112)).save(digit)
    before = page.locator("#current img").get_attribute("src")
    page.locator("#drop input[type=file]").set_input_files(str(digit))
    expect(page.locator(".toast-body").filter(has_text="Projected digit.png")).to_contain_text("error (pixel MSE)")
    expect(page.locator("#current img")).not_to_have_attribute("src", before)
    expect(page.locator("#current-info")).to_contain_text("projected digit.png")  # named, not "100 dims set"
    expect(page.locator(".toast-body").filter(has_text="POOR MATCH")).to_have_count(0)  # a real digit projects well
    page.screenshot(path=tmp_path / "projected.png", full_page=True)
    projected = page.locator("#current img").get_attribute("src")
    page.locator("#before input").check()  # the visual check: the dropped digit beside its projection
    expect(page.locator("#current-info")).to_contain_text("your image (left) beside its projection (right)")
    page.locator("#before input").uncheck()
    expect(page.locator("#current img")).to_have_attribute("src", projected)

    page.get_by_role("tab", name="Dimensions").click()
    slider = page.locator(".dims input[type=range]").first
    value = slider.input_value()
    slider.focus()
    slider.press("End")  # edited like any other image
    expect(page.locator("#current img")).not_to_have_attribute("src", projected)
    expect(page.locator("#current-info")).to_contain_text(re.compile(r"projected digit\.png · dims \d+=\+4\.00"))
    page.locator("#undo").click()
    expect(slider).to_have_value(value)
    assert not page.locator(".toast-body.error").is_visible()
    assert outside == []


def test_the_timeline_tab_is_there_only_for_a_model_that_kept_snapshots(page, tmp_path: Path):
    """mnist-dcgan kept snapshots, fashion-mnist-wgangp none: switching hides the tab, in the overflow menu as in
    the tab bar (and leaves it if it was open); switching back shows it again."""
    page, outside = page
    page.set_viewport_size({"width": 1100, "height": 1000})  # narrow: the last tab is in the overflow menu
    more = page.get_by_role("button", name="More tabs")
    more.click()
    page.locator(".overflow-dropdown button", has_text="Timeline").click()
    expect(page.locator("#timeline-step")).to_be_visible()

    def switch(name: str) -> None:
        page.locator("#model input").click()
        page.get_by_role("option", name=re.compile(f"^{name} ")).click()
        expect(page.locator("#card")).to_contain_text(name)

    switch("fashion-mnist-wgangp")
    expect(page.locator("#timeline-step")).to_be_hidden()
    more.click()  # the menu still holds the tabs that do not fit, but no timeline
    expect(page.locator(".overflow-dropdown button", has_text="Walk")).to_be_visible()
    expect(page.locator(".overflow-dropdown button", has_text="Timeline")).to_be_hidden()
    page.keyboard.press("Escape")
    expect(page.get_by_role("tab", name="Sample")).to_have_attribute("aria-selected", "true")
    page.screenshot(path=tmp_path / "no-timeline.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 720})  # issue 22 defect 7: at 1280x720 every tab is in the bar
    try:
        in_bar = page.locator("#timeline-tab-button")
        expect(page.get_by_role("tab", name="Walk")).to_be_visible()
        expect(in_bar).to_be_hidden()
        switch("mnist-dcgan")
        expect(in_bar).to_be_visible()
        in_bar.click()
        expect(page.locator("#timeline-step")).to_be_visible()
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})
    assert not page.locator(".toast-body").is_visible()
    assert outside == []


def test_a_dropped_png_of_another_model_redraws_the_grid_with_that_model(page, tmp_path: Path):
    """Issue 22 defect 4: the old model's tiles stayed, and a click on one made the new model's seed current."""
    import subprocess
    import sys

    page, _ = page
    page.get_by_role("tab", name="Sample").click()
    first = page.locator("#grid-tiles button.thumbnail-item img").first
    expect(first).to_be_visible()
    digits = first.get_attribute("src")
    png = tmp_path / "shirt.png"
    subprocess.run([sys.executable, "-m", "ganstudio", "sample", "--model", "fashion-mnist-dcgan", "--seed", "5", "--n", "1",
                    "--out", str(png)], check=True, capture_output=True)
    page.locator("#drop input[type=file]").set_input_files(str(png))
    expect(page.locator("#current-info")).to_contain_text("seed 5")
    expect(first).not_to_have_attribute("src", digits)  # the same seeds, drawn by fashion-mnist-dcgan
    first.click()
    expect(page.locator("#current-info")).to_contain_text("seed 0")
    expect(page.locator(".toast-body.warning")).to_have_count(0)  # the pick was taken, not refused
    expect(page.locator(".toast-body.error")).to_have_count(0)


def test_the_model_card_reads_in_words_and_its_neighbour_sheet_is_readable(page, tmp_path: Path):
    """Issue 22 defect 8: the card was for experts, the sheet 62 px high under its own label, its Share button failed."""
    page, _ = page
    card = page.locator("#card")
    expect(card.locator("table")).to_contain_text("of real data's")
    expect(card).to_contain_text("↑ higher is better, ↓ lower is better")
    fold = card.locator("details")
    expect(fold.locator("summary")).to_have_text("the copying test's figures")
    assert fold.evaluate("d => d.open") is False  # the statistics wait in the fold
    fold.locator("summary").click()
    assert fold.evaluate("d => d.open") is True
    expect(fold).to_contain_text("C_T")
    sheet = page.locator("#eval-sheet")
    expect(sheet.locator("img")).to_be_visible()
    assert sheet.locator("img").bounding_box()["height"] >= 100
    for label in sheet.locator("label").all():  # nothing drawn over the generated row
        box, img = label.bounding_box(), sheet.locator("img").bounding_box()
        assert box is None or not label.is_visible() or box["y"] + box["height"] <= img["y"], (box, img)
    expect(sheet.get_by_role("button", name=re.compile("share", re.I))).to_have_count(0)
    sheet.screenshot(path=tmp_path / "sheet.png")


def test_the_current_image_stays_in_view_beside_a_strip(page, tmp_path: Path):
    """Issue 22 defect 2: at 1280x720 the current image was 618 px above the viewport when a strip was in view,
    so a clicked frame changed an image nobody could see."""
    page, _ = page
    page.set_viewport_size({"width": 1280, "height": 720})
    try:
        page.get_by_role("tab", name="Dimensions").click()
        page.get_by_role("button", name="Sweep this dimension").click()
        frames = page.locator("#sweep-frames .thumbnail-item")
        expect(frames.first).to_be_visible()
        frames.last.scroll_into_view_if_needed()
        shown = page.locator("#current img").get_attribute("src")
        frames.last.click()
        expect(page.locator("#current img")).not_to_have_attribute("src", shown)
        box = page.locator("#current img").bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 720, box  # wholly on screen
        page.screenshot(path=tmp_path / "strip-and-current.png")
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


def test_the_layout_at_1280x720(page, tmp_path: Path):
    """Issue 22 defect 7: 100 sliders in an 8-row scroll box, the timeline behind a menu, the sweep controls
    clipped, one 750 px tile for n = 1, a label over the timeline chart's title."""
    page, _ = page
    page.set_viewport_size({"width": 1280, "height": 720})
    try:
        expect(page.locator("#timeline-tab-button")).to_be_visible()  # every tab in the bar
        page.get_by_role("tab", name="Dimensions").click()
        dims = page.locator(".dims").first
        expect(dims).to_be_visible()
        assert dims.evaluate("d => d.scrollHeight <= d.clientHeight + 1 && getComputedStyle(d).overflowY !== 'auto'")
        panel = page.locator(".tabitem", has=page.locator(".dims")).first
        tab = panel.bounding_box()["x"] + panel.bounding_box()["width"]
        for label in ("Dimension", "number input for Steps", "range slider for GIF fps", "number input for GIF fps",
                      "number input for To"):
            box = panel.get_by_label(label, exact=True).first.bounding_box()
            assert box is not None and box["x"] + box["width"] <= tab + 1, (label, box, tab)  # inside the tab, not cut off
        page.get_by_role("tab", name="Sample").click()
        n = page.get_by_label("number input for Images (n)", exact=True).first
        n.fill("1")
        n.press("Enter")
        tiles = page.locator("#grid-tiles button.thumbnail-item")
        expect(tiles).to_have_count(1)
        width = page.locator("#grid-tiles").bounding_box()["width"]
        assert tiles.first.bounding_box()["width"] <= width / 6, "one tile keeps a grid tile's size"
        page.get_by_role("tab", name="Timeline").click()
        chart = page.locator("#timeline-curves")
        expect(chart.locator("img")).to_be_visible()
        assert chart.locator("label").count() == 0 or not chart.locator("label").first.is_visible()
        page.screenshot(path=tmp_path / "layout-1280.png")
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})
