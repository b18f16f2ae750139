"""Normalisation: canonical URLs, plain text from HTML fragments, item keys.

Pure functions over strings. Nothing here fetches, stores or logs.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser
from w3lib.url import canonicalize_url

# Query parameters that only say where a click came from. A link that differs from
# another only in these is the same story. Prefixes end in "_".
TRACKING_PREFIXES = (
    "utm_",
    "ga_",
    "hsa_",
    "pk_",
    "mtm_",
    "matomo_",
    "itm_",
    "ns_",
    "oly_",
    "vero_",
)
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "ttclid", "li_fat_id", "igshid", "igsh", "mc_cid", "mc_eid", "mkt_tok", "_ga", "_gl",
        "_hsenc", "_hsmi", "__s", "ref_src", "ref_url", "cmpid", "ncid", "ocid", "sr_share",
        "s_cid", "spm", "smid", "soc_src", "soc_trk", "guccounter", "guce_referrer",
        "guce_referrer_sig", "at_medium", "at_campaign",
        "at_custom1", "at_custom2", "at_custom3", "at_custom4", "wt.mc_id", "wt_mc_id",
    }
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SPACE = re.compile(r"\s+")


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """The form of ``url`` used to recognise the same page.

    Lower-case scheme and host, no default port, no fragment, no tracking
    parameters, remaining parameters sorted and percent-encoding normalised.
    Anything that is not an http(s) URL is returned stripped but otherwise as is.
    """
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = parts.hostname.lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not is_tracking_param(k)
    ]
    path = parts.path or "/"
    rebuilt = urlunsplit((scheme, netloc, path, urlencode(query), ""))
    return str(canonicalize_url(rebuilt))


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment (a feed summary), whitespace collapsed."""
    if "<" not in fragment and "&" not in fragment:
        return _SPACE.sub(" ", fragment).strip()
    tree = LexborHTMLParser(f"<body>{fragment}</body>")
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    body = tree.body
    text = body.text(separator=" ") if body is not None else ""
    return _SPACE.sub(" ", text).strip()


def collapse_space(text: str) -> str:
    return _SPACE.sub(" ", text).strip()
