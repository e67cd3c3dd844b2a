"""Undo and redo of the user's edits to a file: its segments' locks, mutes, edits, levels and regenerated seeds,
and its stretches without music.

Each file keeps its own history, in memory for the session. A step is the file's edits before a change
(QueueItem.user_edits), recorded once the change is made; undoing one takes the file back to them. The music follows
at the next preview, as after any edit (a tile says "edited: preview to hear it"): undoing a Regenerate brings back
the seed it replaced, not its audio, which the next preview makes again.
"""

from __future__ import annotations

from collections import defaultdict

from cotvtm_desktop.gui.queue import QueueItem


class EditHistory:
    def __init__(self) -> None:
        self._now: dict[str, dict] = {}  # each file's edits as last seen or recorded
        self._undo: dict[str, list[tuple[str, dict]]] = defaultdict(list)  # (what changed, the edits before it)
        self._redo: dict[str, list[tuple[str, dict]]] = defaultdict(list)

    def seen(self, item: QueueItem) -> None:
        """The file's edits as they are now are what the next change starts from (after a preview made its
        segments anew, say)."""
        self._now[item.id] = item.user_edits()

    def record(self, item: QueueItem, what: str) -> None:
        """The user changed the file (`what`, for the Undo button: "muting segment 2"); nothing is recorded when
        nothing changed."""
        before, now = self._now.get(item.id), item.user_edits()
        if before is not None and before != now:
            self._undo[item.id].append((what, before))
            self._redo[item.id].clear()
        self._now[item.id] = now

    def undo(self, item: QueueItem) -> str | None:
        """Take back the file's last change; what it was, or None when there is none."""
        return self._step(item, self._undo[item.id], self._redo[item.id])

    def redo(self, item: QueueItem) -> str | None:
        return self._step(item, self._redo[item.id], self._undo[item.id])

    def next_undo(self, item: QueueItem | None) -> str | None:
        return self._undo[item.id][-1][0] if item is not None and self._undo[item.id] else None

    def next_redo(self, item: QueueItem | None) -> str | None:
        return self._redo[item.id][-1][0] if item is not None and self._redo[item.id] else None

    def forget(self, item: QueueItem) -> None:
        for kept in (self._now, self._undo, self._redo):
            kept.pop(item.id, None)

    def _step(self, item: QueueItem, source: list[tuple[str, dict]], target: list[tuple[str, dict]]) -> str | None:
        if not source:
            return None
        what, edits = source.pop()
        target.append((what, item.user_edits()))
        item.take_edits(edits)
        self._now[item.id] = item.user_edits()
        return what
