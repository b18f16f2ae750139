"""Extract stage, body half: find the article body in a parsed page and render its text.

Given a selectolax (Lexbor) tree, this module removes page furniture (navigation,
share bars, related-story lists, comments, banners, promo and newsletter boxes,
captions, ads), scores the remaining text blocks to find the element that holds the
story, and renders that element as paragraphs separated by a blank line.

It must not fetch anything, must not use any other HTML library, and must never
recurse in Python over the tree: pages can be deeply nested, so every walk here uses
an explicit stack or selectolax's own (C) iteration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Elements whose content is never article text.
JUNK_SELECTOR = (
    "script, style, noscript, template, svg, math, iframe, object, embed, canvas, video, "
    "audio, map, button, input, select, textarea, option, label, link, meta, title, dialog"
)

# Semantic furniture, removed unless it holds most of the page's text.
FURNITURE_SELECTOR = (
    "nav, aside, footer, menu, figcaption, "
    "[role=navigation], [role=complementary], [role=contentinfo], [role=banner], "
    "[role=dialog], [role=alertdialog], [role=search], [hidden], [aria-hidden=true], "
    '[itemprop=comment], [itemprop=author], [itemprop="associatedMedia"]'
)

BLOCK_TAGS = frozenset(
    "p div section article main header footer h1 h2 h3 h4 h5 h6 ul ol li dl dt dd "
    "blockquote pre table thead tbody tfoot tr td th caption figure figcaption hr br "
    "address center details summary fieldset form legend body html aside nav".split()
)
HEADING_TAGS = frozenset("h1 h2 h3 h4 h5 h6".split())


def _trie(words: list[str]) -> str:
    """A regex alternation of ``words`` factored by prefix (much faster in ``re``)."""
    root: dict[str, dict[str, object]] = {}
    for word in words:
        node: dict[str, object] = root  # type: ignore[assignment]
        for ch in word:
            node = node.setdefault(ch, {})  # type: ignore[assignment]
        node[""] = {}

    pending: list[tuple[dict[str, object], list[str]]] = []

    def build(node: dict[str, object]) -> str:
        # Iterative would be overkill: the depth is bounded by the longest word.
        alternatives = [
            re.escape(ch) + build(child)  # type: ignore[arg-type]
            for ch, child in sorted(node.items())
            if ch
        ]
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        if "" in node:
            return "(?:" + body + ")?"
        return body

    del pending
    return build(root)


# Class/id words that mark page furniture.  Matched as substrings of the lower-cased
# "class id" string, except the short ones in _NEGATIVE_TOKENS which must be whole
# tokens (split on space, "-" and "_").
_NEGATIVE_WORDS = [
    "comment", "disqus", "share", "sharing", "social", "related", "recommend",
    "newsletter", "subscri", "signup", "sign-up", "promo", "advert", "sponsor",
    "cookie", "consent", "gdpr", "popup", "modal", "sidebar", "breadcrumb",
    "outbrain", "taboola", "trending", "popular", "donat", "widget", "banner",
    "footer", "masthead", "toolbar", "pagination", "byline", "author", "caption",
    "credit", "sr-only", "visually-hidden", "screen-reader", "skip-link", "readmore",
    "read-more", "more-stories", "paywall", "login", "rating", "carousel",
    "slideshow", "gallery", "newsfeed", "jump-link", "follow-us", "supplement",
    "additional", "dateline", "timestamp", "pubdate", "tags", "keyword",
]  # fmt: skip
_NEGATIVE_TOKENS = frozenset(
    "ad ads adv adslot adunit advertising dfp gpt nav navbar menu meta "
    "print tools share date time topics tag subnav overlay header".split()
)
# Whole class names (or ids) that hide an element.
_HIDDEN_NAMES = frozenset(
    "hidden hide d-none invisible is-hidden visually-hidden sr-only screen-reader-text "
    "screenreader-only offscreen element-invisible".split()
)
_NEGATIVE_RE = re.compile(_trie(_NEGATIVE_WORDS))
_TOKEN_SPLIT_RE = re.compile(r"[\s_-]+")
_POSITIVE_RE = re.compile(
    r"(?:article|story|entry|post|blog|news|main|page)[-_]?(?:body|content|text|copy|inner)"
    r"|(?:body|main|rich)[-_]?(?:text|content|copy)|articlebody|\bprose\b|\bcontent\b"
    r"|(?:^|[\s_-])body(?:$|[\s_-])"
)

# Paragraphs that only label an ad slot.
AD_LABELS = frozenset(
    (
        "ad", "ads", "advert", "advertisement", "advertisements", "advertising",
        "sponsored", "sponsored content", "paid content", "paid post", "promoted",
        "story continues below", "story continues below advertisement",
        "article continues below", "article continues below advertisement",
        "continue reading below", "continue reading the main story",
        "scroll to continue with content", "skip advert", "close ad",
    )
)  # fmt: skip

# A closing line that asks the reader to follow, subscribe or sign up.
_CALL_TO_ACTION_RE = re.compile(
    r"\b(?:follow|like)\s+(?:us|him|her|them|me|[A-Z]\w+)\b.{0,80}?"
    r"\b(?:twitter|facebook|instagram|linkedin|youtube|tiktok|threads|bluesky|mastodon)\b"
    r"|\b(?:sign up|subscribe|register)\b.{0,60}?\b(?:newsletter|updates|inbox|alerts)\b"
    r"|\bget (?:the latest|our)\b.{0,60}?\b(?:newsletter|updates|inbox|alerts)\b",
    re.IGNORECASE,
)
_WS_RE = re.compile(r"\s+")
_COMMA_RE = re.compile("[,،、，]")


@dataclass(frozen=True, slots=True)
class Body:
    """The rendered article body: paragraphs joined by a blank line, and how it went."""

    text: str
    found: bool


def _class_id(node: LexborNode) -> str:
    attrs = node.attributes
    return f"{attrs.get('class') or ''} {attrs.get('id') or ''}".lower()


def is_furniture_name(class_id: str) -> bool:
    """True when a lower-cased "class id" string names page furniture."""
    if _NEGATIVE_RE.search(class_id):
        return True
    if not _HIDDEN_NAMES.isdisjoint(class_id.split()):
        return True
    return not _NEGATIVE_TOKENS.isdisjoint(_TOKEN_SPLIT_RE.split(class_id))


def is_content_name(class_id: str) -> bool:
    """True when a lower-cased "class id" string names the main content."""
    return _POSITIVE_HINT_RE.search(class_id) is not None and (
        _POSITIVE_RE.search(class_id) is not None
    )


_POSITIVE_HINT_RE = re.compile("body|content|text|copy|inner|prose")


def _text_len(node: LexborNode) -> int:
    return len(node.text(strip=True))


def _link_len(node: LexborNode) -> int:
    return sum(_text_len(a) for a in node.css("a"))


def remove_junk(root: LexborNode) -> None:
    """Drop elements that never hold article text (scripts, styles, forms' controls)."""
    for node in root.css(JUNK_SELECTOR):
        node.decompose(recursive=False)


def remove_furniture(root: LexborNode, total_len: int, by_name: bool = True) -> None:
    """Remove navigation, banners, share bars and the like from ``root``.

    An element is spared when it holds most of the page's text (a layout wrapper
    whose class happens to say "sidebar" or "has-comments"), names itself the main
    content, or contains an element that does.
    """
    big = max(500, total_len // 2)
    furniture: list[LexborNode] = []
    keep: set[int] = set()
    for node in root.css(_NAMED_SELECTOR) if by_name else ():
        name = _class_id(node)
        if is_content_name(name) or node.attributes.get("itemprop") == "articleBody":
            if is_furniture_name(name) or _text_len(node) < 200:
                continue
            ancestor: LexborNode | None = node
            while ancestor is not None and ancestor.mem_id not in keep:
                keep.add(ancestor.mem_id)
                ancestor = ancestor.parent
        elif (
            by_name
            and node.tag not in _NEVER_FURNITURE
            and is_furniture_name(name)
            # An embedded post or tweet quoted by the story is not furniture.
            and not ("embed" in name and node.css_first("blockquote") is not None)
        ):
            furniture.append(node)
    furniture.extend(root.css(FURNITURE_SELECTOR))
    for node in furniture:
        if node.parent is None or node.mem_id in keep:
            continue
        if _text_len(node) < big:
            node.decompose(recursive=False)


# Elements worth judging by their class or id; links, list items and icons are judged
# through their containers.
_NAMED_SELECTOR = (
    ":is([class], [id], [itemprop=articleBody]):not(a, li, img, i, b, em, strong, time, label)"
)
_NEVER_FURNITURE = frozenset(("body", "html", "main", "article"))


def _tag_weight(tag: str) -> float:
    if tag in ("div", "article", "section", "main"):
        return 5.0
    if tag in ("pre", "td", "blockquote"):
        return 3.0
    if tag in ("address", "ol", "ul", "dl", "dd", "dt", "li", "form"):
        return -3.0
    if tag in HEADING_TAGS or tag == "th":
        return -5.0
    return 0.0


def _class_weight(node: LexborNode) -> float:
    name = _class_id(node)
    weight = 0.0
    if is_content_name(name):
        weight += 25.0
    if is_furniture_name(name):
        weight -= 25.0
    return weight


_DIRECT_TEXT_SELECTOR = "div, section, article, main, font, center"


def _block_score(text: str, chunks: int = 1) -> float:
    return 1.0 + len(_COMMA_RE.findall(text)) + min(len(text) / 100.0, 3.0 * chunks)


@dataclass(slots=True)
class _Scores:
    score: dict[int, float]
    node: dict[int, LexborNode]

    def add(self, node: LexborNode, amount: float, weights: bool) -> None:
        key = node.mem_id
        if key not in self.score:
            tag = node.tag or ""
            self.score[key] = (_tag_weight(tag) + _class_weight(node)) if weights else 0.0
            self.node[key] = node
        self.score[key] += amount


def _score_blocks(root: LexborNode, weights: bool) -> _Scores:
    """Readability-style scores: each text block feeds its ancestors, less as they go up."""
    scores = _Scores({}, {})
    blocks: list[tuple[LexborNode, float]] = []
    for node in root.css("p, pre, td, blockquote"):
        text = _WS_RE.sub(" ", node.text()).strip()
        if len(text) >= 25:
            blocks.append((node, _block_score(text)))
    for node in root.css(_DIRECT_TEXT_SELECTOR):
        text = node.text(deep=False, strip=True)
        if len(text) >= 25:
            chunks = 1 + len(node.css("br")) // 2
            # The container itself plays the paragraph: its score starts one level down.
            scores.add(node, _block_score(text, chunks), weights)
            blocks.append((node, _block_score(text, chunks) / 2.0))
    for node, score in blocks:
        ancestor = node.parent
        level = 0
        while ancestor is not None and level < 5:
            tag = ancestor.tag
            if tag is None or tag == "-document" or tag == "html":
                break
            divider = 1.0 if level == 0 else 2.0 if level == 1 else level * 3.0
            scores.add(ancestor, score / divider, weights)
            ancestor = ancestor.parent
            level += 1
    return scores


def _paragraph_len(node: LexborNode) -> int:
    """Characters in the paragraphs (of 25 characters or more) inside ``node``."""
    lengths = (_text_len(p) for p in node.css("p"))
    return sum(n for n in lengths if n >= 25)


def _link_density(node: LexborNode) -> float:
    total = _text_len(node)
    return _link_len(node) / total if total else 1.0


def find_candidate(root: LexborNode, weights: bool = True) -> tuple[LexborNode, _Scores] | None:
    """The element that holds the article, by readability-style paragraph scoring."""
    scores = _score_blocks(root, weights)
    if not scores.score:
        return None
    ranked = sorted(scores.score.items(), key=lambda item: item[1], reverse=True)[:5]
    final: dict[int, float] = {}
    for key, score in ranked:
        final[key] = score * (1.0 - _link_density(scores.node[key]))
        scores.score[key] = final[key]
    best_key = max(final, key=final.__getitem__)
    best = scores.node[best_key]
    best_score = final[best_key]
    # Several strong candidates inside one ancestor: the ancestor is the article.
    strong = {k for k, v in final.items() if k != best_key and v >= 0.75 * best_score}
    if len(strong) >= 2:
        ancestor = best.parent
        while ancestor is not None and ancestor.tag not in ("body", "html", None):
            inside = 0
            for key in strong:
                node: LexborNode | None = scores.node[key]
                while node is not None and node.mem_id != ancestor.mem_id:
                    node = node.parent
                inside += node is not None
            if inside >= 2:
                best = ancestor
                break
            ancestor = ancestor.parent
    # Climb while the parent scores higher (the text spreads over sibling blocks).
    last = scores.score.get(best.mem_id, best_score)
    threshold = last / 3.0
    parent = best.parent
    while parent is not None and parent.tag not in ("body", "html", None):
        parent_score = scores.score.get(parent.mem_id)
        if parent_score is None:
            parent = parent.parent
            continue
        if parent_score < threshold:
            break
        if parent_score > last:
            best = parent
            break
        last = parent_score
        parent = parent.parent
    # A lone child says nothing: its parent is the container.
    while (
        best.parent is not None
        and best.parent.tag not in ("body", "html", None)
        and len(list(best.parent.iter())) == 1
    ):
        best = best.parent
    return best, scores


def _siblings(best: LexborNode, scores: _Scores) -> list[LexborNode]:
    """``best`` and those of its siblings that look like more of the article."""
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
        bonus = best_score * 0.2 if same_class else 0
        if scores.score.get(sibling.mem_id, float("-inf")) + bonus >= threshold:
            picked.append(sibling)
        elif same_class and _paragraph_len(sibling) >= 100 and _link_density(sibling) < 0.3:
            # The body cut into same-class chunks by figures or ads.
            picked.append(sibling)
        elif sibling.tag == "p":
            text = _WS_RE.sub(" ", sibling.text()).strip()
            density = _link_density(sibling)
            if (len(text) > 80 and density < 0.25) or (
                0 < len(text) <= 80 and density == 0 and re.search(r"\.( |$)", text)
            ):
                picked.append(sibling)
    return picked


@dataclass(slots=True)
class _Renderer:
    """Collects paragraphs while walking a subtree; see ``render``."""

    items: list[tuple[str, str]]  # (text, kind): kind "p", "h" (heading), "x" (dropped)
    parts: list[str]
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
            if text.lower().strip(" .:-–—|()[]") in AD_LABELS or self.link_chars > 0.6 * len(text):
                kind = "x"
            self.items.append((text, kind))
        self.parts.clear()
        self.link_chars = 0

    def paragraphs(self) -> list[str]:
        """Kept paragraphs; a heading goes when what it introduced was dropped."""
        out: list[str] = []
        items = self.items
        for i, (text, kind) in enumerate(items):
            if kind == "x":
                continue
            if kind == "h" and (i + 1 == len(items) or items[i + 1][1] != "p"):
                continue
            out.append(text)
        return out


def render(node: LexborNode) -> list[str]:
    """The text of ``node`` as paragraphs: block elements break, inline text joins.

    Paragraphs made mostly of link text (related links, share and tag lists) and
    bare ad labels are left out.  The walk uses an explicit stack, never recursion.
    """
    out = _Renderer([], [])
    # (node, entering, inside a link); an exit entry closes a block element.
    stack: list[tuple[LexborNode, bool, bool]] = [(node, True, False)]
    while stack:
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
        child_in_link = in_link or tag == "a"
        children = list(current.iter(include_text=True))
        for child in reversed(children):
            stack.append((child, True, child_in_link))
    out.flush()
    return out.paragraphs()


def _attempt(tree: LexborHTMLParser, strict: bool) -> list[str]:
    root = tree.body or tree.root
    if root is None:
        return []
    remove_junk(root)
    remove_furniture(root, _text_len(root), by_name=False)
    found = find_candidate(root, weights=strict)
    if found is None:
        return []
    best, scores = found
    paragraphs: list[str] = []
    for node in _siblings(best, scores):
        if strict and node.mem_id != best.mem_id and is_furniture_name(_class_id(node)):
            continue
        if strict:
            remove_furniture(node, _text_len(node), by_name=True)
        paragraphs.extend(render(node))
    return paragraphs


def _trim(paragraphs: list[str], title: str | None) -> list[str]:
    """Drop the headline repeated at the top and calls to action at the bottom."""
    if title:
        key = _WS_RE.sub(" ", title).strip().lower()
        while paragraphs and paragraphs[0].lower() == key:
            paragraphs = paragraphs[1:]
    end = len(paragraphs)
    while end > 1 and len(paragraphs) - end < 3:
        last = paragraphs[end - 1]
        if len(last) > 300 or not _CALL_TO_ACTION_RE.search(last):
            break
        end -= 1
    return paragraphs[:end]


def extract_body(tree: LexborHTMLParser, html: str, title: str | None = None) -> Body:
    """Find and render the article body of a parsed page (the tree is modified).

    A first, strict attempt removes furniture by class and id names; when that leaves
    next to nothing, a lenient attempt on a fresh parse of ``html`` keeps them.
    """
    paragraphs = _attempt(tree, strict=True)
    if sum(len(p) for p in paragraphs) < 250:
        retry = _attempt(LexborHTMLParser(html), strict=False)
        if sum(len(p) for p in retry) > 2 * sum(len(p) for p in paragraphs):
            paragraphs = retry
    paragraphs = _trim(paragraphs, title)
    return Body("\n\n".join(paragraphs), bool(paragraphs))
