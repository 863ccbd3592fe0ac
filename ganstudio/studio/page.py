"""What every part of the studio page shares: error handling for callbacks, the components a new current image
updates (Page), and a strip of frames that can be clicked (Strip)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ganstudio.errors import UserError
from ganstudio.studio import views
from ganstudio.studio.service import Studio
from ganstudio.studio.session import Session

log = logging.getLogger("ganstudio.studio")

BUTTONS = ["download", "fullscreen"]  # no "share": nothing leaves this machine
PRIVATE = dict(api_visibility="private")
# The named API endpoints take the client's values as sent: the studio checks them (ganstudio.explore.limits)
# and answers with one line naming the parameter, where Gradio's component checks would answer first with
# their own words (or none: a NaN or a word for a number), print a traceback, and know only the models the
# page was built with (not those a Rescan found).
RAW = dict(preprocess=False)
QUIET = dict(show_progress="hidden", trigger_mode="always_last", api_visibility="private")


def ui(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A person's mistake (UserError) shows as a one-line error in the page; a bug is logged and shown as one
    too. Either way the server keeps serving and nobody sees a stack trace."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            log.warning("ganstudio studio: %s rejected: %s", getattr(fn, "__name__", fn), e)  # one line, no traceback
            raise gr.Error(str(e), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as e:
            log.exception("studio: %s failed", getattr(fn, "__name__", fn))
            raise gr.Error(f"internal error ({type(e).__name__}); the server's log has the details", print_exception=False) from None

    return wrapper


def refused(what: str, e: UserError) -> None:
    """A refused input said in a warning toast, and logged in one line. Unlike gr.Error, nothing else changes:
    an error would mark every output of the event (for a drop: the whole page) with a red "Error" badge."""
    log.warning("ganstudio studio: %s rejected: %s", what, e)
    gr.Warning(str(e))


def ready(s: Session | None) -> Session:
    if s is None:
        raise UserError("the page is still loading; try again in a moment")
    return s


def pixels(label: str, **kw: Any) -> gr.Image:
    """An output image shown with sharp pixels, downloadable."""
    return gr.Image(label=label, type="filepath", interactive=False, buttons=BUTTONS, elem_classes="pixels", **kw)


@dataclass
class Page:
    """The components every part reads or updates. `show_all` (set by the app) renders the current image with
    every slider that depends on it, for the events that change the whole vector."""

    studio: Studio
    session: gr.State
    model: gr.Dropdown
    refresh: gr.Button
    psi: gr.Slider
    how_to: gr.Accordion
    current_img: gr.Image | None = None
    current_info: gr.Markdown | None = None
    current_seed: gr.Number | None = None
    before: gr.Checkbox | None = None
    reset: gr.Button | None = None
    card: gr.Markdown | None = None
    sheet: gr.Image | None = None
    undo: gr.Button | None = None
    redo: gr.Button | None = None
    copy: gr.Button | None = None
    link: gr.Textbox | None = None
    big: list[gr.DownloadButton] = field(default_factory=list)
    drop: gr.File | None = None
    model_out: list[Any] = field(default_factory=list)
    model_panels: Callable[[Session], list[Any]] | None = None
    view_out: list[Any] = field(default_factory=list)
    show_all: Callable[[Session], list[Any]] | None = None

    @property
    def current(self) -> list[Any]:
        return [self.current_img, self.current_info, self.current_seed, self.before]

    def show(self, s: Session) -> list[Any]:
        path, info = self.studio.current(s)
        return [path, info, s.seed, False]

    def whole(self, fn: Callable[..., Any]) -> Callable[..., list[Any]]:
        """A callback fn(session, ...) that changes the whole vector, then everything that shows it. A refused
        value is one warning and one log line, and the page shows the session as it was (a typed box back at
        the value in use), not Gradio's red error on every output."""

        @ui
        def run(s: Session | None, *args: Any) -> list[Any]:
            ready(s)
            try:
                fn(s, *args)
            except UserError as e:
                refused(getattr(fn, "__name__", "change"), e)
            return self.show_all(s)  # type: ignore[misc]

        run.__name__ = getattr(fn, "__name__", "run")
        return run


@dataclass
class Strip:
    """A strip's frames as a gallery (a click makes that frame current), with its PNG and an animated WebP."""

    name: str
    gallery: gr.Gallery
    png: gr.DownloadButton
    webp: gr.DownloadButton
    columns: int
    sources: list[tuple[Any, gr.Slider]] = field(default_factory=list)

    @classmethod
    def build(cls, name: str, label: str, columns: int) -> Strip:
        gr.Markdown(f"**{label}**: click a frame to make it the current image.", elem_classes="strip-label")
        gallery = gr.Gallery(label=label, show_label=False, columns=columns, height="auto",
                             allow_preview=False, object_fit="contain", elem_classes="pixels strip", buttons=[],
                             elem_id=f"{name}-frames")
        with gr.Row():
            png = gr.DownloadButton("⬇ Strip PNG (with recipe)", size="sm", elem_id=f"{name}-png")
            webp = gr.DownloadButton("⬇ Animated WebP", size="sm", elem_id=f"{name}-webp")
        return cls(name, gallery, png, webp, columns)

    def fill(self, event: Any, fps: gr.Slider) -> None:
        """After `event` wrote the strip PNG into self.png: its frames, captioned, and the WebP (wired by wire())."""
        self.sources.append((event, fps))

    def wire(self, page: Page) -> None:
        """Once the whole page exists (a picked frame updates every slider)."""

        @ui
        def frames(s: Session | None, png: str | None, rate: float) -> list[Any]:
            shown = views.strip(page.studio, ready(s), self.name, png)
            cols = min(len(shown), self.columns)
            return [gr.update(value=shown, columns=cols), views.animation(page.studio, png, rate, shown)]

        for event, fps in self.sources:
            event.success(frames, [page.session, self.png, fps], [self.gallery, self.webp], **PRIVATE)

        @ui
        def picked(s: Session | None, evt: gr.SelectData) -> list[Any]:  # evt: Gradio passes it by this annotation
            try:
                views.pick_frame(ready(s), self.name, evt.index)
            except UserError as e:  # a stale strip: the page stays as it was, as Page.whole does it
                refused("frame", e)
            return page.show_all(s)  # type: ignore[misc]

        self.gallery.select(picked, page.session, page.view_out, **PRIVATE)
