"""The generators the studio's model picker offers, and the names clients use for them."""

from __future__ import annotations

import threading

from ganstudio.artifact import catalog
from ganstudio.artifact.checkpoint import WEIGHTS, Card, read_card
from ganstudio.errors import UserError
from ganstudio.explore import limits


class UnknownModel(UserError):
    """A client named a model the picker does not offer (HTTP 404, not 400)."""


class Models:
    """The generators the picker offers: catalog.available() (newest first) plus the one asked for by name.

    A client names a model by its key: its directory name, as `--model NAME` does (when a checkpoint and a run
    share a name, the name is the checkpoint's, as for the CLI, and the run's key is its path). Only models
    listed here can be loaded, so the API cannot be pointed at arbitrary files on the server.
    """

    def __init__(self, preferred: str | None = None):
        self._preferred = catalog.resolve(preferred) if preferred is not None else catalog.default_model()
        self._asked = preferred is not None
        self._lock = threading.Lock()
        self.refresh()
        if not self._by_key:
            raise UserError("no generators found in checkpoints/ or runs/: train one (`ganstudio train mnist`) or pass --model PATH")

    def refresh(self) -> None:
        found = catalog.available()
        if self._preferred is not None and self._preferred not in found:
            found.insert(0, self._preferred)
        names = [m.name for m in found]

        def key(m: catalog.ModelDir) -> str:
            """Its name when that is unambiguous or names it for the CLI too (checkpoints before runs), else its path."""
            if names.count(m.name) == 1:
                return m.name
            first = next(r / m.name for r in catalog.checkpoint_roots() + catalog.run_roots() if (r / m.name / WEIGHTS).is_file())
            return m.name if first.resolve() == m.path else str(m.path)

        by_key = {key(m): m for m in found}
        # Without a preference the newest model opens first, unless it is unreadable: one broken run in runs/
        # must not stop the studio from starting (it stays listed, marked unreadable).
        default = next(k for k, m in by_key.items() if m == self._preferred)
        if not self._asked and not _readable(by_key[default]):
            default = next((k for k, m in by_key.items() if _readable(m)), default)
        with self._lock:
            self._by_key = by_key
            self.default = default

    def get(self, key: str) -> catalog.ModelDir:
        with self._lock:
            model = self._by_key.get(key) if isinstance(key, str) else None
            keys = list(self._by_key)
        if model is None:
            listed = ", ".join(keys[:12]) + (f" and {len(keys) - 12} more" if len(keys) > 12 else "")
            raise UnknownModel(f"unknown model {limits.shown(key)!r}: pick one of {listed}")
        return model

    def max_nz(self) -> int:
        """The largest latent size among the readable models (how many dimension sliders the page needs)."""
        with self._lock:
            models = list(self._by_key.values())
        return max((c.nz for c in map(_card, models) if c is not None), default=1)

    def choices(self) -> list[tuple[str, str]]:
        """(label, key) pairs, newest first: 'mnist-dcgan · mnist · dcgan 28px · 4,000 steps (checkpoints)'."""
        with self._lock:
            items = list(self._by_key.items())
        out = []
        for key, m in items:
            try:
                c = read_card(m.weights)
                label = f"{key} · {c.dataset} · {c.name} {c.image_size}px · {c.training.get('steps', 0):,} steps ({m.path.parent.name})"
            except UserError as e:  # one broken model must not hide the others
                label = f"{key} · unreadable: {e}"
            out.append((label, key))
        return out


def _card(m: catalog.ModelDir) -> Card | None:
    try:
        return read_card(m.weights)
    except UserError:
        return None


def _readable(m: catalog.ModelDir) -> bool:
    return _card(m) is not None
