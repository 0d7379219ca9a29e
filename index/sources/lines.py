"""What one line of a plain-text page scrape is: site chrome, a link teaser, a date, a byline.

Scrapes of news pages keep the page furniture as text: "| Welcome to X", "Home | News",
"Share this", "Advertisement", "Read more: <other story>", "Published: 1 Dec 2023",
"By Jane Doe". None of it may end up as a quotable sentence, and some of it (site name,
date, byline) is the article's metadata. The classifiers are deliberately conservative,
because a dropped sentence is lost for good: a line is furniture only when the whole line
matches a furniture pattern, or when every "|"/"•"-separated part of it does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from index.sources.dates import parse_date


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NAV_WORDS = _words(
    """home news world business sport sports politics opinion opinions tech technology science
    health entertainment culture lifestyle life style video videos live latest local weather
    markets economy travel contact about subscribe login menu search more e-paper epaper
    podcasts podcast newsletters newsletter environment education arts national international
    regional trending analysis features magazine jobs shop games puzzles crosswords obituaries
    property motoring food books music film tv media world-news top-stories us uk asia europe
    africa americas middle-east pakistan india china"""
)
_NAV_PHRASES = frozenset(
    {"about us", "contact us", "log in", "sign in", "sign up", "top stories", "breaking news",
     "latest news", "middle east", "most read", "more news", "privacy policy", "terms of use",
     "e paper", "our team", "advertise with us", "home page"}
)

_CHROME = re.compile(
    r"""(?ix)^(?:
      skip\ to\ (?:main\ )?content | advertisements? | ad | sponsored(?:\ content)? | promoted
    | story\ continues\ (?:below|after)(?:\ (?:the\ )?advertisement)?
    | share(?:\ this)?(?:\ (?:article|story|post|page))?(?:\ (?:on|via)\ [\w ]+)?\ ?:?
    | share\ (?:on|via)\ .+ | follow\ us\b.* | subscribe\b.* | sign\ up\ (?:for|to)\b.*newsletter.*
    | (?:sign|log)\ (?:in|out) | menu | close | search | print | e-?mail | comments?(?:\ \(\d+\))?
    | facebook | twitter | x | whatsapp | linkedin | telegram | pinterest | reddit | instagram
    | copy\ link | link\ copied | tags? | topics? | tags?\ ?:.* | topics?\ ?:.* | filed\ under\b.*
    | reuse\ this\ content | report\ an?\ (?:error|typo|correction) | most\ (?:read|viewed|popular)
    | explore\ more\ on\ these\ topics | related\ topics | (?:view|show|load)\ (?:all\ )?comments.*
    | leave\ a\ (?:comment|reply) | was\ this\ (?:article|story)\ helpful\?? | print\ this\ (?:page|article)
    | (?:image|photo|picture|video)\ ?(?:source|credit|caption)?\ ?:.* | getty\ images
    | listen\ to\ (?:this\ )?(?:article|story).* | \d+\ min(?:ute)?s?\ read | reading\ time\b.*
    | click\ here\b.* | all\ rights\ reserved\.? | (?:accept|reject)(?:\ all)?(?:\ cookies)?
    | we\ use\ cookies\b.* | back\ to\ top | loading\.* | breaking(?:\ news)? | ---+ | \*\*\*+
    | (?:\*\s*){3,} | advertisement\ -\ scroll\ to\ continue | continue\ reading\b.*
    )$""",
)
#: "Read more: <headline>" and its kin: a teaser for another article, never body text.
_LINK_LINE = re.compile(
    r"""(?ix)^(?:read\ more|also\ read|read\ also|also\ see|see\ also
    |related(?:\ (?:articles?|stories|story|coverage|content|news))?
    |recommended|suggested(?:\ reading)?|more\ on\ this(?:\ story)?|more\ from\ [\w ]{1,30}|watch|listen
    |must\ read|don't\ miss|do\ not\ miss|trending(?:\ now)?|further\ reading|you\ may\ also\ like
    |you\ might\ also\ like|in\ other\ news)\s*(?:[:：»>|–—-]\s*.*)?$""",
)
_WELCOME = re.compile(r"(?i)^welcome\s+to\s+(?:the\s+(?=[a-z]))?(?P<site>.{2,60}?)[\s.!]*$")
_COPYRIGHT = re.compile(
    r"(?i)^(?:©|\(c\)|copyright)\s*(?:©|\(c\))?\s*(?:\d{4}(?:\s*[-–]\s*\d{4})?)?[\s,]*"
    r"(?P<site>[^|]*?)[\s.,]*(?:\d{4}(?:\s*[-–]\s*\d{4})?)?[\s.,]*(?:all\s+rights\s+reserved\.?)?$"
)
_KEY_VALUE = re.compile(
    r"(?i)^(?P<key>title|headline|date|published|published at|pubdate|source|site|publisher|author|"
    r"authors|byline|by|url|link|canonical)\s*:\s*(?P<value>\S.*)$"
)
_URL = re.compile(r"^https?://\S+$")

#: Words a date-only line may contain besides numbers ("Last modified on Wed 6 Dec 2023 12.01 GMT").
_DATE_WORDS = _words(
    """monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs
    fri sat sun january february march april may june july august september october november
    december jan feb mar apr jun jul aug sep sept oct nov dec st nd rd th am pm a m p on at of
    published posted updated modified edited created last first date dated
    utc gmt bst cet cest eet est edt cst cdt mst mdt pst pdt et ct mt pt ist pkt jst aest z t
    hours hour hrs mins minutes minute days day weeks ago"""
)
_DATE_TOKEN = re.compile(r"[A-Za-z]+|\d+")
_CALENDAR_WORDS = _words(
    """monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs
    fri sat sun january february march april may june july august september october november
    december jan feb mar apr jun jul aug sep sept oct nov dec ago"""
)
_CALENDAR = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}")

_BYLINE_PREFIX = re.compile(
    r"(?i)^[(\[]?(?:by|written\s+by|words\s+by|story\s+by|text\s+by|reporting\s+by|reported\s+by|report\s+by)"
    r"\s*:?\s+(?P<rest>.+?)[)\]]?\.?$"
)
_NAME_CONNECTORS = _words(
    """and & de del della der van von da di du le la bin al el y of in with from for by additional
    reporting editing writing compiled graphics"""
)
_DESK = re.compile(
    r"(?i)^(?P<name>(?:[\w.&'’-]+\s+){0,4}(?:news\s+desk|web\s+desk|desk|staff\s+reporter|staff\s+writer|"
    r"correspondent|bureau|editorial\s+(?:staff|team|board)|news\s+service|news\s+agency|wire\s+staff))$"
)
#: News agencies named after a reporter's name in a byline ("Jane Doe, Reuters").
AGENCIES = frozenset(
    {"reuters", "ap", "afp", "associated press", "agence france-presse", "bloomberg", "pa",
     "pa media", "press association", "dpa", "xinhua", "anadolu", "anadolu agency", "ani", "pti",
     "ians", "efe", "ansa", "kyodo", "yonhap", "tass", "upi", "staff", "wire services"}
)
_ROLE_WORDS = _words(
    """editor correspondent reporter writer columnist contributor journalist analyst"""
)
_NAME_WORD = re.compile(r"^(?:[A-Z][\w'’.-]*|[A-Z]\.)$")
_SEPARATORS = re.compile(r"\s*(?:\||•|·|\u2022|\s—\s|\s–\s|\s-\s)\s*")


@dataclass(frozen=True)
class LineInfo:
    """What a line is. ``kind`` is one of content, chrome, link, date, byline, meta."""

    kind: str
    site: str | None = None
    date: datetime | None = None
    byline: str | None = None
    title: str | None = None
    url: str | None = None


CONTENT = LineInfo("content")
CHROME = LineInfo("chrome")


def strip_markup(line: str) -> str:
    """Markdown emphasis and heading marks off a line ("# Title", "*By Jane*")."""
    line = line.strip()
    line = re.sub(r"^#{1,6}\s+", "", line)
    line = re.sub(r"^>\s*", "", line)
    if len(line) > 2 and line[0] in "*_" and line[-1] == line[0]:
        line = line.strip(line[0]).strip()
    return line


def strip_site_suffix(title: str, site: str | None) -> str:
    """"Ferry resumes | The Lakeside Courier" → "Ferry resumes" once the site name is known."""
    if not site:
        return title
    m = re.match(rf"^(?P<title>.+?)\s*(?:\||-|–|—|::)\s*{re.escape(site)}$", title, re.IGNORECASE)
    return m.group("title") if m else title


def _clean_name(value: str) -> str | None:
    value = " ".join(value.replace("*", " ").replace("_", " ").split()).strip(" ,;:|-–—")
    if value.isupper() and len(value) > 4:  # "By ANA LIND" → "Ana Lind" (but keep "AFP")
        value = value.title()
    return value or None


def is_nav(part: str) -> bool:
    """A navigation menu entry ("Home", "World News", "Sign in")."""
    low = part.lower().strip(" .:>»")
    return low in _NAV_WORDS or low in _NAV_PHRASES or (
        0 < len(low.split()) <= 2 and all(w in _NAV_WORDS for w in low.split())
    )


def date_line(line: str) -> LineInfo | None:
    """A line that is only a date ("Friday, December 1, 2023", "Updated 3 hours ago")."""
    tokens = _DATE_TOKEN.findall(line)
    if not tokens or len(tokens) > 14 or not any(t.isdigit() for t in tokens):
        return None
    if any(not t.isdigit() and t.lower() not in _DATE_WORDS for t in tokens):
        return None
    if not _CALENDAR.search(line) and not any(t.lower() in _CALENDAR_WORDS for t in tokens):
        return None  # "78,000" or "2000 GMT" is a number, not a date
    if re.search(r"[a-z]{2,}[.!?]$", line):  # ends like a sentence
        return None
    return LineInfo("date", date=parse_date(line))


def _is_name_run(text: str, *, max_words: int = 12) -> bool:
    """Capitalized words and name connectors only ("Jane Doe and Ana de la Cruz")."""
    words = [w for w in re.split(r"[\s,;/]+", text.strip(" .()[]")) if w]
    if not words or len(words) > max_words:
        return False
    return any(_NAME_WORD.match(w) for w in words) and all(
        _NAME_WORD.match(w) or w.lower() in _NAME_CONNECTORS or w.lower() in AGENCIES for w in words
    )


def byline_line(line: str) -> LineInfo | None:
    """"By Jane Doe", "Reporting by …; Editing by …", "GVS News Desk", "Jane Doe, Reuters"."""
    m = _BYLINE_PREFIX.match(line)
    if m and _is_name_run(m.group("rest"), max_words=24):
        if ";" in m.group("rest"):
            # "Reporting by A; Editing by B" is kept whole: it credits several people
            return LineInfo("byline", byline=_clean_name(line.strip("()[] .")))
        return LineInfo("byline", byline=_clean_name(m.group("rest")))
    if _DESK.match(line) and _is_name_run(line, max_words=6):
        return LineInfo("byline", byline=_clean_name(line))
    parts = [p.strip() for p in re.split(r",|\(|\)|\|", line) if p.strip()]
    if 2 <= len(parts) <= 3 and _is_name_run(parts[0], max_words=5) and len(parts[0].split()) >= 2:
        tail = " ".join(parts[1:]).lower()
        tail_words = tail.replace("-", " ").split()
        if tail in AGENCIES or all(w in AGENCIES for w in re.split(r"\s*[/&]\s*|\s+and\s+", tail)) or (
            len(tail_words) <= 3 and tail_words and tail_words[-1] in _ROLE_WORDS
        ):
            return LineInfo("byline", byline=_clean_name(line.strip("()")))
    return None


def site_line(line: str) -> LineInfo | None:
    """"Welcome to X" and "© 2024 X. All rights reserved." name the site; both are chrome."""
    m = _WELCOME.match(line)
    if m:
        return LineInfo("chrome", site=_clean_name(m.group("site")))
    m = _COPYRIGHT.match(line)
    if m:
        site = _clean_name(m.group("site"))
        if site and len(site.split()) > 6:
            site = None
        return LineInfo("chrome", site=site)
    return None


def key_value_line(line: str) -> LineInfo | None:
    """Header fields some scrapers write: "Title: …", "Date: …", "Source: …", "URL: …"."""
    m = _KEY_VALUE.match(line)
    if m is None:
        return None
    key, value = m.group("key").lower(), m.group("value").strip()
    if key in ("title", "headline"):
        return LineInfo("meta", title=value)
    if key in ("date", "published", "published at", "pubdate"):
        return LineInfo("meta", date=parse_date(value))
    if key in ("url", "link", "canonical") and _URL.match(value):
        return LineInfo("meta", url=value)
    if key in ("source", "site", "publisher"):
        if _URL.match(value):
            return LineInfo("meta", url=value)
        return LineInfo("meta", site=_clean_name(value)) if len(value.split()) <= 8 else None
    if key in ("author", "authors", "byline", "by") and _is_name_run(value, max_words=24):
        return LineInfo("meta", byline=_clean_name(value))
    return None


def _classify_part(part: str) -> LineInfo:
    if not part:
        return CHROME
    for classify in (site_line, key_value_line, date_line, byline_line):
        info = classify(part)
        if info is not None:
            return info
    if _CHROME.match(part) or _LINK_LINE.match(part) or is_nav(part):
        return CHROME
    if _URL.match(part):
        return LineInfo("meta", url=part)
    return CONTENT


def classify(line: str) -> LineInfo:
    """Classify a stripped line; a line of several "|"/"•"-separated parts is meta only if
    every part is (so "By Jane Doe | 1 Dec 2023" is, a sentence with a dash is not)."""
    line = strip_markup(line)
    if _LINK_LINE.match(line):
        return LineInfo("link")
    whole = _classify_part(line)
    if whole is not CONTENT:
        return whole
    parts = [p for p in _SEPARATORS.split(line) if p.strip()]
    if len(parts) < 2 and not line.startswith("|"):
        return CONTENT
    infos = [_classify_part(strip_markup(p)) for p in parts]
    content = [p for p, i in zip(parts, infos, strict=True) if i is CONTENT]
    navs = sum(1 for p in parts if is_nav(p))
    site: str | None = next((i.site for i in infos if i.site), None)
    if site:  # "Coastal Times - Welcome to Coastal Times": the name repeated
        content = [p for p in content if p.strip().lower() != site.lower()]
    if len(content) == 1 and navs >= 1 and len(content[0].split()) <= 6 and site is None:
        # "The Harbor Ledger | Home | Local | Sports": the one non-menu entry is the site
        site = _clean_name(content[0].title() if content[0].isupper() else content[0])
        content = []
    if content:
        return CONTENT
    return LineInfo(
        "chrome" if all(i.kind == "chrome" for i in infos) else "meta",
        site=site,
        date=next((i.date for i in infos if i.date), None),
        byline=next((i.byline for i in infos if i.byline), None),
        title=next((i.title for i in infos if i.title), None),
        url=next((i.url for i in infos if i.url), None),
    )
