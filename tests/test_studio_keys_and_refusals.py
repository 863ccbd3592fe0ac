"""Issue 22's studio defects 1 and 3 in Debian's chromium: Enter in the seed boxes does what their labels say,
and a refused value is one message in the studio's words, the page as it was, and one log line."""

from __future__ import annotations

import logging
import re

import pytest

from conftest import IN_BROWSER, expect

pytestmark = IN_BROWSER
SRC = "document.querySelector('#current img').src"


@pytest.fixture
def page(chromium, server):
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(server)
    expect(page.locator("#current-info")).to_contain_text("seed 0")
    yield page
    page.close()


def test_enter_in_the_seed_boxes_applies_them(page):
    current = page.get_by_label("Current seed (Enter to jump)")
    current.fill("17")
    current.press("Enter")
    expect(page.locator("#current-info")).to_contain_text("seed 17")

    first = page.get_by_label("First seed")
    first.fill("40")
    first.press("Enter")
    expect(page.locator("#grid-tiles")).to_contain_text("seed 40")
    expect(page.locator("#grid-tiles")).not_to_contain_text("seed 0 ")


def _settled(page) -> str:
    """The current image's source once it has stayed the same for a second."""
    src = None
    while src != page.evaluate(SRC):
        src = page.evaluate(SRC)
        page.wait_for_timeout(1000)
    return src


def _unchanged(page, src: str, sliders: list[str]) -> None:
    """The page as it was: the same image and slider values, and no red "Error" on any output."""
    assert page.evaluate(SRC) == src
    assert page.locator(".dims input[type=range]").evaluate_all("(xs) => xs.map((x) => x.value)") == sliders
    assert page.get_by_text("Error", exact=True).count() == 0


@pytest.mark.parametrize("what, typed, message", [
    ("psi", "9", "psi 9.0 is out of range"),
    ("seed", "-5", "seed -5 is out of range: use 0..4294967295"),
    ("filter", "3; 7", "dimension filter '3;'"),
    ("n", "5000", "n 5000 is out of range"),
])
def test_a_refused_value_is_one_message_the_page_as_it_was_and_one_log_line(page, caplog, what, typed, message):
    page.get_by_role("tab", name="Sample" if what == "n" else "Dimensions").click()
    src = page.evaluate(SRC)
    sliders = page.locator(".dims input[type=range]").evaluate_all("(xs) => xs.map((x) => x.value)")
    box = {"psi": page.locator("input[type=number][aria-label*='Truncation']"),
           "seed": page.get_by_label("Current seed (Enter to jump)"),
           "filter": page.get_by_label("Find dimensions"),
           "n": page.locator("input[type=number][aria-label*='Images (n)']")}[what]
    was = box.input_value()
    with caplog.at_level(logging.WARNING, logger="ganstudio.studio"):
        box.fill(typed)
        box.press("Enter")
        expect(page.locator(".toast-body")).to_contain_text(message)
        expect(page.locator(".toast-body")).to_have_count(1)
        if what != "filter":  # a typed value that was not applied does not stay in its box
            expect(box).to_have_value(was)
    _unchanged(page, src, sliders)
    logged = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(logged) == 1 and message in logged[0].getMessage() and "\n" not in logged[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)


def test_a_click_on_a_strip_of_the_model_left_behind_is_refused_and_changes_nothing(page, caplog):
    page.get_by_role("tab", name="Dimensions").click()
    page.locator(".sweep-one").first.click()
    frames = page.locator("#sweep-frames .thumbnail-item")
    expect(frames).to_have_count(10)
    page.locator("#model input").click()
    page.get_by_role("option", name="mnist-mlp", exact=False).first.click()
    page.wait_for_function(f"!{SRC}.startsWith('data:') && window.ganstudio.state() && window.ganstudio.state().seed === 0")
    expect(page.locator("#model input")).to_have_value(re.compile("^mnist-mlp"))
    expect(page.locator("#card")).to_contain_text("mnist-mlp")  # the switch's outputs (image, card, grid) have arrived
    src = _settled(page)  # the switch's last outputs (it redraws the grid too)
    sliders = page.locator(".dims input[type=range]").evaluate_all("(xs) => xs.map((x) => x.value)")
    frame = frames.nth(2)
    frame.scroll_into_view_if_needed()
    box = None
    while box != frame.bounding_box():  # the other model's slider labels re-flow the long tab: click where it settled
        box = frame.bounding_box()
        page.wait_for_timeout(500)
    with caplog.at_level(logging.WARNING, logger="ganstudio.studio"):
        frame.click()
        expect(page.locator(".toast-body")).to_contain_text("that strip was made with another model")
    _unchanged(page, src, sliders)
    assert len([r for r in caplog.records if "rejected" in r.getMessage()]) == 1
