"""The HTML digest rendered by a real browser (Debian's headless Chromium) at phone and
desktop widths. The PNGs are kept in test-artifacts/ to look at; the test checks that
something was drawn: the expected size, and more than a blank page."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image, ImageChops, ImageStat

from monitor.digest import build_payload
from monitor.render import render_digest
from monitor.store_digests import PendingAlert
from tests.conftest import REPO

NOW = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def sample_html() -> str:
    stories = [
        ("US and Cuba enter US visa talks for first time in four years", "migrant-desk", ("cuba-visas",),
         "Amid a record number of Cubans arriving at the US southern border, Washington and Havana have entered into tentative US visa talks.", ("Havana", "visa")),
        ("Havana consulate resumes immigrant visa interviews", "embassy", ("cuba-visas",),
         "The consular section in Havana will resume immigrant visa interviews in January.", ("Havana", "visa")),
        ("<script>alert(1)</script> Markets close higher", "wire", ("economy",),
         "Stocks rose & bonds fell <b>sharply</b>.", ()),
    ]  # fmt: skip
    alerts = [
        PendingAlert(
            alert_id=i,
            source=source,
            title=title,
            url=f"https://news.example.org/{i}",
            published_at=NOW - timedelta(hours=i),
            first_seen_at=NOW,
            watches=watches,
            matched_terms=("visa",),
            snippet=snippet,
            highlights=tuple((snippet.find(w), snippet.find(w) + len(w)) for w in words),
            also_reported_by=(("daily", "Cuba, US talk visas", "https://daily.example.org/x"),)
            if i == 0
            else (),
        )
        for i, (title, source, watches, snippet, words) in enumerate(stories)
    ]
    payload = build_payload("20261127T130000Z-shot", "newsroom", NOW, alerts, more=3)
    return render_digest(payload, ZoneInfo("America/Havana"), ["cuba-visas", "economy"]).html


@pytest.mark.parametrize(("name", "width"), [("phone", 390), ("desktop", 1280)])
def test_html_digest_renders_in_chromium(tmp_path: Path, name: str, width: int) -> None:
    assert CHROMIUM is not None, "Debian's chromium package is required (.ci/run installs it)"
    page = tmp_path / "digest.html"
    page.write_text(sample_html(), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"digest-{name}.png"
    shot.unlink(missing_ok=True)
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
         f"--window-size={width},1400", f"--screenshot={shot}", page.as_uri()],
        check=True, capture_output=True, timeout=90,
    )  # fmt: skip
    image = Image.open(shot).convert("RGB")
    assert image.size == (width, 1400)
    background = image.getpixel((2, image.height - 2))
    difference = ImageChops.difference(image, Image.new("RGB", image.size, background))
    drawn = sum(difference.convert("L").histogram()[1:])
    assert drawn > 0.1 * width * 1400  # the card and its text, not a blank page
    assert len(image.getcolors(width * 1400) or []) > 50  # text, links, highlights
    assert max(ImageStat.Stat(image).stddev) > 10
