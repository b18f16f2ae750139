"""OPML: import sources from a feed reader's export, export the configured sources.

Import appends ``[[sources]]`` tables to the config file as text (comments and layout
stay as they were), skipping feeds whose URL is already configured and giving each a
unique name made from its title. The new file is validated before it replaces the
old one, so a bad import never leaves a broken config. Export writes OPML 2.0.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

from monitor import config
from monitor.config import Settings
from monitor.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Outline:
    title: str
    url: str


def read_opml(path: Path) -> list[Outline]:
    """The feed outlines (``xmlUrl``) of an OPML file, in document order, nested or not."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - a file the operator chose; expat limits entity expansion
    except (OSError, ET.ParseError) as exc:
        raise ConfigError(f"{path}: not a readable OPML file: {exc}") from None
    found = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if url.startswith(("http://", "https://")):
            title = (outline.get("title") or outline.get("text") or url).strip()
            found.append(Outline(title, url))
    return found


def slug(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9]+", "-", ascii_title).strip("-").lower()
    return name[:60].strip("-") or "feed"


def import_opml(settings: Settings, opml: Path) -> list[tuple[str, str]]:
    """Append the OPML's new feeds to the config file; returns (name, url) of each added."""
    taken = {s.name for s in settings.sources}
    configured = {s.url for s in settings.sources}
    added: list[tuple[str, str]] = []
    for outline in read_opml(opml):
        if outline.url in configured:
            continue
        base = name = slug(outline.title)
        n = 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        configured.add(outline.url)
        added.append((name, outline.url))
    if not added:
        return []
    blocks = "".join(
        f'\n# Imported from {opml.name}\n[[sources]]\nname = "{name}"\nurl = {toml_string(url)}\n'
        for name, url in added
    )
    path = settings.path
    text = path.read_text(encoding="utf-8")
    candidate = path.with_name(f".{path.name}.import")
    candidate.write_text(text.rstrip("\n") + "\n" + blocks, encoding="utf-8")
    try:
        config.load(candidate)
    except ConfigError:
        candidate.unlink()
        raise
    os.replace(candidate, path)
    return added


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are a subset TOML reads the same way)."""
    return json.dumps(value, ensure_ascii=False)


def export_opml(settings: Settings) -> str:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "news-monitor sources"
    body = ET.SubElement(root, "body")
    for source in settings.sources:
        attributes = {"text": source.name, "title": source.name}
        if source.type == "feed":
            attributes.update(type="rss", xmlUrl=source.url)
        else:
            attributes.update(type="link", url=source.url)
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
