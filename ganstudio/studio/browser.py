"""The studio's page runs the generator itself while a slider moves (ganstudio.web: explore.js and studio.js).

The server keeps the session and everything that needs it; during a drag the page draws each frame from the
model's record and graph (served under /web by ganstudio.web.routes) and the server hears only where the drag
ended. A page that cannot run the model keeps today's server path and says so once.

window.ganstudio.set(state) on this page goes through the server too (a hidden box, wired by `wire`): the
session is the source of truth for downloads, undo and links, so a state becomes current there first.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import gradio as gr
from starlette.types import ASGIApp

from ganstudio.artifact.checkpoint import sha256_file
from ganstudio.errors import UserError
from ganstudio.studio import views
from ganstudio.studio.page import PRIVATE, Page, ready, refused
from ganstudio.studio.service import Studio
from ganstudio.studio.session import Session
from ganstudio.web import record, routes

HEAD = '<script type="module" src="/web/static/studio.js"></script>'


@lru_cache(maxsize=64)
def _sha256(path: str, mtime: float, size: int) -> str:
    return sha256_file(Path(path))


def app(studio: Studio) -> ASGIApp:
    """The /web routes for the studio's models, found by the sha256 of their weights."""
    lock = threading.Lock()
    records: dict[tuple[str, str], dict[str, Any]] = {}

    def lookup(sha: str) -> tuple[dict[str, Any], Path] | None:
        for _, key in studio.models.choices():
            try:
                m = studio.models.get(key)
                stat = m.weights.stat()
                if _sha256(str(m.weights), stat.st_mtime, stat.st_size) != sha:
                    continue
                gen, an = studio.generator(key), studio.analysis(key)
            except (OSError, UserError):  # an unreadable model is not the one asked for
                continue
            with lock:
                found = records.get((key, sha))
                if found is None or len(found["directions"]) != len(an.bases()):  # class directions made meanwhile
                    found = records[(key, sha)] = {**record.model_record(gen, an.effects, an.directions, an.classes), "key": key}
            return found, m.graph
        return None

    return routes.app(lookup)


def wire(page: Page) -> None:
    """The box window.ganstudio.set writes "<nonce>?<link query>" into; the answer, "<nonce> ok" or "<nonce> <why
    not>", comes back in the same box with the new current image. Once Page.show_all exists."""
    box = gr.Textbox(visible="hidden", elem_id="web-set", container=False)
    full = [page.model, page.psi, *page.view_out]

    def opened(s: Session | None, asked: str) -> list[Any]:
        nonce, _, query = asked.partition("?")
        try:
            with ready(s).lock:
                s.remember()
                views.open_link(page.studio, s, dict(parse_qsl(query, keep_blank_values=True)))
        except UserError as e:  # the page stays as it was
            refused("window.ganstudio.set", e)
            return [f"{nonce} {e}", *[gr.skip()] * len(full)]
        st = s.state()
        return [f"{nonce} ok", st.model, st.psi, *page.show_all(s)]  # type: ignore[misc]

    box.submit(opened, [page.session, box], [box, *full], **PRIVATE)
