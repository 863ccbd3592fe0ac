"""The generators the studio's model picker offers, and the names clients use for them."""

from __future__ import annotations

import threading

from ganstudio.artifact import catalog
from ganstudio.artifact.checkpoint import WEIGHTS, read_card
from ganstudio.errors import UserError


class Models:
    """The generators the picker offers: catalog.available() (newest first) plus the one asked for by name.

    A client names a model by its key: its directory name, as `--model NAME` does (when a checkpoint and a run
    share a name, the name is the checkpoint's, as for the CLI, and the run's key is its path). Only models
    listed here can be loaded, so the API cannot be pointed at arbitrary files on the server.
    """

    def __init__(self, preferred: str | None = None):
        self._preferred = catalog.resolve(preferred) if preferred is not None else catalog.default_model()
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

        with self._lock:
            self._by_key = {key(m): m for m in found}
            self.default = next(k for k, m in self._by_key.items() if self._preferred in (None, m))

    def get(self, key: str) -> catalog.ModelDir:
        with self._lock:
            model = self._by_key.get(key)
            keys = list(self._by_key)
        if model is None:
            raise UserError(f"unknown model {key!r}: pick one of {', '.join(keys)}")
        return model

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
