"""What a batch call returns: the good results and, beside them, the per-item errors."""

from __future__ import annotations

from typing import Any


class BatchResult(dict):
    """A dict ``item -> result`` of the items that worked, plus :attr:`errors`.

    A batch call (``vafusion.predict([...])``, ``vafusion.process_files([...])``) never
    discards good results because one item failed: the failures are listed here, one line
    each, and the call returns normally.

    Attributes
    ----------
    errors : dict of str to str
        Item -> one-line error naming the file and the problem.

    Examples
    --------
    >>> out = BatchResult({"a.mp4": 1}, errors={"b.mp4": "b.mp4: no video stream"})
    >>> out.ok, list(out), out.errors["b.mp4"]
    (False, ['a.mp4'], 'b.mp4: no video stream')
    """

    def __init__(self, results: dict[str, Any] | None = None, *, errors=None) -> None:
        super().__init__(results or {})
        self.errors: dict[str, str] = dict(errors or {})

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return not self.errors

    def __repr__(self) -> str:
        return f"BatchResult({len(self)} ok, {len(self.errors)} failed)"
