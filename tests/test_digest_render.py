"""Digest payloads and rendering: order, carry-over, marking, escaping."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.digest import build_payload, first_due, new_digest_id
from monitor.render import mark, mark_html, render_digest, subject_for
from monitor.render_email import email_message
from monitor.schedule import Every, Immediate
from monitor.store_digests import PendingAlert

NOW = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)


def pending(
    n: int, hours_old: float, title: str = "T", watches: tuple[str, ...] = ("w",)
) -> PendingAlert:
    return PendingAlert(
        alert_id=n, source="src", title=title, url=f"https://x.org/{n}",
        published_at=NOW - timedelta(hours=hours_old), first_seen_at=NOW,
        watches=watches, matched_terms=("Cuba",), snippet="In Cuba today", highlights=((3, 7),),
    )  # fmt: skip


def test_payload_newest_first_with_more() -> None:
    payload = build_payload("D", "desk", NOW, [pending(1, 5), pending(2, 1), pending(3, 3)], more=4)
    assert [i["url"] for i in payload["items"]] == [
        "https://x.org/2", "https://x.org/3", "https://x.org/1",
    ]  # fmt: skip
    assert payload["more"] == 4
    assert payload["created_at"] == "2026-11-27T13:00:00Z"
    assert payload["items"][0]["published_at"] == "2026-11-27T12:00:00Z"
    assert "more" not in build_payload("D", "desk", NOW, [pending(1, 1)])


def test_digest_ids_sort_by_time_and_are_unique() -> None:
    a, b = new_digest_id(NOW), new_digest_id(NOW)
    assert a != b and a.startswith("20261127T130000Z-")
    assert new_digest_id(NOW + timedelta(seconds=1)) > a


def test_first_due() -> None:
    assert first_due(Immediate(), NOW) == NOW
    assert first_due(Every(timedelta(hours=1)), NOW) == NOW + timedelta(hours=1)


def test_subject_counts_stories_and_names_watches() -> None:
    assert subject_for(1, ["cuba-visas"]) == "1 new story for cuba-visas"
    two = build_payload(
        "D", "desk", NOW, [pending(1, 1, watches=("a",)), pending(2, 2, watches=("b", "a"))]
    )
    assert render_digest(two, ZoneInfo("UTC")).subject == "2 new stories for a, b"
    assert render_digest(two, ZoneInfo("UTC"), ["a", "b"]).subject == "2 new stories for a"
    three = build_payload(
        "D", "desk", NOW, [pending(1, 1, watches=("a",)), pending(2, 2, watches=("b",))]
    )
    assert render_digest(three, ZoneInfo("UTC"), ["b", "a"]).subject == "2 new stories for b, a"


def test_grouped_by_watch_in_subscriber_order_newest_first() -> None:
    payload = build_payload("D", "desk", NOW, [
        pending(1, 5, title="old visa", watches=("visas",)),
        pending(2, 1, title="new visa", watches=("visas", "cuba")),
        pending(3, 3, title="cuba only", watches=("cuba",)),
    ])  # fmt: skip
    rendered = render_digest(payload, ZoneInfo("UTC"), ["cuba", "visas"])
    assert [(g.watch, [e.title for e in g.entries]) for g in rendered.groups] == [
        ("cuba", ["new visa", "cuba only"]),
        ("visas", ["old visa"]),
    ]
    assert rendered.text.index("== cuba ==") < rendered.text.index("== visas ==")


def test_marking() -> None:
    assert mark("In Cuba today", [[3, 7]], "**", "**") == "In **Cuba** today"
    assert str(mark_html("<b>Cuba</b>", [[3, 7]])) == "&lt;b&gt;<mark>Cuba</mark>&lt;/b&gt;"
    # overlapping or out-of-range highlights are ignored rather than corrupting the text
    assert mark("abc", [[0, 2], [1, 3], [2, 9]], "[", "]") == "[ab]c"
    assert mark("<a> b", [[4, 5]], "*", "*", lambda s: s.replace("<", "&lt;")) == "&lt;a> *b*"
    assert mark("<a> b", [[4, 5]], "*", "*", lambda s: s.replace("<", "&lt;")) == "&lt;a> *b*"


def test_feed_content_is_escaped_and_cannot_inject_headers() -> None:
    hostile = pending(1, 1, title="<script>alert(1)</script>\r\nBcc: victim@example.org")
    payload = build_payload("D1", "desk", NOW, [hostile])
    rendered = render_digest(payload, ZoneInfo("America/Havana"))
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "07:00 CST" in rendered.text  # the subscriber's local time
    message = email_message(rendered, sender="a@example.org", to=("b@example.org",))
    assert message["Bcc"] is None
    assert "victim" not in message["Subject"]


def test_only_web_links_are_rendered_as_links() -> None:
    hostile = dataclasses.replace(pending(1, 1, title="Click"), url="javascript:alert(1)")
    payload = build_payload("D2", "desk", NOW, [hostile, pending(2, 2, title="Fine")])
    payload["items"][0]["also_reported_by"] = [
        {"source": "evil", "title": "x", "url": "data:text/html,<b>hi</b>"},
        {"source": "good", "title": "y", "url": "https://y.org/a"},
    ]
    rendered = render_digest(payload, ZoneInfo("UTC"))
    assert "javascript:" not in rendered.html and "data:text" not in rendered.html
    assert "javascript:" not in rendered.text
    assert 'href="https://x.org/2"' in rendered.html and 'href="https://y.org/a"' in rendered.html
    assert rendered.html.count("<a ") == 2  # the two web links; the others are plain text
    assert "Click" in rendered.html and "evil" in rendered.html
