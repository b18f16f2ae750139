"""Extract stage, vocabulary: what page furniture and article bodies are called.

Pure string rules shared by the body extractor: class/id names that mark navigation,
share bars, ads, comments and the like; names that mark the main content; labels of ad
slots; closing calls to action.  They describe how web pages are commonly built, not
any particular site.  This module must not parse HTML or touch the network.
"""

from __future__ import annotations

import re


def _trie(words: list[str]) -> str:
    """A regex alternation of ``words`` factored by common prefixes.

    Python's ``re`` tries every branch of a flat alternation at every position; the
    factored form is several times faster.  (The recursion depth is bounded by the
    longest word.)
    """
    root: dict[str, dict[str, object]] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})  # type: ignore[assignment]
        node[""] = {}

    def build(node: dict[str, dict[str, object]]) -> str:
        branches = [
            re.escape(ch) + build(child)  # type: ignore[arg-type]
            for ch, child in sorted(node.items())
            if ch
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)


# Substrings of a lower-cased "class id" string that mark page furniture.
_FURNITURE_WORDS = [
    "comment", "disqus", "share", "sharing", "social", "related", "recommend",
    "newsletter", "subscri", "signup", "sign-up", "promo", "advert", "sponsor",
    "cookie", "consent", "gdpr", "popup", "modal", "sidebar", "breadcrumb",
    "outbrain", "taboola", "trending", "popular", "donat", "widget", "banner",
    "footer", "masthead", "toolbar", "pagination", "byline", "author", "caption",
    "credit", "skip-link", "readmore", "read-more", "more-stories", "paywall",
    "login", "rating", "carousel", "slideshow", "gallery", "newsfeed", "jump-link",
    "follow-us", "dateline", "timestamp", "pubdate", "keyword",
]  # fmt: skip
# Short words that count only as a whole token (class names split on space, - and _).
_FURNITURE_TOKENS = frozenset((
    "ad", "ads", "adv", "adslot", "adunit", "advertising", "dfp", "gpt", "nav", "navbar",
    "menu", "meta", "tags", "tag", "print", "tools", "share", "date", "time", "topics",
    "subnav", "overlay", "header",
))  # fmt: skip
# Whole class names that hide an element.
_HIDDEN_NAMES = frozenset((
    "hidden", "hide", "d-none", "invisible", "is-hidden", "visually-hidden", "sr-only",
    "screen-reader-text", "screenreader-only", "offscreen", "element-invisible",
))  # fmt: skip
_FURNITURE_RE = re.compile(_trie(_FURNITURE_WORDS))
_TOKEN_SPLIT_RE = re.compile(r"[\s_-]+")

_CONTENT_HINT_RE = re.compile("body|content|text|copy|inner|prose")
_CONTENT_RE = re.compile(
    r"(?:article|story|entry|post|blog|news|main|page)[-_]*(?:body|content|text|copy|inner)"
    r"|(?:body|main|rich)[-_]*(?:text|content|copy)|articlebody|\bprose\b|\bcontent\b"
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
_LABEL_STRIP = " .:-–—|()[]"

# A closing line that asks the reader to follow, subscribe or sign up.
# A closing line that asks the reader to follow, subscribe or sign up; the ask starts
# the paragraph or a sentence in it.
_CALL_TO_ACTION_RE = re.compile(
    r"(?:^|[.!?:]\s+)(?:"
    r"(?:follow\s+\w+|like us|find us|join us)\b.{0,80}?"
    r"\b(?:twitter|facebook|instagram|linkedin|youtube|tiktok|threads|bluesky|mastodon)\b"
    r"|(?:sign up|subscribe|register)\b.{0,60}?\b(?:newsletter|updates|inbox|alerts)\b"
    r"|get (?:the latest|our)\b.{0,60}?\b(?:newsletter|updates|inbox|alerts)\b)",
    re.IGNORECASE,
)


def is_furniture_name(class_id: str) -> bool:
    """True when a lower-cased "class id" string names page furniture."""
    if _FURNITURE_RE.search(class_id):
        return True
    if not _HIDDEN_NAMES.isdisjoint(class_id.split()):
        return True
    return not _FURNITURE_TOKENS.isdisjoint(_TOKEN_SPLIT_RE.split(class_id))


def is_content_name(class_id: str) -> bool:
    """True when a lower-cased "class id" string names the main content."""
    return _CONTENT_HINT_RE.search(class_id) is not None and (
        _CONTENT_RE.search(class_id) is not None
    )


def is_ad_label(text: str) -> bool:
    """True for a paragraph that only says "Advertisement" or the like."""
    return len(text) < 48 and text.lower().strip(_LABEL_STRIP) in AD_LABELS


def is_call_to_action(text: str) -> bool:
    """True for a short closing line such as "Follow us on Twitter"."""
    return len(text) <= 300 and _CALL_TO_ACTION_RE.search(text) is not None
