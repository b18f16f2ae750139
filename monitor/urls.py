"""Normalisation, URL half: the canonical form of a URL used as a story's identity.

``canonical_url`` keys feed items that have no GUID and feeds the index of short
hashes that recognises one article reached by different URLs (tracking parameters,
``www.``/mobile/AMP hosts, AMP paths and caches, http vs https, a trailing slash).
``canonical_from_page`` decides whether a page's ``<link rel=canonical>``/``og:url``
can be believed. Both are imported from ``monitor.normalize`` by the rest of the
package.

Pure functions over strings: nothing here fetches (so redirects such as Google News
article links cannot be resolved and are left as they are), stores or logs, and
nothing raises on odd input.

Every rule only merges URLs whose remaining parts are identical, so a wrong merge
needs one site to serve two different stories at the same path on, say, ``m.`` and
``www.``, or under http and https. Path case is significant, parameters that can name
content (``id``, ``p``, ``story``, ``article``, ``page``, ``cid``, ``ref``) are kept,
and ``/index.html`` is left alone: it is the same page as its directory on some
servers but not on others.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urljoin, urlsplit

from w3lib.url import canonicalize_url

from monitor.controls import without_controls

__all__ = [
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonical_from_page",
    "canonical_url",
    "is_tracking_param",
    "resolve",
]

# Query parameters that only say where a click came from. A link that differs from
# another only in these is the same story. Names are compared lower-cased; prefixes
# end in "_". Keep out anything a CMS may use to name content (id, p, cid, ref, src,
# source, partner, share, s, t ...): a missed merge costs a duplicate alert, a wrong
# one loses a story.
TRACKING_PREFIXES = (
    "utm_",     # Google Analytics campaigns
    "ga_",
    "hsa_",     # HubSpot ads
    "pk_",      # Piwik/Matomo
    "piwik_",
    "mtm_",
    "matomo_",
    "itm_",     # internal campaigns
    "ns_",      # comScore
    "oly_",     # Omeda
    "vero_",
)  # fmt: skip
TRACKING_PARAMS = frozenset(
    {
        # ad and social click ids
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "gad_source",
        "gad_campaignid", "srsltid", "msclkid", "yclid", "ysclid", "_openstat", "twclid",
        "ttclid", "li_fat_id", "trk", "igshid", "igsh", "epik", "sccid", "rdt_cid",
        "irclickid", "s_kwcid", "ef_id", "mibextid", "fb_action_ids", "fb_action_types",
        "fb_ref", "fb_source", "action_object_map", "action_type_map", "action_ref_map",
        "__twitter_impression", "ref_src", "ref_url", "wprov",
        # e-mail and marketing automation
        "mc_cid", "mc_eid", "mkt_tok", "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp",
        "hsctatracking", "_ke", "ck_subscriber_id", "dm_i", "elqtrackid", "elqtrack",
        "elqaid", "elqat", "elqcampaignid", "spjobid", "spmailingid", "spreportid",
        "spuserid", "_branch_match_id", "_branch_referrer", "__s",
        # analytics cookies carried across domains
        "_ga", "_gl",
        # publishers' campaign codes (Guardian CMP/INTCMP, NYT smid/smtyp, BBC at_*,
        # AT Internet xtor, Condé Nast CNDID, CNET ftag, Yahoo guce*, MSN ocid ...)
        "cmpid", "cmp", "intcmp", "icid", "ncid", "ocid", "sr_share", "s_cid", "spm",
        "smid", "smtyp", "soc_src", "soc_trk", "guccounter", "guce_referrer",
        "guce_referrer_sig", "xtor", "cndid", "ftag", "wt.mc_id", "wt_mc_id",
        "at_medium", "at_campaign", "at_campaign_type", "at_custom1", "at_custom2",
        "at_custom3", "at_custom4", "at_ptr_name", "at_ptr_type", "at_link_origin",
        "at_link_id", "at_link_type", "at_bbc_team", "at_format", "at_objective",
        # added by AMP viewers and caches
        "amp_js_v", "amp_gsa", "amp_ct", "amp_tf", "ampshare", "usqp", "aoh",
    }
)  # fmt: skip

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Leading host labels that name a variant of the same site.
_VARIANT_LABELS = frozenset({"www", "m", "mobile", "amp"})
# Second-level labels under a country code that are not a site of their own
# (co.uk, com.br, org.au, ac.jp, gov.in ...): a stand-in for the Public Suffix List.
_SECOND_LEVEL = frozenset(
    {
        "co", "com", "net", "org", "gov", "gob", "edu", "ac", "ne", "or", "go", "mil", "nic",
        "ltd", "plc", "sch", "nom", "gv",
    }
)  # fmt: skip
# AMP caches: https://<any>.cdn.ampproject.org/c/s/<publisher host>/<path>, the
# same shape on bing-amp.com, and https://www.google.<tld>/amp/s/<host>/<path>.
_AMP_CACHE_DOMAINS = (".cdn.ampproject.org", ".bing-amp.com")
_AMP_CACHE_KINDS = ("c", "v", "wp")
_AMP_QUERY_FLAGS = frozenset({"", "1", "true"})
_PLAIN_HOST = re.compile(r"[a-z0-9_.:-]+\Z")  # canonical hosts are ASCII (IDNA)
_HOME_PATHS = frozenset({"/", "/index.html", "/index.htm", "/index.php"})
# A URL w3lib's canonicalize_url returns unchanged: an ASCII host, no query, and a path
# of characters it never re-encodes, without "%" escapes, ";" parameters or dot
# segments (checked with _DOT_SEGMENT). Most article links are like this; the check
# costs a tenth of the call (tests/test_canonical_urls.py compares the two).
_UNCHANGED_BY_W3LIB = re.compile(
    r"https?://[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*(?::[0-9]{1,5})?"
    r"(?:/[A-Za-z0-9\-._~!$&'()*+,=:@]*)+\Z"
)
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|\Z)")


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """The form of ``url`` used to recognise the same story (feed and page stages).

    http and https are one story and come out as https; host lower-cased, IDNA
    encoded, without a trailing dot or a leading ``www.``/``m.``/``mobile.``/``amp.``
    (as long as a registrable domain is left); no default port (a non-default one is
    kept, with its scheme); no user info; no fragment; percent-encoding normalised,
    dot segments resolved, trailing slashes dropped (the root stays ``/``); AMP
    variants (``/amp`` suffix or prefix, ``.amp``, ``.amp.html``, ``?amp``,
    ``?outputType=amp``, AMP cache URLs) turned into the publisher's URL; tracking
    parameters dropped, the rest sorted; an empty query dropped.

    Must not raise and must not fetch: anything that is not an absolute http(s) URL
    (``urn:``, ``javascript:``, relative paths, a port out of range) comes back
    stripped but otherwise as is; ``//host/path`` is taken as https.
    """
    url = url.strip()
    try:
        current = url
        for _ in range(3):  # an AMP cache URL wrapping another one, at most
            canonical, inner = _canonical(current)
            if inner is None:
                return canonical
            current = inner
        return canonical
    except ValueError:  # urlsplit on a broken IPv6 host, a port out of range, IDNA
        return url


def resolve(base: str, href: str) -> str | None:
    """``href`` made absolute against ``base``, without control characters; None when
    either is not a URL.

    ``urljoin`` raises ValueError on a broken IPv6 host (``http://[::1``), which any
    page or feed may hold in a link; an escape sequence in an href would reach logs
    and digests (``controls``).
    """
    try:
        return urljoin(base, without_controls(href))
    except ValueError:
        return None


def canonical_from_page(page_canonical: str | None, fetched_url: str) -> str | None:
    """Canonical form of a page's ``<link rel=canonical>``/``og:url``, if believable.

    Extract stage. ``page_canonical`` may be relative to ``fetched_url``. Returns None
    unless it is an http(s) URL on the same registrable site as the fetched page
    (``news.example.co.uk`` and ``www.example.co.uk`` are; ``example.org`` and
    ``example.net`` are not) and not the site's home page, which many CMSs put there
    for every article. Must not raise and must not fetch.
    """
    href = (page_canonical or "").strip()
    if not href:
        return None
    try:
        candidate = canonical_url(urljoin(fetched_url.strip(), href))
        claimed = urlsplit(candidate)
        fetched = urlsplit(canonical_url(fetched_url))
        port_ok = claimed.port != 0  # reading a port out of range raises ValueError
    except ValueError:
        return None
    if not port_ok or claimed.scheme not in _DEFAULT_PORTS or fetched.scheme not in _DEFAULT_PORTS:
        return None
    if claimed.path in _HOME_PATHS and not claimed.query:
        return None
    host = claimed.hostname
    if not host or not _PLAIN_HOST.match(host):
        return None
    site = _site(host)
    if site != _site(fetched.hostname):
        return None
    return candidate


def _canonical(url: str) -> tuple[str, str | None]:
    """(canonical form, None), or (url, the publisher URL inside an AMP cache URL)."""
    parts = urlsplit("https:" + url if url.startswith("//") else url)
    scheme = parts.scheme
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return url, None
    port = parts.port
    host = host.rstrip(".")
    inner = _amp_cache_target(host, parts.path, parts.query)
    if inner is not None:
        return url, inner
    # An IPv6 literal goes back in brackets (w3lib normalises the address).
    host = f"[{host}]" if ":" in host else _strip_variant_labels(host)
    if port is None or port == _DEFAULT_PORTS[scheme]:
        netloc, scheme = host, "https"
    else:
        netloc = f"{host}:{port}"
    query = _clean_query(parts.query) if parts.query else ""
    path = parts.path or "/"
    rebuilt = f"{scheme}://{netloc}{path}{'?' if query else ''}{query}"
    if query or _DOT_SEGMENT.search(path) or not _UNCHANGED_BY_W3LIB.match(rebuilt):
        canonical = str(canonicalize_url(rebuilt))
    else:
        canonical = rebuilt
    # The path is rewritten after w3lib has decoded, re-encoded and resolved it.
    start = canonical.index("/", len(scheme) + 3)
    end = canonical.find("?", start)
    if end < 0:
        end = len(canonical)
    path = _clean_path(canonical[start:end])
    return canonical[:start] + path + canonical[end:], None


def _amp_cache_target(host: str, path: str, query: str) -> str | None:
    """The publisher URL an AMP cache URL serves, or None for any other URL."""
    if host.endswith(_AMP_CACHE_DOMAINS) or host == "cdn.ampproject.org":
        kind, _, rest = path[1:].partition("/")
        if kind not in _AMP_CACHE_KINDS:
            return None
    elif host.startswith(("www.google.", "google.")) and path.startswith("/amp/"):
        rest = path[5:]
    else:
        return None
    secure = rest.startswith("s/")
    if secure:
        rest = rest[2:]
    if not rest or rest.startswith("/"):
        return None
    scheme = "https" if secure else "http"
    return f"{scheme}://{rest}?{query}" if query else f"{scheme}://{rest}"


def _strip_variant_labels(host: str) -> str:
    labels = host.split(".")
    keep = _registrable_length(labels)
    start = 0
    while start < len(labels) - keep and labels[start] in _VARIANT_LABELS:
        start += 1
    return ".".join(labels[start:]) if start else host


def _registrable_length(labels: list[str]) -> int:
    """How many trailing labels make the site: 3 for example.co.uk, 2 for example.org."""
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return 3
    return 2


def _site(host: str | None) -> str:
    """The registrable part of a canonical host (an IP address stands for itself)."""
    if not host:
        return ""
    labels = host.split(".")
    if ":" in host or labels[-1].isdigit():
        return host
    return ".".join(labels[-_registrable_length(labels) :])


def _clean_query(query: str) -> str:
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        name = name.lower()
        if name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES):
            continue
        if name == "amp" and value.lower() in _AMP_QUERY_FLAGS:
            continue
        if name == "outputtype" and value.lower() == "amp":
            continue
        kept.append(pair)
    return "&".join(kept)


def _clean_path(path: str) -> str:
    """Trailing slashes and AMP markers off a normalised path; the root stays "/"."""
    path = path.rstrip("/")
    if path.endswith("/amp"):
        path = path[:-4].rstrip("/")
    elif path.endswith(".amp.html"):
        path = path[:-9] + ".html"
    elif path.endswith(".amp") and len(path) > 5 and path[-5] != "/":
        path = path[:-4]
    if path.startswith("/amp/"):
        path = path[4:].rstrip("/")
    return path or "/"
