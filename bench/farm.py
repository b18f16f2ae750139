"""Feed farm: a local HTTP server of N generated RSS 2.0 and Atom feeds, for polling benchmarks.

Stage: benchmark only (not a test, not part of the package).  Must not: download
anything, listen anywhere but 127.0.0.1, or depend on files outside the repository.

Every feed is generated deterministically from ``--seed`` (the text, links, GUIDs and
item counts; only the dates follow the clock, so that items stay recent): 20-50 items,
news-like English titles and text with about a fifth of the feeds in Spanish, HTML in
the descriptions (paragraphs, links, entities, emphasis, the odd image), and three
flavours mixed (WordPress-style RSS 2.0 with ``content:encoded``, plain RSS 2.0 with an
escaped ``description``, Atom with ``summary type="html"``).  About 5 % of items carry
one of the example watch terms ("Cuba", "visa", "Havana consulate"); no other item
contains the words Cuba, visa or Havana (the generator checks this).

HTTP: HTTP/1.1 with keep-alive on an asyncio server in its own thread; gzip when the
client accepts it; ``ETag`` and ``Last-Modified`` on every feed and ``304 Not
Modified`` for a matching ``If-None-Match`` (or, without one, a recent enough
``If-Modified-Since``).  ``--latency S`` delays every answer by S seconds without
blocking other requests (``asyncio.sleep``), like a far-away server.

Endpoints::

    GET  /feeds/NNNN.xml | /feeds/NNNN.atom   a feed
    GET  /robots.txt                          allow everything
    GET  /_control/feeds                      JSON list of feed URLs
    GET  /_control/stats                      JSON counters (requests, statuses, bytes)
    POST /_control/stats/reset                zero the counters
    POST /_control/publish                    one new item at the top of every feed
    POST /_control/reset                      back to the generated state

As a library::

    with FeedFarm(feeds=200, latency=0.05) as farm:
        urls = farm.feed_urls()
        farm.publish()          # one new item in every feed (ETag and Last-Modified change)
        farm.reset()            # the generated state again (new dates, same content)

From the command line::

    .venv/bin/python bench/farm.py --feeds 200 --latency 0.05        # serve (1 h at most)
    .venv/bin/python bench/farm.py --selftest --feeds 200 --latency 0.05 --concurrency 32

``--selftest`` measures the server alone: a client in another process fetches every
feed with C connections in flight, cold (200) and conditional (304), and compares the
wall time with the network floor ceil(N/C)*L.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import math
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

WATCH_TERMS = ("Cuba", "visa", "Havana consulate")
MATCH_SHARE = 0.05
SPANISH_SHARE = 0.2
# Words that no non-matching item may contain (checked on accent-folded text).
FORBIDDEN = re.compile(r"\b(cuba|visa|havana|habana)", re.IGNORECASE)
TERM_RE = re.compile(r"\b(cuba|visa|havana consulate)\b", re.IGNORECASE)
TAG_RE = re.compile(r"<[^>]+>")

# ---------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------

PLACES = [
    "Lisbon",
    "Toronto",
    "Nairobi",
    "Manila",
    "Denver",
    "Valparaíso",
    "Leeds",
    "Osaka",
    "Porto Alegre",
    "Cork",
    "Adelaide",
    "Tampere",
    "Montevideo",
    "Bilbao",
    "Kraków",
    "Accra",
    "Halifax",
    "Perth",
    "Quito",
    "Ghent",
    "Tucson",
    "Rosario",
    "Brno",
    "Da Nang",
    "Mombasa",
    "Galway",
    "Arequipa",
    "Dunedin",
    "Sevilla",
    "Córdoba",
]
PEOPLE = [
    "Maria Okafor",
    "James Whitfield",
    "Ana Beltrán",
    "Tomás Ferreira",
    "Priya Raman",
    "Lena Holm",
    "David Mensah",
    "Chloé Marchand",
    "Rafael Ortega",
    "Sofia Lindqvist",
    "Kwame Boateng",
    "Elena Petrova",
    "Hiroshi Tanaka",
    "Grace O’Neill",
    "Luis Navarro",
    "Fatima Haddad",
    "Peter Novak",
    "Isabel Cruz",
    "Aaron Feld",
    "Marta Kowalczyk",
    "Nicolás Ibarra",
    "Helen Achterberg",
    "Omar Siddiqui",
    "Julia Brandt",
    "Carmen Ríos",
]
ROLES = [
    "finance minister",
    "mayor",
    "health secretary",
    "union leader",
    "opposition leader",
    "central bank governor",
    "police chief",
    "head coach",
    "chief executive",
    "transport commissioner",
    "council leader",
    "energy minister",
    "spokeswoman",
    "spokesman",
    "chief economist",
    "fire chief",
]
ORGS = [
    "the city council",
    "the transport ministry",
    "the central bank",
    "the teachers' union",
    "the port authority",
    "the national weather service",
    "the electoral commission",
    "the football federation",
    "the regional health board",
    "the competition regulator",
    "the Ports & Harbours Authority",
    "the statistics office",
    "the supreme court",
    "the water utility",
    "the chamber of commerce",
    "the nurses' association",
]
TOPICS = [
    "the new budget",
    "a plan to extend the metro",
    "fuel subsidies",
    "rent controls",
    "the hospital strike",
    "school meal funding",
    "a four-day week trial",
    "water restrictions",
    "the airport expansion",
    "a ban on short-term rentals",
    "record wheat prices",
    "the power-grid upgrade",
    "late-night bus services",
    "the stadium deal",
    "coastal flood defences",
    "the pension reform",
    "a new tram line",
    "the minimum wage rise",
    "bike lanes on the ring road",
    "the wildfire response",
]
VERBS = [
    "approves",
    "rejects",
    "delays",
    "unveils",
    "defends",
    "scraps",
    "backs",
    "questions",
    "revives",
    "freezes",
    "reviews",
    "expands",
]
TAILS = [
    "",
    "",
    "",
    " after marathon session",
    " amid protests",
    " as costs climb",
    ", officials say",
    " ahead of {month} vote",
    " despite warnings",
    " in surprise move",
]
EVENTS = [
    ("storm", "thousands without power as crews work overnight"),
    ("floods", "residents told to avoid low-lying roads"),
    ("strike", "commuters face a third day of disruption"),
    ("heatwave", "hospitals report a rise in admissions"),
    ("fire", "warehouse blaze brought under control"),
    ("election", "turnout highest in two decades"),
]
TEAMS = [
    "Rovers",
    "United",
    "Athletic",
    "Wanderers",
    "City",
    "Rangers",
    "Sporting",
    "Olympic",
]
GOODS = ["bread", "coffee", "electricity", "diesel", "eggs", "rice", "rents", "cement"]
GROUPS = [
    "renters",
    "small businesses",
    "commuters",
    "pensioners",
    "farmers",
    "students",
    "nurses",
    "first-time buyers",
]
CONSEQUENCES = [
    "cost more than first estimated",
    "take at least two years",
    "be reviewed in the spring",
    "need support from the regional government",
    "create several hundred jobs",
    "face a legal challenge",
]
CRITICISMS = [
    "does little for the poorest households",
    "was rushed through without consultation",
    "relies on optimistic forecasts",
    "shifts the burden onto local councils",
]
BENEFITS = [
    "will cut waiting times",
    "brings the city in line with its neighbours",
    "protects jobs in the short term",
    "is long overdue",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "March", "April", "June", "September", "October", "November"]
SECTIONS = ["news", "politics", "business", "local", "sport", "world", "economy", "culture"]

ES_PLACES = [
    "Montevideo",
    "Rosario",
    "Valparaíso",
    "Sevilla",
    "Córdoba",
    "Arequipa",
    "Cuenca",
    "Mendoza",
    "Cali",
    "Oaxaca",
    "Bilbao",
    "Salta",
]
ES_ORGS = [
    "el ayuntamiento",
    "el Ministerio de Transporte",
    "el banco central",
    "el sindicato de docentes",
    "la autoridad portuaria",
    "el servicio meteorológico",
    "la comisión electoral",
    "la federación de fútbol",
    "la junta de salud regional",
    "el tribunal supremo",
    "la cámara de comercio",
]
ES_TOPICS = [
    "el nuevo presupuesto",
    "la ampliación del metro",
    "los subsidios al combustible",
    "el control de alquileres",
    "la huelga de hospitales",
    "los comedores escolares",
    "las restricciones de agua",
    "la ampliación del aeropuerto",
    "la reforma de pensiones",
    "el aumento del salario mínimo",
    "la nueva línea de tranvía",
]
ES_VERBS = [
    "aprueba",
    "rechaza",
    "aplaza",
    "presenta",
    "defiende",
    "suspende",
    "respalda",
    "revisa",
    "amplía",
]
ES_TAILS = [
    "",
    "",
    " tras una larga sesión",
    " entre protestas",
    " pese a las advertencias",
    ", según fuentes oficiales",
    " antes de la votación de {month}",
]
ES_MONTHS = ["enero", "marzo", "abril", "junio", "septiembre", "octubre", "noviembre"]
ES_WEEKDAYS = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]
ES_CONSEQUENCES = [
    "costará más de lo previsto",
    "tardará al menos dos años",
    "se revisará en primavera",
    "creará varios cientos de empleos",
    "enfrentará un recurso judicial",
]

MATCH_TITLES_EN = [
    "Havana consulate to add interview slots for family reunification cases",
    "New visa rules leave {place} families waiting for months",
    "Cuba and {country} sign agreement on {topic_plain}",
    "Student visa backlog grows as {org} cites staffing shortages",
    "Travel to Cuba: what the latest rules mean for {group}",
    "Airlines add flights to Cuba as demand recovers",
    "Visa fees to rise in {month}, {org} confirms",
    "Havana consulate resumes full immigrant services after two-year pause",
]
MATCH_SENTENCES_EN = [
    "Applicants for a visa will be able to book appointments online from {month}.",
    "Officials in Cuba said the measure had been discussed for several months.",
    "The Havana consulate said it expected to clear most of the backlog by {month}.",
    "Lawyers advised families to keep copies of every visa document they submit.",
]
MATCH_TITLES_ES = [
    "Cuba anuncia nuevas medidas sobre {topic_es}",
    "Largas filas en {place} por la visa de reunificación familiar",
    "Cuba y {country} firman un acuerdo de cooperación",
    "La visa de estudiante tarda ahora hasta seis meses",
]
MATCH_SENTENCES_ES = [
    "Los solicitantes de visa podrán pedir cita en línea a partir de {month}.",
    "Funcionarios de Cuba dijeron que la medida se discutía desde hace meses.",
]
COUNTRIES = ["Mexico", "Canada", "Spain", "Brazil", "Vietnam", "Angola", "Chile"]

LINK_ANCHORS_EN = [
    "the full report",
    "earlier coverage",
    "the council’s statement",
    "our live blog",
    "last year’s figures",
    "the court ruling",
    "this explainer",
]
LINK_ANCHORS_ES = ["el informe completo", "la cobertura anterior", "el comunicado oficial"]


def _words(text: str) -> list[str]:
    return text.split()


# Word salad for ``prose="varied"``: most sentences are drawn word by word (Zipf-like
# frequencies), so word 3-shingles are about as diverse as in real news text.  The
# template sentences above repeat long phrases across items, which matters to anything
# that compares texts (near-duplicate detection).
SALAD_EN_FUNCTION = _words(
    "the the the the of of of to to and and a a in in that is for on it with as was at "
    "by from his her their its this have has had were are be been will would not but or "
    "an which who after more than about over also into when while said says could should"
)
SALAD_EN_CONTENT = _words(
    "government minister president officials people city country year week month day "
    "market prices company workers report police court council election party vote "
    "economy budget health hospital school teachers students water energy power weather "
    "storm rain summer winter team match season player coach goal victory defeat league "
    "officers investigation crime victims witness judge trial ruling appeal law bill "
    "parliament senate congress leader opposition protest strike union wages jobs "
    "inflation interest bank investors shares stocks growth trade exports factory farm "
    "farmers crops fuel gas oil electricity network internet phone technology software "
    "data security attack service services plan plans project funding million billion "
    "percent tuesday monday wednesday thursday friday weekend morning evening announced "
    "reported confirmed denied warned expected agreed rejected approved increase decrease "
    "record level public private national local regional international major new first "
    "last second third several many few early late former current statement interview "
    "spokesman spokeswoman agency ministry department office region district village "
    "town street road bridge airport station train bus traffic accident fire rescue "
    "emergency families children women men residents community museum festival concert "
    "film director artist gallery author novel theatre audience ticket tourism hotel "
    "restaurant chef menu harvest drought flood coast river mountain forest wildlife "
    "climate emissions carbon solar wind battery vehicle car drivers cyclists pedestrians "
    "housing rent mortgage landlord tenants construction builder permit zoning mayor "
    "councillor campaign candidate ballot turnout poll survey analysts forecast quarter "
    "profit revenue losses merger deal contract lawsuit settlement regulator fine "
    "penalty audit inquiry commission hearing testimony evidence verdict sentence prison "
    "release bail suspect arrest charge charges prosecutor defence lawyer rights freedom "
    "press journalist newspaper broadcast radio television website app users platform "
    "privacy breach hackers outage repairs engineers crews workers nurses doctors patients "
    "vaccine clinic surgery waiting lists ambulance pharmacy medicine research scientists "
    "university study results trial experiment laboratory discovery space satellite launch"
)
SALAD_ES_FUNCTION = _words(
    "el el la la de de de que y y en en los las del se por un una con para su al lo como "
    "más pero sus fue ha este esta también entre cuando muy sin sobre ya desde hasta son"
)
SALAD_ES_CONTENT = _words(
    "gobierno ministro presidente funcionarios personas ciudad país año semana mes día "
    "mercado precios empresa trabajadores informe policía tribunal consejo elecciones "
    "partido votación economía presupuesto salud hospital escuela maestros estudiantes "
    "agua energía tiempo tormenta lluvia verano invierno equipo temporada jugador "
    "entrenador gol victoria derrota liga investigación delito víctimas testigo juez "
    "juicio fallo recurso ley proyecto congreso senado líder oposición protesta huelga "
    "sindicato salarios empleos inflación interés banco inversores acciones crecimiento "
    "comercio exportaciones fábrica campo agricultores cosechas combustible gas petróleo "
    "electricidad red teléfono tecnología datos seguridad ataque servicio plan millones "
    "anunció informó confirmó negó advirtió aprobó rechazó aumento récord nivel público "
    "privado nacional local regional internacional nuevo primer último varios muchos "
    "declaración entrevista portavoz agencia oficina región distrito pueblo calle "
    "carretera puente aeropuerto estación tren autobús tráfico accidente incendio rescate "
    "emergencia familias niños mujeres hombres vecinos comunidad museo festival concierto "
    "película director artista libro teatro turismo hotel restaurante cosecha sequía "
    "inundación costa río montaña bosque clima emisiones vivienda alquiler hipoteca obra "
    "permiso alcalde campaña candidato encuesta beneficios pérdidas contrato demanda multa "
    "auditoría comisión audiencia pruebas sentencia cárcel detenido fiscal abogado prensa "
    "periodista radio televisión usuarios plataforma médicos pacientes vacuna clínica"
)


def _zipf(words: list[str], exponent: float = 0.9) -> tuple[list[str], list[float]]:
    weights, acc = [], 0.0
    for rank in range(len(words)):
        acc += 1.0 / (rank + 1) ** exponent
        weights.append(acc)
    return words, weights


SALAD = {
    "en": (_zipf(SALAD_EN_FUNCTION), _zipf(SALAD_EN_CONTENT)),
    "es": (_zipf(SALAD_ES_FUNCTION), _zipf(SALAD_ES_CONTENT)),
}
PROSE = ("templates", "varied")


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# ---------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    guid: str
    guid_is_link: bool
    title: str
    link: str
    html: str  # description / summary HTML
    excerpt: str  # plain-text excerpt (WordPress description)
    author: str
    category: str
    published: float  # epoch seconds
    matching: bool


@dataclass(frozen=True, slots=True)
class FeedSpec:
    index: int
    flavour: str  # "wordpress" | "rss" | "atom"
    language: str  # "en" | "es"
    title: str
    site: str
    path: str
    items: int


class TextGen:
    """Deterministic news-like text: one instance per feed (or per published round)."""

    def __init__(
        self, rng: random.Random, language: str, site: str, prose: str = "templates"
    ) -> None:
        self.rng = rng
        self.lang = language
        self.site = site
        self.varied = prose == "varied"

    def salad(self) -> str:
        """A sentence of words drawn one by one (``prose="varied"``)."""
        r = self.rng
        (fw, fc), (cw, cc) = SALAD[self.lang]
        words = [
            r.choices(fw, cum_weights=fc)[0]
            if r.random() < 0.45
            else r.choices(cw, cum_weights=cc)[0]
            for _ in range(r.randint(9, 26))
        ]
        if r.random() < 0.5:
            words[r.randrange(len(words))] = r.choice(PEOPLE)
        if r.random() < 0.3:
            words[r.randrange(len(words))] = str(r.randint(2, 2024))
        if r.random() < 0.4:
            words[r.randrange(1, len(words))] += ","
        text = " ".join(words)
        return text[0].upper() + text[1:] + "."

    def _fill(self, template: str) -> str:
        r = self.rng
        es = self.lang == "es"
        return template.format(
            place=r.choice(ES_PLACES if es else PLACES),
            country=r.choice(COUNTRIES),
            topic_plain=r.choice(TOPICS).removeprefix("the ").removeprefix("a "),
            topic_es=r.choice(ES_TOPICS),
            org=r.choice(ORGS),
            group=r.choice(GROUPS),
            month=r.choice(ES_MONTHS if es else MONTHS),
        )

    def title(self) -> str:
        r = self.rng
        if self.lang == "es":
            org = r.choice(ES_ORGS)
            t = r.random()
            if t < 0.6:
                tail = r.choice(ES_TAILS).format(month=r.choice(ES_MONTHS))
                return f"{org[0].upper()}{org[1:]} {r.choice(ES_VERBS)} {r.choice(ES_TOPICS)}{tail}"
            if t < 0.8:
                return (
                    f"{r.randint(2, 40)} heridos en un accidente de autobús cerca de "
                    f"{r.choice(ES_PLACES)}"
                )
            return f"Qué significa {r.choice(ES_TOPICS)} para los vecinos de {r.choice(ES_PLACES)}"
        t = r.random()
        if t < 0.4:
            org = r.choice(ORGS).removeprefix("the ")
            tail = r.choice(TAILS).format(month=r.choice(MONTHS))
            return f"{org[0].upper()}{org[1:]} {r.choice(VERBS)} {r.choice(TOPICS)}{tail}"
        if t < 0.55:
            event, what = r.choice(EVENTS)
            return f"{r.choice(PLACES)} {event}: {what}"
        if t < 0.65:
            role = r.choice(ROLES)
            why = r.choice(["resignation", "vote", "reshuffle"])
            return f"{r.choice(PEOPLE)} named {role} after {why}"
        if t < 0.75:
            a, b = r.sample(TEAMS, 2)
            return (
                f"{r.choice(PLACES)} {a} beat {b} {r.randint(1, 4)}-{r.randint(0, 1)} "
                f"to reach cup final"
            )
        if t < 0.87:
            return (
                f"Prices of {r.choice(GOODS)} rise {r.randint(2, 19)}.{r.randint(0, 9)}% "
                f"in {r.choice(MONTHS)}, data show"
            )
        return f"What {r.choice(TOPICS)} means for {r.choice(GROUPS)}"

    def _link(self, anchor: str) -> str:
        r = self.rng
        slug = "-".join(anchor.lower().replace("’", "").split())
        href = f"https://{self.site}/{r.choice(SECTIONS)}/{slug}-{r.randint(1000, 99999)}"
        return f'<a href="{href}">{anchor}</a>'

    def sentence(self) -> str:
        r = self.rng
        if self.varied and r.random() < 0.8:
            return self.salad()
        if self.lang == "es":
            t = r.random()
            if t < 0.35:
                return (
                    f"{r.choice(PEOPLE)}, portavoz de {r.choice(ES_ORGS)}, dijo el "
                    f"{r.choice(ES_WEEKDAYS)} que {r.choice(ES_TOPICS)} "
                    f"{r.choice(ES_CONSEQUENCES)}."
                )
            if t < 0.6:
                return (
                    f"Según datos publicados por {r.choice(ES_ORGS)}, los precios subieron un "
                    f"{r.randint(2, 19)},{r.randint(0, 9)}&nbsp;% en {r.choice(ES_MONTHS)}."
                )
            if t < 0.8:
                return (
                    f"&#171;No vamos a dar marcha atrás&#187;, afirmó {r.choice(PEOPLE)} ante "
                    f"los periodistas en {r.choice(ES_PLACES)}."
                )
            return (
                f"La medida entrará en vigor en {r.choice(ES_MONTHS)}, a la espera de la "
                f"aprobación de {r.choice(ES_ORGS)} (ver {self._link(r.choice(LINK_ANCHORS_ES))})."
            )
        t = r.random()
        org = escape(r.choice(ORGS))
        if t < 0.2:
            return (
                f"{r.choice(PEOPLE).replace('’', '&#8217;')}, the {r.choice(ROLES)}, said on "
                f"{r.choice(WEEKDAYS)} that {r.choice(TOPICS)} would {r.choice(CONSEQUENCES)}."
            )
        if t < 0.35:
            return (
                f"The decision follows {r.choice(['weeks', 'months', 'two years'])} of talks "
                f"between {org} and {r.choice(GROUPS)}."
            )
        if t < 0.5:
            return (
                f"According to figures published by {org}, {r.choice(GOODS)} prices rose "
                f"{r.randint(2, 19)}.{r.randint(0, 9)}&nbsp;% in {r.choice(MONTHS)}."
            )
        if t < 0.65:
            return (
                "&#8220;We are not going to back down,&#8221; "
                f"{r.choice(PEOPLE).replace('’', '&#8217;')} "
                f"told reporters in {r.choice(PLACES)}."
            )
        if t < 0.78:
            return (
                f"Critics argue that {r.choice(TOPICS)} {r.choice(CRITICISMS)}, while "
                f"supporters say it {r.choice(BENEFITS)}."
            )
        if t < 0.9:
            return (
                f"The measure is expected to take effect in {r.choice(MONTHS)}, pending "
                f"approval by {org} (see {self._link(r.choice(LINK_ANCHORS_EN))})."
            )
        return (
            f"Residents in {r.choice(PLACES)} reported long queues on {r.choice(WEEKDAYS)} "
            f"evening, <em>according to local media</em>."
        )

    def body(self, extra: str | None = None) -> tuple[str, str]:
        """(HTML body, plain excerpt). ``extra`` is inserted as the first sentence."""
        r = self.rng
        paragraphs: list[str] = []
        for p in range(r.randint(2, 5)):
            sentences = [self.sentence() for _ in range(r.randint(1, 4))]
            if p == 0 and extra:
                sentences.insert(0, extra)
            text = " ".join(sentences)
            if p == 0 and r.random() < 0.3:
                text = f"<strong>{text}</strong>"
            paragraphs.append(f"<p>{text}</p>")
        if r.random() < 0.15:
            n = r.randint(100, 999)
            paragraphs.insert(
                1,
                f'<p><img src="https://{self.site}/media/{n}.jpg" width="640" height="360" '
                f'alt="Photo {n}" /><br />Photo: staff</p>',
            )
        more = "Leer más" if self.lang == "es" else "Read more"
        paragraphs.append(f"<p>{self._link(more)} &#187;</p>")
        html = "\n".join(paragraphs)
        excerpt = TAG_RE.sub("", paragraphs[0])[:300].rsplit(" ", 1)[0] + " [&#8230;]"
        return html, excerpt


class FeedGenerator:
    """Specs and items of every feed, a pure function of ``seed``."""

    def __init__(self, seed: int = 1, prose: str = "templates") -> None:
        if prose not in PROSE:
            raise ValueError(f"prose must be one of {PROSE}")
        self.seed = seed
        self.prose = prose

    def spec(self, index: int) -> FeedSpec:
        r = random.Random(f"{self.seed}:spec:{index}")
        flavour = r.choices(["wordpress", "rss", "atom"], weights=[40, 25, 35])[0]
        language = "es" if r.random() < SPANISH_SHARE else "en"
        place = r.choice(ES_PLACES if language == "es" else PLACES)
        if language == "es":
            name = r.choice(["Diario", "El Correo de", "Noticias", "La Voz de", "Crónica de"])
            title = f"{name} {place}"
        else:
            name = r.choice(["Herald", "Post", "Gazette", "Courier", "Tribune", "Observer"])
            title = f"The {place} {name}"
        site_slug = re.sub(r"[^a-z]", "", _fold(title).lower())
        ext = "atom" if flavour == "atom" else "xml"
        return FeedSpec(
            index=index,
            flavour=flavour,
            language=language,
            title=title,
            site=f"www.{site_slug}{index}.example.com",
            path=f"/feeds/{index:04d}.{ext}",
            items=r.randint(20, 50),
        )

    def item(self, spec: FeedSpec, serial: int, published: float) -> Item:
        """Item number ``serial`` of a feed (0 = oldest; publishing adds higher numbers)."""
        r = random.Random(f"{self.seed}:item:{spec.index}:{serial}")
        gen = TextGen(r, spec.language, spec.site, self.prose)
        matching = r.random() < MATCH_SHARE
        for _ in range(100):  # bounded: the vocabulary never contains the terms
            if matching:
                titles = MATCH_TITLES_ES if spec.language == "es" else MATCH_TITLES_EN
                sentences = MATCH_SENTENCES_ES if spec.language == "es" else MATCH_SENTENCES_EN
                if r.random() < 0.5:
                    title = gen._fill(r.choice(titles))
                    html, excerpt = gen.body()
                else:
                    title = gen.title()
                    html, excerpt = gen.body(extra=gen._fill(r.choice(sentences)))
            else:
                title = gen.title()
                html, excerpt = gen.body()
            text = _fold(f"{title}\n{TAG_RE.sub(' ', html)}")
            if matching and TERM_RE.search(text):
                break
            if not matching and not FORBIDDEN.search(text):
                break
        else:
            raise RuntimeError(f"generator could not build item {spec.index}/{serial}")
        year_month = time.strftime("%Y/%m", time.gmtime(published))
        words = re.sub(r"[^a-z0-9 ]", "", _fold(title).lower()).split()[:8]
        link = f"https://{spec.site}/{year_month}/{'-'.join(words)}-{serial}/"
        if spec.index % 3 == 0:
            link += "?utm_source=rss&utm_medium=feed"
        guid_is_link = spec.flavour == "rss" and spec.index % 2 == 0
        if spec.flavour == "atom":
            guid = f"tag:{spec.site},2024:post-{spec.index}-{serial}"
        elif guid_is_link:
            guid = link.split("?")[0]
        else:
            guid = f"https://{spec.site}/?p={100000 + spec.index * 1000 + serial}"
        author = r.choice(PEOPLE)
        category = r.choice(SECTIONS).capitalize()
        return Item(
            guid, guid_is_link, title, link, html, excerpt, author, category, published, matching
        )


def _rfc822(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def render(spec: FeedSpec, items: list[Item], url: str, updated: float) -> bytes:
    """The feed document (items newest first)."""
    if spec.flavour == "atom":
        return _render_atom(spec, items, url, updated)
    return _render_rss(spec, items, url, updated)


def _render_rss(spec: FeedSpec, items: list[Item], url: str, updated: float) -> bytes:
    wordpress = spec.flavour == "wordpress"
    lang = "es-ES" if spec.language == "es" else "en-US"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">\n<channel>\n',
        f"\t<title>{escape(spec.title)}</title>\n",
        f'\t<atom:link href={quoteattr(url)} rel="self" type="application/rss+xml" />\n',
        f"\t<link>https://{spec.site}/</link>\n",
        f"\t<description>{escape(spec.title)}: news, politics, business and sport</description>\n",
        f"\t<lastBuildDate>{_rfc822(updated)}</lastBuildDate>\n",
        f"\t<language>{lang}</language>\n",
    ]
    if wordpress:
        out.append(
            "\t<sy:updatePeriod>\n\thourly\t</sy:updatePeriod>\n"
            "\t<sy:updateFrequency>\n\t1\t</sy:updateFrequency>\n"
            "\t<generator>https://wordpress.org/?v=6.4.3</generator>\n"
        )
    for it in items:
        out.append("\t<item>\n")
        out.append(f"\t\t<title>{escape(it.title)}</title>\n")
        out.append(f"\t\t<link>{escape(it.link)}</link>\n")
        if wordpress:
            out.append(f"\t\t<dc:creator><![CDATA[{it.author}]]></dc:creator>\n")
        out.append(f"\t\t<pubDate>{_rfc822(it.published)}</pubDate>\n")
        out.append(f"\t\t<category><![CDATA[{it.category}]]></category>\n")
        perma = "true" if it.guid_is_link else "false"
        out.append(f'\t\t<guid isPermaLink="{perma}">{escape(it.guid)}</guid>\n')
        if wordpress:
            out.append(f"\t\t<description><![CDATA[{it.excerpt}]]></description>\n")
            out.append(f"\t\t<content:encoded><![CDATA[{it.html}]]></content:encoded>\n")
        else:
            out.append(f"\t\t<description>{escape(it.html)}</description>\n")
        out.append("\t</item>\n")
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode()


def _render_atom(spec: FeedSpec, items: list[Item], url: str, updated: float) -> bytes:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{spec.language}">\n',
        f"  <title>{escape(spec.title)}</title>\n",
        f"  <subtitle>Latest stories from {escape(spec.title)}</subtitle>\n",
        f'  <link href="https://{spec.site}/" rel="alternate" type="text/html" />\n',
        f'  <link href={quoteattr(url)} rel="self" type="application/atom+xml" />\n',
        f"  <id>urn:uuid:{hashlib.md5(spec.site.encode()).hexdigest()}</id>\n",  # noqa: S324
        f"  <updated>{_iso(updated)}</updated>\n",
        "  <generator>feed-farm</generator>\n",
    ]
    for it in items:
        out.append("  <entry>\n")
        out.append(f'    <title type="html">{escape(escape(it.title))}</title>\n')
        out.append(f'    <link href={quoteattr(it.link)} rel="alternate" type="text/html" />\n')
        out.append(f"    <id>{escape(it.guid)}</id>\n")
        out.append(f"    <published>{_iso(it.published)}</published>\n")
        out.append(f"    <updated>{_iso(it.published)}</updated>\n")
        out.append(f"    <author><name>{escape(it.author)}</name></author>\n")
        out.append(f'    <category term="{it.category.lower()}" label="{it.category}" />\n')
        out.append(f'    <summary type="html">{escape(it.html)}</summary>\n')
        out.append("  </entry>\n")
    out.append("</feed>\n")
    return "".join(out).encode()


# ---------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class FeedState:
    spec: FeedSpec
    items: list[Item]  # newest first
    next_serial: int
    body: bytes
    gz_body: bytes
    etag: str
    last_modified: float  # whole seconds


@dataclass(slots=True)
class Stats:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    bytes_sent: int = 0
    max_in_flight: int = 0
    in_flight: int = 0
    connections: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "bytes_sent": self.bytes_sent,
            "max_in_flight": self.max_in_flight,
            "connections": self.connections,
        }


def generated_items(
    generator: FeedGenerator, spec: FeedSpec, now: float
) -> tuple[list[Item], float]:
    """A feed's items as ``FeedFarm.reset`` makes them at ``now``: newest first, and the
    newest one's time."""
    gaps = random.Random(f"{generator.seed}:gaps:{spec.index}")
    stamps, t = [], now - gaps.uniform(60, 3600)
    for _ in range(spec.items):
        stamps.append(float(int(t)))
        t -= gaps.uniform(5 * 60, 80 * 60)  # 50 items stay within 3 days
    stamps.reverse()  # oldest first, matching serials 0..n-1
    items = [generator.item(spec, s, stamps[s]) for s in range(spec.items)]
    items.reverse()  # newest first in the document
    return items, stamps[-1]


def documents(
    generator: FeedGenerator, count: int, published: int = 0, now: float | None = None
) -> Iterator[tuple[bytes, str]]:
    """(body, URL) of the first ``count`` feeds as the farm serves them after ``reset()``
    and ``published`` ``publish()`` rounds, without a server (for in-process benchmarks
    and tests; the URLs name 127.0.0.1:8765)."""
    now = float(int(time.time())) if now is None else now
    for index in range(1, count + 1):
        spec = generator.spec(index)
        items, _newest = generated_items(generator, spec, now)
        for round_ in range(published):
            items = [generator.item(spec, spec.items + round_, now + round_ + 1), *items[:-1]]
        url = f"http://127.0.0.1:8765{spec.path}"
        yield render(spec, items, url, now + published), url


class FeedFarm:
    """The farm: generated feeds behind an asyncio HTTP/1.1 server on its own thread."""

    def __init__(
        self,
        feeds: int = 200,
        *,
        latency: float = 0.0,
        seed: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        gzip_bodies: bool = True,
        prose: str = "templates",
    ) -> None:
        if not host.startswith("127."):
            raise ValueError("the farm listens on 127.0.0.0/8 only")
        self.n = feeds
        self.latency = latency
        self.host = host
        self.port = port
        self.gzip_bodies = gzip_bodies
        self.generator = FeedGenerator(seed, prose)
        self.specs = [self.generator.spec(i) for i in range(1, feeds + 1)]
        self._feeds: dict[str, FeedState] = {}
        self._rounds = 0
        self._stats = Stats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()

    # -- state ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def feed_urls(self) -> list[str]:
        return [self.base_url + s.path for s in self.specs]

    def _state(self, spec: FeedSpec, items: list[Item], serial: int, modified: float) -> FeedState:
        body = render(spec, items, self.base_url + spec.path, modified)
        gz = gzip.compress(body, compresslevel=6, mtime=0) if self.gzip_bodies else b""
        etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'  # noqa: S324
        return FeedState(spec, items, serial, body, gz, etag, modified)

    def reset(self) -> None:
        """Every feed back to its generated items, dated back from now."""
        now = float(int(time.time()))
        feeds: dict[str, FeedState] = {}
        for spec in self.specs:
            items, newest = generated_items(self.generator, spec, now)
            feeds[spec.path] = self._state(spec, items, spec.items, newest)
        with self._lock:
            self._feeds = feeds
            self._rounds = 0

    def publish(self) -> int:
        """One new item at the top of every feed (the oldest drops off); returns the round."""
        now = float(int(time.time()))
        with self._lock:
            current = dict(self._feeds)
        feeds: dict[str, FeedState] = {}
        for path, st in current.items():
            modified = max(now, st.last_modified + 1)
            item = self.generator.item(st.spec, st.next_serial, modified)
            items = [item, *st.items[:-1]]
            feeds[path] = self._state(st.spec, items, st.next_serial + 1, modified)
        with self._lock:
            self._feeds = feeds
            self._rounds += 1
            return self._rounds

    def item_counts(self) -> tuple[int, int]:
        """(items, matching items) currently served."""
        with self._lock:
            feeds = list(self._feeds.values())
        items = sum(len(f.items) for f in feeds)
        return items, sum(1 for f in feeds for i in f.items if i.matching)

    def body_bytes(self) -> tuple[int, int]:
        """(plain, gzip) bytes of all feeds together."""
        with self._lock:
            feeds = list(self._feeds.values())
        return sum(len(f.body) for f in feeds), sum(len(f.gz_body) for f in feeds)

    def stats(self, reset: bool = False) -> dict[str, Any]:
        with self._lock:
            out = self._stats.as_dict()
            if reset:
                in_flight = self._stats.in_flight
                self._stats = Stats(in_flight=in_flight)
        return out

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FeedFarm:
        self._thread = threading.Thread(target=self._run, name="feed-farm", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("feed farm did not start")
        if self._server is None:
            raise RuntimeError("feed farm failed to listen")
        self.reset()  # needs the port for the self links
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and self._server is not None:
            server = self._server

            async def close() -> None:
                server.close()
                for task in asyncio.all_tasks():
                    if task is not asyncio.current_task():
                        task.cancel()

            asyncio.run_coroutine_threadsafe(close(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FeedFarm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, self.host, self.port, backlog=1024, limit=65536)
            )
            self.port = self._server.sockets[0].getsockname()[1]
        finally:
            self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    # -- HTTP ----------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self._stats.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(min(length, 1 << 20))
                keep_alive = (
                    headers.get("connection", "").lower() != "close"
                    if version == "HTTP/1.1"
                    else headers.get("connection", "").lower() == "keep-alive"
                )
                with self._lock:
                    st = self._stats
                    st.requests += 1
                    st.in_flight += 1
                    st.max_in_flight = max(st.max_in_flight, st.in_flight)
                try:
                    status, out_headers, body = self._respond(method, target, headers)
                    if self.latency > 0 and not target.startswith("/_control"):
                        await asyncio.sleep(self.latency)
                finally:
                    with self._lock:
                        self._stats.in_flight -= 1
                reason = {
                    200: "OK",
                    304: "Not Modified",
                    404: "Not Found",
                    405: "Method Not Allowed",
                }
                out = [f"HTTP/1.1 {status} {reason.get(status, 'OK')}"]
                out.append(f"Date: {formatdate(usegmt=True)}")
                out.append("Server: feed-farm")
                out.extend(f"{k}: {v}" for k, v in out_headers.items())
                if status != 304:
                    out.append(f"Content-Length: {len(body)}")
                if not keep_alive:
                    out.append("Connection: close")
                payload = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")
                if method != "HEAD" and status != 304:
                    payload += body
                writer.write(payload)
                await writer.drain()
                with self._lock:
                    self._stats.statuses[status] = self._stats.statuses.get(status, 0) + 1
                    self._stats.bytes_sent += len(payload)
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    def _respond(
        self, method: str, target: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        path = target.split("?", 1)[0]
        if path.startswith("/_control/"):
            return self._control(method, path)
        if method not in ("GET", "HEAD"):
            return 405, {"Allow": "GET, HEAD"}, b""
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n"
        st = self._feeds.get(path)
        if st is None:
            return 404, {"Content-Type": "text/plain"}, b"not found\n"
        validators = {"ETag": st.etag, "Last-Modified": formatdate(st.last_modified, usegmt=True)}
        if _not_modified(headers, st.etag, st.last_modified):
            return 304, validators, b""
        ctype = "application/atom+xml" if st.spec.flavour == "atom" else "application/rss+xml"
        out = {"Content-Type": f"{ctype}; charset=UTF-8", **validators, "Vary": "Accept-Encoding"}
        accepts = {
            t.split(";")[0].strip().lower() for t in headers.get("accept-encoding", "").split(",")
        }
        if self.gzip_bodies and "gzip" in accepts:
            out["Content-Encoding"] = "gzip"
            return 200, out, st.gz_body
        return 200, out, st.body

    def _control(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        js = {"Content-Type": "application/json"}
        if path == "/_control/feeds" and method == "GET":
            return 200, js, json.dumps(self.feed_urls()).encode()
        if path == "/_control/stats" and method == "GET":
            return 200, js, json.dumps(self.stats()).encode()
        if method != "POST":
            return 405, {"Allow": "POST"}, b""
        if path == "/_control/stats/reset":
            return 200, js, json.dumps(self.stats(reset=True)).encode()
        if path == "/_control/publish":
            # Runs on the event loop thread: fine for a control call between passes.
            return 200, js, json.dumps({"round": self.publish(), "feeds": self.n}).encode()
        if path == "/_control/reset":
            self.reset()
            return 200, js, json.dumps({"round": 0, "feeds": self.n}).encode()
        return 404, {"Content-Type": "text/plain"}, b"not found\n"


def _not_modified(headers: dict[str, str], etag: str, last_modified: float) -> bool:
    inm = headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags
    ims = headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError):
            return False
        return last_modified <= since
    return False


# ---------------------------------------------------------------------------------------
# Self-test: the server alone, measured by a client in another process
# ---------------------------------------------------------------------------------------


async def _client(urls: list[str], concurrency: int, conditional: dict[str, str]) -> dict[str, Any]:
    """Fetch every URL once with ``concurrency`` keep-alive connections; bounded."""
    queue = list(reversed(urls))
    statuses: dict[int, int] = {}
    received = 0

    async def worker() -> None:
        nonlocal received
        reader = writer = None
        while queue:
            url = queue.pop()
            rest = url.split("://", 1)[1]
            hostport, path = rest.split("/", 1)
            host, port = hostport.split(":")
            if writer is None:
                reader, writer = await asyncio.open_connection(host, int(port))
            assert reader is not None
            extra = f"If-None-Match: {conditional[url]}\r\n" if url in conditional else ""
            writer.write(
                f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nAccept-Encoding: gzip\r\n"
                f"{extra}\r\n".encode()
            )
            await writer.drain()
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            status = int(head.split(" ", 2)[1])
            length = 0
            etag = None
            for line in head.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                if k.lower() == "content-length":
                    length = int(v)
                elif k.lower() == "etag":
                    etag = v.strip()
            body = await reader.readexactly(length) if length else b""
            received += len(body)
            statuses[status] = statuses.get(status, 0) + 1
            if etag:
                conditional.setdefault(url, etag)
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), 120)
    return {
        "wall": time.perf_counter() - started,
        "statuses": statuses,
        "bytes": received,
    }


def client_main(base: str, concurrency: int, rounds: int) -> None:
    import urllib.request

    with urllib.request.urlopen(base + "/_control/feeds", timeout=30) as resp:
        urls = json.loads(resp.read())
    out = []
    for r in range(rounds):
        etags: dict[str, str] = {}
        cold = asyncio.run(_client(urls, concurrency, etags))  # 200s; learns the ETags
        warm = asyncio.run(_client(urls, concurrency, etags))  # If-None-Match: 304s
        out.append({"round": r, "cold": cold, "warm": warm})
    print(json.dumps(out))


def selftest(
    feeds: int, latency: float, concurrency: int, rounds: int, seed: int, prose: str
) -> None:
    t0 = time.perf_counter()
    with FeedFarm(feeds, latency=latency, seed=seed, prose=prose) as farm:
        generated = time.perf_counter() - t0
        items, matching = farm.item_counts()
        plain, gz = farm.body_bytes()
        print(
            f"farm: {feeds} feeds, {items} items, {matching} matching "
            f"({100 * matching / items:.1f} %), {plain / 1e6:.1f} MB plain / "
            f"{gz / 1e6:.1f} MB gzip, generated in {generated:.1f} s, at {farm.base_url}"
        )
        t1 = time.perf_counter()
        farm.publish()
        print(f"publish (one new item in every feed): {time.perf_counter() - t1:.2f} s")
        proc = subprocess.run(
            [sys.executable, __file__, "--client", farm.base_url,
             "--concurrency", str(concurrency), "--rounds", str(rounds)],
            capture_output=True, text=True, timeout=600, check=True,
        )  # fmt: skip
        results = json.loads(proc.stdout)
        stats = farm.stats()
    floor = math.ceil(feeds / concurrency) * latency
    cold = [r["cold"]["wall"] for r in results]
    warm = [r["warm"]["wall"] for r in results]
    print(f"client: {concurrency} keep-alive connections in another process, {rounds} rounds")
    print(f"network floor ceil({feeds}/{concurrency})*{latency:g} = {floor:.3f} s")
    print(
        f"cold (200, gzip): median {statistics.median(cold):.3f} s "
        f"(min {min(cold):.3f}, max {max(cold):.3f}); statuses {results[-1]['cold']['statuses']}"
    )
    print(
        f"conditional (304): median {statistics.median(warm):.3f} s "
        f"(min {min(warm):.3f}, max {max(warm):.3f}); statuses {results[-1]['warm']['statuses']}"
    )
    print(f"server counters: {stats}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--prose",
        choices=PROSE,
        default="templates",
        help="templates: sentences from a few dozen templates (phrases repeat across items); "
        "varied: mostly word-by-word sentences (realistic phrase diversity)",
    )
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--no-gzip", action="store_true", help="never gzip bodies")
    ap.add_argument("--duration", type=float, default=3600, help="serve this long, then exit")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--selftest", action="store_true", help="measure the server alone")
    ap.add_argument("--concurrency", type=int, default=32, help="selftest: connections")
    ap.add_argument("--rounds", type=int, default=5, help="selftest: repetitions")
    ap.add_argument("--client", metavar="BASE_URL", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.client:
        client_main(args.client, args.concurrency, args.rounds)
        return 0
    if args.selftest:
        selftest(args.feeds, args.latency, args.concurrency, args.rounds, args.seed, args.prose)
        return 0
    farm = FeedFarm(
        args.feeds, latency=args.latency, seed=args.seed, port=args.port,
        gzip_bodies=not args.no_gzip, prose=args.prose,
    )  # fmt: skip
    farm.start()
    items, matching = farm.item_counts()
    print(
        f"feed farm: {args.feeds} feeds ({items} items, {matching} matching) at "
        f"{farm.base_url}/feeds/NNNN.xml|.atom; list: {farm.base_url}/_control/feeds",
        flush=True,
    )
    if args.port_file:
        Path(args.port_file).write_text(str(farm.port))
    try:
        time.sleep(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        farm.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
