"""A lexicon that stays current while the service runs: every process follows the term change log
(``term_changes``) and, when it moved, rebuilds its lexicon as the base lists merged with the platform's
active terms, then swaps it in. A lead's change is applied by every ``bastion serve`` process within one
poll (a second by default), without a restart. An idle poll is one indexed ``max(id)`` query."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from bastion.store.db import Store
from bastion.terms.models import TermChangeRow


class LiveLexicon:
    def __init__(self, store: Store, base=None):
        from bastion.text.lexicon import default_lexicon

        self.store = store
        self.base = base if base is not None else default_lexicon()
        self._lock = threading.Lock()
        self._current = self.base
        self.last_change = 0
        self.rebuilds = 0
        self.refresh()

    @property
    def current(self):
        return self._current

    def refresh(self) -> int:
        """Apply what changed since the last call; returns 1 when the lexicon was rebuilt, else 0."""
        from bastion.terms.service import platform_lexicon

        with self.store.session() as s:
            top = s.scalar(select(func.max(TermChangeRow.id))) or 0
            if top == self.last_change:
                return 0
            platform = platform_lexicon(s)
        lex = self.base.merged(platform).prepare() if platform.entries else self.base
        with self._lock:
            if top > self.last_change:
                self._current, self.last_change = lex, top
                self.rebuilds += 1
        return 1
