"""Benchmark: watch matching throughput (items/s) on one core.

Stage: benchmark only (not a test).  Must not: download anything or depend on files
outside the repository; all text and watches are generated deterministically here.

Measures ``WatchSet.match`` (folding, scanning, tokenising, stemming, evaluation) with 100
and 1,000 watches of mixed complexity over two streams of ~2 KB English/Spanish news-like
items: a *realistic* stream where about 5 % of items contain a watched term and a *worst
case* where every item does.  The naive baseline (one compiled regex per watch, all
watches tried on every item) runs on a smaller sample in the same process.

    .venv/bin/python bench/matching.py                 # full run (20,000 items, 5 runs)
    .venv/bin/python bench/matching.py --items 2000 --runs 3   # quick
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.query import CompiledWatch, Document, WatchSet, compile_watch
from monitor.text import fold


def _words(text: str) -> list[str]:
    return text.split()


EN_FUNCTION = _words(
    "the the the the of of of to to and and a a in in that is for on it with as was at by "
    "from his her their its this have has had were are be been will would not but or an "
    "which who after more than about over also into when while said says could should"
)
EN_CONTENT = _words(
    "government minister president officials people city country year week month day "
    "market prices company workers report police court council election party vote "
    "economy budget health hospital school teachers students water energy power weather "
    "storm rain summer winter team match season player coach goal victory defeat league "
    "police officers investigation crime victims witness judge trial ruling appeal law "
    "bill parliament senate congress leader opposition protest strike union wages jobs "
    "inflation interest bank investors shares stocks growth trade exports factory farm "
    "farmers crops prices fuel gas oil electricity network internet phone technology "
    "software data security attack service services plan plans project funding million "
    "billion percent tuesday monday wednesday thursday friday weekend morning evening "
    "announced reported confirmed denied warned expected agreed rejected approved "
    "increase decrease record level public private national local regional international "
    "major new first last second third several many few early late former current "
    "statement interview spokesman spokeswoman agency ministry department office "
    "region district village town street road bridge airport station train bus traffic "
    "accident fire rescue emergency families children women men residents community"
)
ES_FUNCTION = _words(
    "el el la la de de de que y y en en los las del se por un una con para su al lo como "
    "más pero sus fue ha este esta también entre cuando muy sin sobre ya desde hasta son"
)
ES_CONTENT = _words(
    "gobierno ministro presidente funcionarios personas ciudad país año semana mes día "
    "mercado precios empresa trabajadores informe policía tribunal consejo elecciones "
    "partido votación economía presupuesto salud hospital escuela maestros estudiantes "
    "agua energía tiempo tormenta lluvia verano invierno equipo partido temporada jugador "
    "entrenador gol victoria derrota liga investigación delito víctimas testigo juez "
    "juicio fallo recurso ley proyecto congreso senado líder oposición protesta huelga "
    "sindicato salarios empleos inflación interés banco inversores acciones crecimiento "
    "comercio exportaciones fábrica campo agricultores cosechas combustible gas petróleo "
    "electricidad red teléfono tecnología datos seguridad ataque servicio plan millones "
    "anunció informó confirmó negó advirtió aprobó rechazó aumento récord nivel público "
    "privado nacional local regional internacional nuevo primer último varios muchos "
    "declaración entrevista portavoz agencia oficina región distrito pueblo calle "
    "carretera puente aeropuerto estación tren autobús tráfico accidente incendio rescate "
    "emergencia familias niños mujeres hombres vecinos comunidad mañana tarde según dijo"
)
TOPIC = _words(
    "visa visas consulate consular asylum deportation deported migrants migration refugee "
    "refugees border embassy sanctions remittances parole smuggling trafficking "
    "immigration immigrant citizenship naturalization detention humanitarian caravan "
    "diaspora exile expulsion extradition passport visado visados consulado asilo "
    "deportación deportados migrantes migración refugiados frontera embajada sanciones "
    "remesas balseros inmigración ciudadanía detención caravana exilio pasaporte "
    "emigración éxodo repatriación Havana Habana Cuba Guyana Panama Miami Tijuana Darién"
)
TERM_POPULARITY_EXPONENT = 0.6
PEOPLE_SYLLABLES = _words(
    "ka ro mi zu tel var bon dri quo lex pha nor sul tan vek yor zim bra cle fro"
)
WATCHED_SYLLABLES = _words(
    "ga po ni xu del wab hol tri qua jen sto pes rul dun yat wim gre ple hus"
)


def _zipf_picker(
    rng: random.Random, words: Sequence[str], exponent: float = 0.9
) -> Callable[[], str]:
    weights = [1.0 / (rank + 1) ** exponent for rank in range(len(words))]
    cum = list(_accumulate(weights))
    total = cum[-1]
    return lambda: words[_bisect(cum, rng.random() * total)]


def _accumulate(values: Sequence[float]) -> list[float]:
    out, acc = [], 0.0
    for v in values:
        acc += v
        out.append(acc)
    return out


def _bisect(cum: list[float], x: float) -> int:
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def make_names(rng: random.Random, n: int, banned: set[str], syllables: Sequence[str]) -> list[str]:
    """Deterministic made-up proper nouns (people, places, companies)."""
    names: list[str] = []
    seen = set(banned)
    while len(names) < n:
        name = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if name not in seen:
            seen.add(name)
            names.append(name.capitalize())
    return names


class TextGen:
    """Word-salad news prose with realistic token statistics, punctuation and accents."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.people = make_names(random.Random(seed + 1), 300, set(), PEOPLE_SYLLABLES)
        self.en_fn, self.en_ct = _zipf_picker(rng, EN_FUNCTION), _zipf_picker(rng, EN_CONTENT)
        self.es_fn, self.es_ct = _zipf_picker(rng, ES_FUNCTION), _zipf_picker(rng, ES_CONTENT)

    def sentence(self, lang: str) -> list[str]:
        rng = self.rng
        fn, ct = (self.en_fn, self.en_ct) if lang == "en" else (self.es_fn, self.es_ct)
        words = [fn() if rng.random() < 0.45 else ct() for _ in range(rng.randint(9, 26))]
        for _ in range(rng.randint(0, 2)):
            words[rng.randrange(len(words))] = rng.choice(self.people)
        if rng.random() < 0.3:
            words[rng.randrange(len(words))] = str(rng.randint(2, 2024))
        if lang == "en" and rng.random() < 0.3:
            i = rng.randrange(len(words))
            words[i] += "’s"
        if rng.random() < 0.4:
            words[rng.randrange(1, len(words))] += ","
        return words

    def render(self, words: list[str]) -> str:
        text = " ".join(words)
        text = text[0].upper() + text[1:]
        r = self.rng.random()
        if r < 0.15:
            return f"“{text},” the spokesman said."
        if r < 0.25:
            return text + " — officials said."
        return text + "."

    def document(self, lang: str, size: int = 2000) -> tuple[str, list[list[str]]]:
        title = self.render(self.sentence(lang)[:10]).rstrip(".")
        body: list[list[str]] = []
        length = 0
        while length < size:
            s = self.sentence(lang)
            body.append(s)
            length += sum(len(w) + 1 for w in s) + 2
        return title, body


def positive_terms(spec: dict[str, object]) -> list[str]:
    return list(spec["inject"])  # type: ignore[call-overload]


def make_watch_specs(
    rng: random.Random, n: int, pool: list[str], background: set[str]
) -> list[dict[str, object]]:
    """Mixed-complexity watches; ``inject`` lists words that make the watch match.

    Wildcard prefixes are lengthened until no background word starts with them, so the
    realistic stream only matches where terms were injected."""
    # Term popularity across watches: Zipf with exponent 0.6, so a few terms are shared
    # by many watches (the most popular by ~3% of them) and most by one or two.
    pick = _zipf_picker(rng, pool, TERM_POPULARITY_EXPONENT)
    specs: list[dict[str, object]] = []
    for i in range(n):
        a, b, c, d = (pick() for _ in range(4))
        kind = i % 8
        if kind == 0:
            specs.append({"terms": [a, b, f"{c} {d}"], "inject": [a]})
        elif kind == 1:
            specs.append({"terms": [a, b], "exclude": [c], "inject": [b]})
        elif kind == 2:
            specs.append({"query": f"{a} OR {b} OR {c}", "inject": [c]})
        elif kind == 3:
            specs.append({"query": f"{a} AND ({b} OR {c})", "inject": [a, b]})
        elif kind == 4:
            stem = fold(c)[: max(4, len(c) - 2)]
            while len(stem) < len(c) and any(w.startswith(stem) for w in background):
                stem = fold(c)[: len(stem) + 1]
            specs.append({"query": f'"{a} {b}" OR {stem}*', "inject": [f"{a} {b}"]})
        elif kind == 5:
            specs.append({"query": f"{a} NEAR/5 {b}", "inject": [f"{a} and {b}"]})
        elif kind == 6:
            specs.append({"query": f'title:{a} OR body:"{b} {c}"', "inject": [f"{b} {c}"]})
        else:
            specs.append({"query": f'({a} OR {b}) -"{c} {d}" -{d}', "inject": [a]})
    return specs


def compile_specs(specs: list[dict[str, object]]) -> list[CompiledWatch]:
    out = []
    for i, spec in enumerate(specs):
        args = {k: v for k, v in spec.items() if k != "inject"}
        out.append(compile_watch(f"w{i}", **args))  # type: ignore[arg-type]
    return out


def build_docs(
    gen: TextGen,
    base: list[tuple[str, str, list[list[str]]]],
    specs: list[dict[str, object]],
    share: float,
    seed: int,
) -> list[Document]:
    rng = random.Random(seed)
    docs = []
    for lang, title, body in base:
        sentences = [list(s) for s in body]
        if rng.random() < share:
            for _ in range(rng.randint(1, 3)):
                words = rng.choice(specs)["inject"]
                s = rng.choice(sentences)
                s.insert(rng.randrange(len(s)), rng.choice(words))  # type: ignore[arg-type]
        docs.append(Document(title, "\n".join(gen.render(s) for s in sentences), lang))
    return docs


def naive_matcher(specs: list[dict[str, object]]) -> Callable[[Document], int]:
    """The baseline: one compiled regex per watch over the casefolded text."""
    regexes = []
    for spec in specs:
        words = [str(t) for t in spec.get("terms", [])] or re.findall(
            r'"[^"]+"|[\w*]+', str(spec.get("query", ""))
        )
        alts = [
            re.escape(w.strip('"').casefold()).replace(r"\*", r"\w*").replace(r"\ ", r"\W+")
            for w in words
            if w not in ("AND", "OR", "NOT") and not w.startswith("NEAR")
        ]
        regexes.append(re.compile(r"\b(?:" + "|".join(alts) + r")\b"))

    def match(doc: Document) -> int:
        text = (doc.title + "\n" + doc.body).casefold()
        return sum(1 for r in regexes if r.search(text))

    return match


def throughput(fn: Callable[[Document], object], docs: list[Document], runs: int) -> float:
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for doc in docs:
            fn(doc)
        rates.append(len(docs) / (time.perf_counter() - t0))
    return statistics.median(rates)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=20_000, help="items per stream")
    ap.add_argument("--runs", type=int, default=5, help="timed runs (median reported)")
    ap.add_argument(
        "--baseline-items",
        type=int,
        default=300,
        help="naive baseline sample for 100 watches (a tenth of it for 1,000); median of 3",
    )
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--pin", action="store_true", help="pin the process to one CPU core")
    args = ap.parse_args(argv)
    if args.pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})

    t0 = time.perf_counter()
    gen = TextGen(args.seed)
    base = []
    for i in range(args.items):
        lang = "es" if i % 5 in (1, 3) else "en"
        title, body = gen.document(lang)
        base.append((lang, title, body))
    background = {
        fold(w) for _, t, b in base for w in re.findall(r"\w+", t + " ".join(map(" ".join, b)))
    }
    names = make_names(random.Random(args.seed + 7), 4000, background, WATCHED_SYLLABLES)
    pool = TOPIC + names
    rng = random.Random(args.seed + 3)
    rng.shuffle(pool)
    all_specs = make_watch_specs(rng, 1000, pool, background)
    print(
        f"generated {args.items} items x 2 streams in {time.perf_counter() - t0:.1f}s", flush=True
    )

    rows = []
    for n in (100, 1000):
        specs = all_specs[:n]
        t1 = time.perf_counter()
        ws = WatchSet(compile_specs(specs))
        compile_ms = (time.perf_counter() - t1) * 1000
        realistic = build_docs(gen, base, specs, 0.05, args.seed + n)
        worst = build_docs(gen, base, specs, 1.0, args.seed + n + 1)
        row: dict[str, float] = {"watches": n, "compile_ms": compile_ms}
        for name, docs in (("realistic", realistic), ("worst", worst)):
            found = [len(ws.match(d)) for d in docs]  # also warms the caches
            matching = [n_ for n_ in found if n_]
            row[name] = throughput(ws.match, docs, args.runs)
            row[name + "_matched"] = len(matching) / len(docs)
            row[name + "_per_item"] = sum(matching) / max(1, len(matching))
            sample = docs[: max(20, args.baseline_items * 100 // n)]
            row[name + "_naive"] = throughput(naive_matcher(specs), sample, 3)
            print(f"  {n} watches, {name}: {row[name]:,.0f} items/s", flush=True)
        rows.append(row)

    print()
    print(
        f"items/s, median of {args.runs} runs, {args.items} items/stream (~2 KB each); "
        f"naive baseline: median of 3 runs on {args.baseline_items} items (100 watches) "
        f"and {max(20, args.baseline_items // 10)} items (1,000 watches)"
    )
    print(
        "| watches | stream | engine items/s | naive regex/watch items/s "
        "| items matched | watches matched per matching item |"
    )
    print("|---:|---|---:|---:|---:|---:|")
    for row in rows:
        for name in ("realistic", "worst"):
            print(
                f"| {row['watches']:.0f} | {name} | {row[name]:,.0f} | "
                f"{row[name + '_naive']:,.0f} | {row[name + '_matched']:.1%} | "
                f"{row[name + '_per_item']:.1f} |"
            )
    for name in ("realistic", "worst"):
        ratio = rows[1][name] / rows[0][name]
        print(f"{name}: 1000 watches run at {ratio:.2f}x the speed of 100")
    print(
        "compile: "
        + ", ".join(f"{r['watches']:.0f} watches {r['compile_ms']:.0f} ms" for r in rows)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
