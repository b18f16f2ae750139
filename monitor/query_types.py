"""Value types shared by the query engine, explanations and snippets.

Stage: plain data (documents in, matches out).  Must not: contain matching logic, do I/O,
or import the rest of the engine (everything else imports this module).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FIELDS", "Document", "Hit", "QuerySyntaxError", "WatchMatch"]

FIELDS: tuple[str, str] = ("title", "body")
"""Searchable fields, in index order (field 0 is the title, field 1 the body)."""


@dataclass(frozen=True, slots=True)
class Document:
    """One news item as the matcher sees it; ``language`` is an ISO 639-1 code if known."""

    title: str
    body: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """Where a query term matched: ``[start, end)`` offsets into the field's original text."""

    field: str
    start: int
    end: int
    term: str


@dataclass(frozen=True, slots=True)
class WatchMatch:
    """A watch that matched a document, with the terms that made it match."""

    watch: str
    matched_terms: tuple[str, ...]
    hits: tuple[Hit, ...]


class QuerySyntaxError(ValueError):
    """A malformed query; ``column`` is 1-based.  ``str()`` shows the query and a caret."""

    def __init__(self, query: str, column: int, message: str) -> None:
        self.query = query
        self.column = max(1, column)
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        line = self.query.replace("\r", " ").replace("\n", " ").replace("\t", " ")
        return f"{self.message}\n{line}\n{' ' * (self.column - 1)}^"

    def __str__(self) -> str:
        return self._render()
