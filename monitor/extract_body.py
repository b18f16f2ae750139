"""Extract stage, body half: find the article body in a parsed page and render its text.

Given a selectolax (Lexbor) tree, this module drops what never holds article text
(scripts, forms, navigation, asides), scores the remaining text blocks the way
readability does to find the element that holds the story, adds sibling chunks of
the same story, removes furniture inside it by class/id names (share bars, related
lists, promo and newsletter boxes, captions, ads) and renders it as paragraphs
separated by a blank line.

It must not fetch anything or use any other HTML library, and it must never recurse
in Python over the tree: pages can be nested arbitrarily deep, so every walk uses an
explicit stack or selectolax's own iteration.  Work is capped (blocks scored, text
rendered) so that a huge page stays fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.extract_names import (
    is_ad_label,
    is_call_to_action,
    is_content_name,
    is_furniture_name,
)

# Elements whose content is never article text.
JUNK_SELECTOR = (
    "script, style, noscript, template, svg, math, iframe, object, embed, canvas, video, "
    "audio, map, button, input, select, textarea, option, label, link, meta, title, dialog"
)
JUNK_TAGS = frozenset(tag.strip() for tag in JUNK_SELECTOR.split(","))
# Semantic furniture, removed unless it holds most of the page's text.
FURNITURE_SELECTOR = (
    "nav, aside, footer, menu, figcaption, "
    "[role=navigation], [role=complementary], [role=contentinfo], [role=banner], "
    "[role=dialog], [role=alertdialog], [role=search], [hidden], [aria-hidden=true], "
    "[itemprop=comment], [itemprop=author], [itemprop=associatedMedia], "
    '[style*="display:none" i], [style*="display: none" i], '
    '[style*="visibility:hidden" i], [style*="visibility: hidden" i]'
)
# Elements judged by their class or id; links, list items and icons are judged
# through their containers.
NAMED_SELECTOR = (
    ":is([class], [id], [itemprop=articleBody]):not(a, li, img, i, b, em, strong, time, label)"
)
PARAGRAPH_SELECTOR = "p, pre, td, blockquote"
# Containers whose own text (not in a <p>) can be the story: "<div>text<br><br>text".
DIRECT_TEXT_SELECTOR = "div, section, article, main, font, center"

BLOCK_TAGS = frozenset((
    "p", "div", "section", "article", "main", "header", "footer", "h1", "h2", "h3", "h4",
    "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "blockquote", "pre", "table", "thead",
    "tbody", "tfoot", "tr", "td", "th", "caption", "figure", "figcaption", "hr", "br",
    "address", "center", "details", "summary", "fieldset", "form", "legend", "body",
    "html", "aside", "nav",
))  # fmt: skip
HEADING_TAGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
# Containers with no block-level element inside: their inline text is a paragraph.
INLINE_ONLY_SELECTOR = ":is({}):not(:has({}))".format(
    DIRECT_TEXT_SELECTOR, ", ".join(sorted(BLOCK_TAGS - {"br", "hr", "body", "html"}))
)
NEVER_FURNITURE = frozenset(("body", "html", "main", "article"))
TOP_TAGS = frozenset(("body", "html", None))

MIN_BLOCK = 25  # characters for a text block to count
MAX_BLOCKS = 20_000  # text blocks scored per page
MAX_TEXT = 500_000  # characters of body text rendered

_WS_RE = re.compile(r"\s+")
_COMMA_RE = re.compile("[,،、，]")
_SENTENCE_END_RE = re.compile(r"\.( |$)")


@dataclass(frozen=True, slots=True)
class Body:
    """The article body as paragraphs, and whether it was cut at MAX_TEXT."""

    paragraphs: tuple[str, ...]
    cut: bool = False

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


# --- small measures ------------------------------------------------------------------


def _class_id(node: LexborNode) -> str:
    attrs = node.attributes
    return f"{attrs.get('class') or ''} {attrs.get('id') or ''}".lower()


def _text_len(node: LexborNode) -> int:
    return len(node.text(strip=True))


def _link_density(node: LexborNode) -> float:
    total = _text_len(node)
    return sum(_text_len(a) for a in node.css("a")) / total if total else 1.0


def _paragraph_len(node: LexborNode) -> int:
    """Characters in the paragraphs (of MIN_BLOCK characters or more) inside ``node``."""
    lengths = (_text_len(p) for p in node.css("p"))
    return sum(n for n in lengths if n >= MIN_BLOCK)


# --- cleaning --------------------------------------------------------------------------


def clean_page(root: LexborNode) -> None:
    """Drop what never holds article text (scripts, styles, form controls) and, unless
    it holds half of the page's text, semantic furniture (see ``remove_furniture``)."""
    found = root.css(f"{JUNK_SELECTOR}, {FURNITURE_SELECTOR}")
    furniture: list[LexborNode] = []
    for node in found:
        if node.tag in JUNK_TAGS:
            node.decompose(recursive=False)
        else:
            furniture.append(node)
    big = max(500, _text_len(root) // 2)
    for node in furniture:
        if node.parent is not None and _text_len(node) < big:
            node.decompose(recursive=False)


def remove_furniture(root: LexborNode) -> None:
    """Remove furniture inside ``root``: semantic, and named so by class or id.

    An element goes when its class or id names furniture (share, related, promo,
    newsletter, comment, caption, ad ...) unless it holds half of ``root``'s text (a
    wrapper whose class says "sidebar" or "has-comments"), names itself the main
    content or contains an element that does, or is an embedded post that the story
    quotes.
    """
    big = max(500, _text_len(root) // 2)
    furniture: list[LexborNode] = []
    keep: set[int] = set()
    for node in root.css(NAMED_SELECTOR):
        name = _class_id(node)
        if is_content_name(name) or node.attributes.get("itemprop") == "articleBody":
            if is_furniture_name(name) or _text_len(node) < 200:
                continue
            ancestor: LexborNode | None = node
            while ancestor is not None and ancestor.mem_id not in keep:
                keep.add(ancestor.mem_id)
                ancestor = ancestor.parent
        elif (
            node.tag not in NEVER_FURNITURE
            and is_furniture_name(name)
            and not ("embed" in name and node.css_first("blockquote") is not None)
        ):
            furniture.append(node)
    furniture.extend(root.css(FURNITURE_SELECTOR))
    for node in furniture:
        if node.parent is None or node.mem_id in keep or node.mem_id == root.mem_id:
            continue
        if _text_len(node) < big:
            node.decompose(recursive=False)


# --- scoring ---------------------------------------------------------------------------


def _tag_weight(tag: str | None) -> float:
    if tag in ("div", "article", "section", "main"):
        return 5.0
    if tag in ("pre", "td", "blockquote"):
        return 3.0
    if tag in ("address", "ol", "ul", "dl", "dd", "dt", "li", "form"):
        return -3.0
    if tag in HEADING_TAGS or tag == "th":
        return -5.0
    return 0.0


def _name_weight(node: LexborNode) -> float:
    name = _class_id(node)
    return 25.0 * is_content_name(name) - 25.0 * is_furniture_name(name)


def _block_score(text: str, chunks: int = 1) -> float:
    return 1.0 + len(_COMMA_RE.findall(text)) + min(len(text) / 100.0, 3.0 * chunks)


@dataclass(slots=True)
class Scores:
    """Content scores of elements, by mem_id, and the elements themselves."""

    score: dict[int, float]
    node: dict[int, LexborNode]
    weights: bool

    def add(self, node: LexborNode, amount: float) -> None:
        key = node.mem_id
        if key not in self.score:
            self.score[key] = _tag_weight(node.tag) + _name_weight(node) if self.weights else 0.0
            self.node[key] = node
        self.score[key] += amount


def score_blocks(root: LexborNode, weights: bool) -> Scores:
    """Readability-style scores: each text block feeds five ancestors, less as they go up.

    A block scores 1 + its commas + a point per 100 characters (at most 3); its parent
    gets it all, the grandparent half, the next ones a third of that per level.
    With ``weights``, an element starts from a bonus or malus for its tag and name.
    """
    scores = Scores({}, {}, weights)
    blocks: list[tuple[LexborNode, float]] = []
    for node in root.css(PARAGRAPH_SELECTOR)[:MAX_BLOCKS]:
        text = node.text(strip=True)
        if len(text) >= MIN_BLOCK:
            blocks.append((node, _block_score(text)))
    seen: set[int] = set()
    for node in root.css(DIRECT_TEXT_SELECTOR)[:MAX_BLOCKS]:
        text = node.text(deep=False, strip=True)
        if len(text) >= MIN_BLOCK:
            # The container plays the paragraph, so it scores as its own parent would.
            score = _block_score(text, 1 + len(node.css("br")) // 2)
            scores.add(node, score)
            blocks.append((node, score / 2.0))
            seen.add(node.mem_id)
    for node in root.css(INLINE_ONLY_SELECTOR)[:MAX_BLOCKS]:
        # Only inline content (<span>s, <b>s and <br>s): a paragraph in all but name.
        if node.mem_id not in seen:
            text = node.text(strip=True)
            if len(text) >= MIN_BLOCK:
                blocks.append((node, _block_score(text, 1 + len(node.css("br")) // 2)))
    for node, score in blocks:
        ancestor = node.parent
        for divider in (1.0, 2.0, 6.0, 9.0, 12.0):
            if ancestor is None or ancestor.tag in ("html", "-document", None):
                break
            scores.add(ancestor, score / divider)
            ancestor = ancestor.parent
    return scores


def _is_inside(node: LexborNode, ancestor: LexborNode) -> bool:
    current: LexborNode | None = node
    while current is not None and current.mem_id != ancestor.mem_id:
        current = current.parent
    return current is not None


def find_candidate(root: LexborNode, weights: bool = True) -> tuple[LexborNode, Scores] | None:
    """The element that holds the article, and the scores that chose it."""
    scores = score_blocks(root, weights)
    if not scores.score:
        return None
    ranked = sorted(scores.score, key=scores.score.__getitem__, reverse=True)[:5]
    for key in ranked:
        scores.score[key] *= 1.0 - _link_density(scores.node[key])
    best_key = max(ranked, key=scores.score.__getitem__)
    best = scores.node[best_key]
    best_score = scores.score[best_key]

    # Two more strong candidates inside one ancestor: the ancestor is the article.
    strong = [
        scores.node[k] for k in ranked if k != best_key and scores.score[k] >= 0.75 * best_score
    ]
    if len(strong) >= 2:
        ancestor = best.parent
        while ancestor is not None and ancestor.tag not in TOP_TAGS:
            if sum(_is_inside(node, ancestor) for node in strong) >= 2:
                best = ancestor
                break
            ancestor = ancestor.parent

    # Climb while a parent scores higher: the text spreads over several blocks.
    last = scores.score.get(best.mem_id, best_score)
    threshold = last / 3.0
    parent = best.parent
    while parent is not None and parent.tag not in TOP_TAGS:
        parent_score = scores.score.get(parent.mem_id)
        if parent_score is not None:
            if parent_score < threshold:
                break
            if parent_score > last:
                best = parent
                break
            last = parent_score
        parent = parent.parent

    # A lone child says nothing: its parent is the container.
    while best.parent is not None and best.parent.tag not in TOP_TAGS:
        if len(list(best.parent.iter())) != 1:
            break
        best = best.parent
    return best, scores


def pick_siblings(best: LexborNode, scores: Scores) -> list[LexborNode]:
    """``best`` and those of its siblings that look like more of the same story."""
    parent = best.parent
    if parent is None or parent.tag in ("html", None):
        return [best]
    best_score = scores.score.get(best.mem_id, 0.0)
    threshold = max(10.0, best_score * 0.2)
    best_class = best.attributes.get("class") or ""
    picked: list[LexborNode] = []
    for sibling in parent.iter():
        if sibling.mem_id == best.mem_id:
            picked.append(sibling)
            continue
        same_class = bool(best_class) and sibling.attributes.get("class") == best_class
        bonus = best_score * 0.2 if same_class else 0.0
        if scores.score.get(sibling.mem_id, float("-inf")) + bonus >= threshold:
            picked.append(sibling)
        elif same_class and _paragraph_len(sibling) >= 100 and _link_density(sibling) < 0.3:
            picked.append(sibling)  # the body cut into same-class chunks by figures or ads
        elif sibling.tag == "p":
            text = _WS_RE.sub(" ", sibling.text()).strip()
            density = _link_density(sibling)
            if (len(text) > 80 and density < 0.25) or (
                0 < len(text) <= 80 and density == 0 and _SENTENCE_END_RE.search(text)
            ):
                picked.append(sibling)
    return picked


# --- rendering -------------------------------------------------------------------------


@dataclass(slots=True)
class _Renderer:
    """Paragraphs collected while walking a subtree; see ``render``."""

    items: list[tuple[str, str]]  # (text, kind): "p", "h" (heading) or "x" (dropped)
    parts: list[str]
    size: int = 0
    link_chars: int = 0
    heading_depth: int = 0

    def add_text(self, value: str, in_link: bool) -> None:
        self.parts.append(value)
        if in_link:
            self.link_chars += len(value.strip())

    def flush(self) -> None:
        text = _WS_RE.sub(" ", "".join(self.parts)).strip()
        if text:
            kind = "h" if self.heading_depth else "p"
            if self.link_chars > 0.6 * len(text) or is_ad_label(text):
                kind = "x"
            self.items.append((text, kind))
            self.size += len(text)
        self.parts.clear()
        self.link_chars = 0

    def paragraphs(self) -> list[str]:
        """Kept paragraphs; a heading goes when what it introduced was dropped."""
        items = self.items
        return [
            text
            for i, (text, kind) in enumerate(items)
            if kind == "p" or (kind == "h" and i + 1 < len(items) and items[i + 1][1] == "p")
        ]


def render(node: LexborNode, budget: int = MAX_TEXT) -> tuple[list[str], bool]:
    """The text of ``node`` as paragraphs, and whether ``budget`` characters cut it short.

    Block elements break paragraphs, inline text joins, whitespace collapses.
    Paragraphs made mostly of link text (related links, share and tag lists) and bare
    ad labels are left out.
    """
    out = _Renderer([], [])
    # (node, entering, inside a link); the exit entry of a block element flushes it.
    stack: list[tuple[LexborNode, bool, bool]] = [(node, True, False)]
    while stack and out.size < budget:
        current, entering, in_link = stack.pop()
        tag = current.tag
        if tag == "-text":
            out.add_text(current.text_content or "", in_link)
            continue
        if tag is None or tag[0] == "-":
            continue
        if not entering:
            out.flush()
            if tag in HEADING_TAGS:
                out.heading_depth -= 1
            continue
        if tag in BLOCK_TAGS:
            out.flush()
            if tag == "br" or tag == "hr":
                continue
            if tag in HEADING_TAGS:
                out.heading_depth += 1
            stack.append((current, False, in_link))
        in_link = in_link or tag == "a"
        for child in reversed(list(current.iter(include_text=True))):
            stack.append((child, True, in_link))
    out.flush()
    return out.paragraphs(), bool(stack)


# --- the whole body --------------------------------------------------------------------


def _attempt(tree: LexborHTMLParser, strict: bool) -> Body:
    root = tree.body or tree.root
    if root is None:
        return Body(())
    clean_page(root)
    found = find_candidate(root, weights=strict)
    if found is None:
        return Body(())
    best, scores = found
    paragraphs: list[str] = []
    budget = MAX_TEXT
    for node in pick_siblings(best, scores):
        if strict and node.mem_id != best.mem_id and is_furniture_name(_class_id(node)):
            continue
        if strict:
            remove_furniture(node)
        more, cut = render(node, budget)
        paragraphs.extend(more)
        budget -= sum(len(p) for p in more)
        if cut or budget <= 0:
            return Body(tuple(paragraphs), cut=True)
    return Body(tuple(paragraphs))


def _trim(paragraphs: tuple[str, ...], title: str | None) -> tuple[str, ...]:
    """Drop the headline repeated at the top and calls to action at the bottom."""
    start, end = 0, len(paragraphs)
    if title:
        key = _WS_RE.sub(" ", title).strip().lower()
        while start < end and paragraphs[start].lower() == key:
            start += 1
    while end - start > 1 and len(paragraphs) - end < 3 and is_call_to_action(paragraphs[end - 1]):
        end -= 1
    return paragraphs[start:end]


def extract_body(tree: LexborHTMLParser, html: str, title: str | None = None) -> Body:
    """Find and render the article body of a parsed page (``tree`` is modified).

    A strict attempt removes furniture by class and id names too; when that leaves
    next to nothing (under 250 characters), a lenient attempt on a fresh parse of
    ``html`` ignores names and wins if it finds at least twice as much.
    """
    body = _attempt(tree, strict=True)
    if len(body.text) < 250:
        retry = _attempt(LexborHTMLParser(html), strict=False)
        if len(retry.text) > 2 * len(body.text):
            body = retry
    return Body(_trim(body.paragraphs, title), body.cut)
