"""Query language parser: query text -> syntax tree (see docs/query-language.md).

Stage: parsing only.  Must not: fold, stem or match text (that is ``query_match``); it only
checks that terms are well formed.

Grammar, loosest binding first::

    query    := or_expr
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := not_expr (["AND"] not_expr)*      # juxtaposition is an implicit AND
    not_expr := ("NOT" | "-") not_expr | near_expr
    near_expr:= primary ("NEAR/" n primary)*      # left-associative, order-free, n >= 1
    primary  := [("title" | "body") ":"] (WORD | WORD* | "PHRASE" | "(" or_expr ")")

Precedence, tightest first: parentheses / field scope  >  NEAR/n  >  NOT and ``-``  >
AND (explicit or implicit)  >  OR.  So ``a OR b c`` is ``a OR (b AND c)``,
``NOT a NEAR/3 b`` is ``NOT (a NEAR/3 b)`` and ``-visa card`` is ``(NOT visa) AND card``.
Operators are upper case; ``and``/``or``/``not``/``near`` in lower case are plain words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from monitor.query_types import QuerySyntaxError

__all__ = ["And", "Near", "Node", "Not", "Or", "Phrase", "Term", "check_term", "parse_query"]

FIELD_NAMES = ("title", "body")
MAX_NEAR = 100
MIN_WILDCARD_PREFIX = 2
_WORD_CHARS = re.compile(r"[^\W_]+")
_OPEN_QUOTES = '"“”„'
_CLOSE_QUOTES = '"”“'
_NEAR = re.compile(r"NEAR(?:/(\S*))?\Z")
_FIELD = re.compile(r"([A-Za-z]+):")


@dataclass(frozen=True, slots=True)
class Term:
    """A bare word as written (may hold ``-``/``'``; ``*`` at the end is a wildcard)."""

    text: str
    column: int
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Phrase:
    """A quoted phrase: exact folded words, in order; ``text`` is the part inside quotes."""

    text: str
    column: int
    field: str | None = None


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    column: int


@dataclass(frozen=True, slots=True)
class Near:
    left: Node
    right: Node
    distance: int
    column: int


Node = Term | Phrase | And | Or | Not | Near


def check_term(text: str, column: int, query: str) -> None:
    """Raise QuerySyntaxError unless ``text`` is a usable bare term."""
    star = text.find("*")
    if star != -1 and star != len(text) - 1:
        raise QuerySyntaxError(query, column + star, "'*' is only allowed at the end of a word")
    body = text[:-1] if star != -1 else text
    words = _WORD_CHARS.findall(body)
    if not words:
        raise QuerySyntaxError(query, column, f"'{text}' has no letters or digits")
    if star != -1:
        if not _WORD_CHARS.fullmatch(body[-1]):
            raise QuerySyntaxError(query, column + star, "'*' must follow a letter or digit")
        if len(words[-1]) < MIN_WILDCARD_PREFIX:
            raise QuerySyntaxError(
                query, column, f"wildcard needs at least {MIN_WILDCARD_PREFIX} letters before '*'"
            )


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # WORD PHRASE LPAREN RPAREN AND OR NOT MINUS NEAR FIELD
    text: str
    column: int
    value: int = 0


def _lex(query: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        col = i + 1
        if c.isspace():
            i += 1
        elif c in "()":
            toks.append(_Tok("LPAREN" if c == "(" else "RPAREN", c, col))
            i += 1
        elif c in _OPEN_QUOTES:
            end = next((j for j in range(i + 1, n) if query[j] in _CLOSE_QUOTES), -1)
            if end == -1:
                raise QuerySyntaxError(query, col, "unterminated quote")
            toks.append(_Tok("PHRASE", query[i + 1 : end], col))
            i = end + 1
        elif c == "-" and (i + 1 >= n or query[i + 1].isspace()):
            raise QuerySyntaxError(query, col, "'-' must be followed by a term (write -term)")
        elif c == "-":
            toks.append(_Tok("MINUS", c, col))
            i += 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in "()" + _OPEN_QUOTES:
                j += 1
            i = _lex_word(query, i, j, toks)
    return toks


def _lex_word(query: str, i: int, j: int, toks: list[_Tok]) -> int:
    """Lex the bare run ``query[i:j]``; return where lexing continues."""
    word, col = query[i:j], i + 1
    if word in ("AND", "OR", "NOT"):
        toks.append(_Tok(word, word, col))
        return j
    near = _NEAR.match(word)
    if near:
        arg = near.group(1)
        if arg is None or not arg.isdigit() or not 1 <= int(arg) <= MAX_NEAR:
            raise QuerySyntaxError(
                query, col, f"NEAR needs a distance from 1 to {MAX_NEAR}, written NEAR/5"
            )
        toks.append(_Tok("NEAR", word, col, int(arg)))
        return j
    field = _FIELD.match(word)
    if field:
        name = field.group(1)
        if name not in FIELD_NAMES:
            raise QuerySyntaxError(query, col, f"unknown field '{name}:' (fields: title, body)")
        rest = i + len(name) + 1
        if rest >= len(query) or query[rest].isspace() or query[rest] == ")":
            raise QuerySyntaxError(query, col, f"'{name}:' must be followed by a term")
        toks.append(_Tok("FIELD", name, col))
        return rest
    toks.append(_Tok("WORD", word, col))
    return j


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.toks = _lex(query)
        self.pos = 0
        self.scope: str | None = None  # enclosing field scope while parsing its group

    def error(self, column: int, message: str) -> QuerySyntaxError:
        return QuerySyntaxError(self.query, column, message)

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def parse(self) -> Node:
        if not self.toks:
            raise self.error(1, "empty query")
        node = self.or_expr()
        tok = self.peek()
        if tok is not None:  # only an unmatched ')' can stop or_expr early
            raise self.error(tok.column, "unmatched ')'")
        return node

    def or_expr(self) -> Node:
        first = self.peek()
        if first is not None and first.kind == "OR":
            raise self.error(first.column, "OR needs a term on its left")
        children = [self.and_expr()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            self.expect_operand(tok)
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else Or(tuple(children), _col(children[0]))

    def and_expr(self) -> Node:
        first = self.peek()
        if first is not None and first.kind == "AND":
            raise self.error(first.column, "AND needs a term on its left")
        children = [self.not_expr()]
        while (tok := self.peek()) is not None and tok.kind not in ("OR", "RPAREN"):
            if tok.kind == "AND":
                self.take()
                self.expect_operand(tok)
            children.append(self.not_expr())
        return children[0] if len(children) == 1 else And(tuple(children), _col(children[0]))

    def not_expr(self) -> Node:
        tok = self.peek()
        if tok is not None and tok.kind in ("NOT", "MINUS"):
            self.take()
            self.expect_operand(tok)
            return Not(self.not_expr(), tok.column)
        return self.near_expr()

    def near_expr(self) -> Node:
        node = self.primary(None)
        while (tok := self.peek()) is not None and tok.kind == "NEAR":
            self.take()
            self.expect_operand(tok)
            nxt = self.peek()
            if nxt is not None and nxt.kind in ("NOT", "MINUS"):
                raise self.error(nxt.column, "a NEAR operand cannot be negated")
            right = self.primary(None)
            for side in (node, right):
                _check_near_operand(self, side)
            node = Near(node, right, tok.value, tok.column)
        return node

    def expect_operand(self, op: _Tok) -> None:
        nxt = self.peek()
        if nxt is None or nxt.kind in ("OR", "AND", "RPAREN", "NEAR"):
            name = "'-'" if op.kind == "MINUS" else op.text.split("/")[0]
            raise self.error(op.column, f"{name} needs a term on its right")

    def primary(self, field: str | None) -> Node:
        tok = self.peek()
        if tok is None:
            raise self.error(len(self.query) + 1, "expected a term")
        self.take()
        if tok.kind == "FIELD":
            if field is not None or self.scope is not None:
                raise self.error(tok.column, f"'{tok.text}:' inside another field scope")
            return self.primary(tok.text)
        if tok.kind == "WORD":
            check_term(tok.text, tok.column, self.query)
            return Term(tok.text, tok.column, field)
        if tok.kind == "PHRASE":
            if not _WORD_CHARS.search(tok.text):
                raise self.error(tok.column, "empty phrase")
            for m in re.finditer(r"\S+", tok.text):
                check_term(m.group(), tok.column + 1 + m.start(), self.query)
            return Phrase(tok.text, tok.column, field)
        if tok.kind == "LPAREN":
            close = self.peek()
            if close is not None and close.kind == "RPAREN":
                raise self.error(tok.column, "empty parentheses")
            outer, self.scope = self.scope, field or self.scope
            inner = self.or_expr()
            self.scope = outer
            close = self.peek()
            if close is None or close.kind != "RPAREN":
                raise self.error(tok.column, "unclosed '('")
            self.take()
            if isinstance(inner, And | Or):
                inner = replace(inner, column=tok.column)  # a group is reported at its '('
            return _scoped(self, inner, field) if field else inner
        if tok.kind == "RPAREN":
            raise self.error(tok.column, "unmatched ')'")
        raise self.error(tok.column, f"{tok.text.split('/')[0]} needs a term on its left")


def _col(node: Node) -> int:
    return node.column


def _scoped(parser: _Parser, node: Node, field: str) -> Node:
    """Apply a ``field:`` scope to every term under ``node``."""
    if isinstance(node, Term | Phrase):
        if node.field is not None and node.field != field:
            raise parser.error(node.column, f"'{node.field}:' inside another field scope")
        return type(node)(node.text, node.column, field)
    if isinstance(node, And | Or):
        kids = tuple(_scoped(parser, c, field) for c in node.children)
        return type(node)(kids, node.column)
    if isinstance(node, Not):
        return Not(_scoped(parser, node.child, field), node.column)
    return Near(
        _scoped(parser, node.left, field),
        _scoped(parser, node.right, field),
        node.distance,
        node.column,
    )


def _check_near_operand(parser: _Parser, node: Node) -> None:
    if isinstance(node, Term | Phrase):
        return
    if isinstance(node, Or):
        for child in node.children:
            _check_near_operand(parser, child)
        return
    if isinstance(node, Near):
        return
    raise parser.error(
        node.column, "NEAR operands must be terms, phrases or OR-groups of them (no AND/NOT)"
    )


def parse_query(query: str) -> Node:
    """Parse ``query`` into a tree; raise QuerySyntaxError with a 1-based column."""
    return _Parser(query).parse()
