"""Match stage glue: an item × the configured watches → alerts per subscriber.

The query engine (``query``) answers which watches an item matches and where;
this module turns that into one ``AlertMatch`` per interested subscriber, with the
snippet built around that subscriber's hits. Pure; compiled once per config.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config import Settings, WatchConfig
from monitor.models import AlertMatch, FeedItem
from monitor.query import CompiledWatch, Document, WatchSet, compile_watch, make_snippet


def compile_config_watch(watch: WatchConfig) -> CompiledWatch:
    return compile_watch(
        watch.name,
        terms=watch.terms,
        exclude=watch.exclude,
        query=watch.query,
        languages=watch.languages,
    )


@dataclass(frozen=True, slots=True)
class Matcher:
    """Every watch compiled once, and which subscribers follow which watches."""

    watches: WatchSet
    subscribers: tuple[tuple[str, tuple[str, ...], bool], ...]  # name, watches, on update
    update_watches: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> Matcher:
        compiled = [compile_config_watch(w) for w in settings.watches]
        followed = tuple((s.name, s.watches, s.alert_on_update) for s in settings.subscribers)
        updates = frozenset(w.name for w in settings.watches if w.alert_on_update)
        return cls(WatchSet(compiled), followed, updates)

    def alerts_for(self, item: FeedItem) -> tuple[AlertMatch, ...]:
        doc = Document(title=item.title, body=item.body, language=item.language)
        matches = {m.watch: m for m in self.watches.match(doc)}
        if not matches:
            return ()
        out = []
        for subscriber, watch_names, on_update in self.subscribers:
            hit = [matches[name] for name in watch_names if name in matches]
            if not hit:
                continue
            terms: list[str] = []
            for match in hit:
                terms.extend(t for t in match.matched_terms if t not in terms)
            snippet = make_snippet(doc, [h for m in hit for h in m.hits])
            out.append(
                AlertMatch(
                    subscriber=subscriber,
                    watches=tuple(m.watch for m in hit),
                    matched_terms=tuple(terms),
                    snippet=snippet.text,
                    highlights=snippet.highlights,
                    on_update=on_update or any(m.watch in self.update_watches for m in hit),
                )
            )
        return tuple(out)
