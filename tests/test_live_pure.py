"""Pure parts of the live updater, no network: URL policy, encodings, feed parsing, durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from index.errors import ConfigError, FetchError
from index.live.round import take_newest
from index.live.state import backoff_rounds
from index.live.watch import parse_duration, read_feeds_file
from index.sources.encodings import decode_body, detect_encoding
from index.sources.feeds import (
    FeedItem,
    ParsedFeed,
    fallback_article,
    html_to_text,
    item_id,
    looks_like_feed,
    parse_feed,
)
from index.sources.fetch import HostThrottle, interleave_by_host
from index.sources.urlpolicy import check_url, forbidden_address, normalize_url, same_site


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]
    return resolve


# --- URL policy ---------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/",
                                 "javascript:alert(1)"])
def test_only_http_and_https_even_when_trusted(url: str) -> None:
    with pytest.raises(FetchError, match="is not http or https"):
        check_url(url, trusted=True, allow_private=True)


@pytest.mark.parametrize(("host", "address", "why"), [
    ("intranet", "10.1.2.3", "private"),
    ("metadata", "169.254.169.254", "link-local"),
    ("localhost", "127.0.0.1", "loopback"),
    ("v6local", "::1", "loopback"),
    ("mapped", "::ffff:192.168.0.1", "private"),
    ("mcast", "224.0.0.1", "multicast"),
    ("zero", "0.0.0.0", "unspecified"),
    ("cgnat", "100.64.0.1", "reserved"),
])
def test_feed_item_urls_to_internal_addresses_are_refused(host: str, address: str, why: str) -> None:
    with pytest.raises(FetchError) as info:
        check_url(f"http://{host}/x", trusted=False, allow_private=False, resolve=resolver({host: [address]}))
    line = info.value.one_line()
    assert why in line and f"http://{host}/x" in line and "NEWSBOT_ALLOW_PRIVATE_URLS" in line


def test_any_internal_address_among_several_is_refused() -> None:
    resolve = resolver({"mixed": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(FetchError, match="private"):
        check_url("http://mixed/", trusted=False, allow_private=False, resolve=resolve)


def test_public_address_allowed_and_setting_or_trust_lifts_the_check() -> None:
    check_url("https://news.example/a", trusted=False, allow_private=False,
              resolve=resolver({"news.example": ["93.184.216.34"]}))
    internal = resolver({"intranet": ["10.0.0.1"]})
    check_url("http://intranet/feed", trusted=True, allow_private=False, resolve=internal)
    check_url("http://intranet/feed", trusted=False, allow_private=True, resolve=internal)


def test_unresolvable_host_is_one_line() -> None:
    with pytest.raises(FetchError, match="cannot resolve host"):
        check_url("http://nowhere.invalid/", trusted=False, allow_private=False, resolve=resolver({}))


def test_odd_spellings_of_loopback_are_caught_by_resolving() -> None:
    # 127.1 and 2130706433 are 127.0.0.1 to the system resolver.
    for url in ("http://127.1/", "http://2130706433/", "http://[::1]/"):
        with pytest.raises(FetchError, match="loopback"):
            check_url(url, trusted=False, allow_private=False)


def test_forbidden_address_public() -> None:
    assert forbidden_address("93.184.216.34") is None
    assert forbidden_address("2606:4700::1111") is None


def test_normalize_url_and_same_site() -> None:
    assert normalize_url("HTTP://News.Example:80/a?utm_source=x&id=3#top") == "http://news.example/a?id=3"
    assert normalize_url("https://news.example") == "https://news.example/"
    assert normalize_url("http://127.0.0.1:8080/a") == "http://127.0.0.1:8080/a"
    assert same_site("https://www.news.example/a", "http://news.example/b")
    assert not same_site("https://evil.example/a", "https://news.example/a")


# --- encodings ----------------------------------------------------------------------------

def test_header_charset_wins_over_meta() -> None:
    body = '<meta charset="utf-8"><p>Café</p>'.encode("iso-8859-1")
    assert detect_encoding(body, "text/html; charset=ISO-8859-1") == "cp1252"
    assert "Café" in decode_body(body, "text/html; charset=ISO-8859-1")


def test_meta_charset_and_http_equiv_and_xml_declaration() -> None:
    assert "Київ" in decode_body('<meta charset="koi8-u"><p>Київ</p>'.encode("koi8-u"), "text/html")
    equiv = '<meta http-equiv="Content-Type" content="text/html; charset=shift_jis"><p>東京</p>'
    assert "東京" in decode_body(equiv.encode("shift_jis"), None)
    xml = '<?xml version="1.0" encoding="windows-1251"?><rss><title>Новости</title></rss>'
    assert "Новости" in decode_body(xml.encode("cp1251"), "application/xml")


def test_unknown_or_missing_charset_falls_back_to_utf8_with_replacement() -> None:
    assert detect_encoding(b"<p>hi</p>", "text/html; charset=bogus-42") == "utf-8"
    assert decode_body(b"caf\xe9 \xff", None) == "caf\ufffd \ufffd"
    assert decode_body("\ufeffhé".encode("utf-8"), "text/html; charset=latin-1") == "hé"  # BOM first


# --- feeds --------------------------------------------------------------------------------

RSS2 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Gazette &amp; Co</title>
<item><title>One</title><link>http://news.example/1?utm_medium=rss</link><guid>g1</guid>
<pubDate>Tue, 05 Mar 2024 10:00:00 +0100</pubDate>
<description>&lt;p&gt;First para.&lt;/p&gt;&lt;p&gt;Second &lt;b&gt;bold&lt;/b&gt; para.&lt;/p&gt;
</description></item>
<item><title>No link</title><guid isPermaLink="false">42</guid>
<description>Only a summary.</description></item>
</channel></rss>"""

RSS091 = b"""<?xml version="1.0"?><rss version="0.91"><channel><title>Old</title>
<item><title>A</title><link>http://news.example/a</link><description>Text a.</description></item>
</channel></rss>"""

RSS1 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://news.example/"><title>RDF news</title></channel>
<item rdf:about="http://news.example/r"><title>R</title><link>http://news.example/r</link>
<description>Text r.</description><dc:date>2024-03-05T08:00:00Z</dc:date></item></rdf:RDF>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom news</title><id>urn:x</id>
<updated>2024-03-05T08:00:00Z</updated>
<entry><title>At</title><id>urn:at</id><link href="http://news.example/at"/>
<updated>2024-03-05T08:00:00Z</updated><summary>Short.</summary>
<content type="html">&lt;p&gt;The long content of the entry.&lt;/p&gt;</content></entry></feed>"""


def test_rss2_items_dates_text_and_links() -> None:
    feed = parse_feed(RSS2, "http://news.example/feed")
    assert feed.title == "Gazette & Co"
    one, nolink = feed.items
    assert one.published == datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
    assert one.text == "First para.\n\nSecond bold para."
    assert one.key == "http://news.example/1"
    assert nolink.link is None and nolink.text == "Only a summary."
    art = fallback_article(nolink, feed)
    assert art.id == "http://news.example/feed#42" and art.body == "Only a summary."
    assert art.source == "Gazette & Co"


@pytest.mark.parametrize(("data", "version", "link"), [
    (RSS091, "rss091u", "http://news.example/a"),
    (RSS1, "rss10", "http://news.example/r"),
    (ATOM, "atom10", "http://news.example/at"),
])
def test_other_feed_formats(data: bytes, version: str, link: str) -> None:
    feed = parse_feed(data, "http://news.example/f")
    assert feed.version.startswith(version[:5])
    assert feed.items[0].link == link
    assert looks_like_feed(data, None)


def test_atom_prefers_the_longer_content() -> None:
    assert parse_feed(ATOM, "u").items[0].text == "The long content of the entry."


def test_malformed_xml_html_and_non_feeds_are_one_line_errors() -> None:
    with pytest.raises(FetchError, match=r"u1: malformed feed XML: .*line"):
        parse_feed(RSS2[:-40], "u1")
    with pytest.raises(FetchError, match="u2: not a feed: the document is HTML"):
        parse_feed(b"<!DOCTYPE html><html><body><p>Hello</p></body></html>", "u2", "text/html")
    with pytest.raises(FetchError, match="u3: not an RSS or Atom feed"):
        parse_feed(b'<?xml version="1.0"?><note>hi</note>', "u3")
    assert not looks_like_feed(b"<!DOCTYPE html><html></html>", "text/html")


def test_non_utf8_feed_declared_in_xml() -> None:
    data = '<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>Café</title>' \
           '<item><title>Été</title><link>http://n.example/e</link></item></channel></rss>'
    feed = parse_feed(data.encode("iso-8859-1"), "u")
    assert feed.title == "Café" and feed.items[0].title == "Été"


def test_item_ids() -> None:
    feed = parse_feed(RSS2, "http://news.example/feed")
    assert item_id(feed.items[0], feed.url) == "http://news.example/1"


def test_html_to_text_drops_markup() -> None:
    assert html_to_text("<div><script>x()</script><p>A &amp; B</p><ul><li>c</li></ul></div>") == "A & B\n\nc"
    assert html_to_text("plain &lt;text&gt;") == "plain <text>"


# --- durations, feeds file, backoff, politeness --------------------------------------------

def test_parse_duration() -> None:
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("365d") == timedelta(days=365)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration(" 90s ") == timedelta(seconds=90)
    for bad in ("", "15", "m", "15x", "-5m", "0s", "5m junk"):
        with pytest.raises(ConfigError):
            parse_duration(bad, "--every")


def test_read_feeds_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "feeds.txt"
    f.write_text("# my feeds\nhttp://a.example/rss#frag\n\n local.xml  # a file\nhttp://a.example/rss#frag\n")
    assert read_feeds_file(f) == ["http://a.example/rss#frag", str(tmp_path / "local.xml")]
    with pytest.raises(ConfigError, match="--feeds"):
        read_feeds_file(tmp_path / "missing.txt")


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_rounds(n, 16) for n in range(1, 8)] == [0, 1, 3, 7, 15, 16, 16]


def test_host_throttle_spaces_requests_per_host() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    throttle = HostThrottle(2.0, clock=lambda: now[0], sleep=sleep)
    throttle.wait("http://a.example/1")
    throttle.wait("http://b.example/1")  # another host: no wait
    now[0] += 0.5
    throttle.wait("http://a.example/2")
    assert slept == [1.5]


def test_fetch_order_alternates_hosts() -> None:
    urls = ["http://a.example/1", "http://a.example/2", "http://a.example/3", "http://b.example/1", None]
    assert interleave_by_host(urls, lambda u: u) == [
        "http://a.example/1", "http://b.example/1", None, "http://a.example/2", "http://a.example/3"]


def test_a_surrogate_character_reference_costs_one_item_nothing_more() -> None:
    data = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>G</title>'
        b"<item><title>Half &#xD83D; an emoji &#55357;</title><link>https://g.example/a</link>"
        b"<description>Broken &#xd83d; text. More text here.</description></item>"
        b"<item><title>Good &#x1F600; one</title><link>https://g.example/b</link>"
        b"<description>A good item body.</description></item></channel></rss>"
    )
    feed = parse_feed(data, "http://g.example/feed")
    assert [i.title for i in feed.items] == ["Half \ufffd an emoji \ufffd", "Good \U0001F600 one"]
    assert feed.items[0].text == "Broken \ufffd text. More text here."


def test_a_round_takes_each_feeds_newest_items_round_robin_up_to_the_caps() -> None:
    def feed(name: str, days: list[int | None]) -> ParsedFeed:
        items = [FeedItem(guid=f"{name}{i}", link=None, title=f"{name}{i}", text="t",
                          published=datetime(2024, 1, d, tzinfo=UTC) if d else None)
                 for i, d in enumerate(days)]
        return ParsedFeed(url=f"http://{name}.test/feed", title=name, version="rss20", items=items)

    big = feed("big", [None, 3, 9, None, 5, 1])  # dated newest first, then undated in feed order
    small = feed("small", [2, None])
    tasks = [(f, item) for f in (big, small) for item in f.items]

    taken, left = take_newest(tasks, per_feed=4, per_round=5)
    assert [item.guid for _, item in taken] == ["big2", "small0", "big4", "small1", "big1"]
    assert left == {big.url: 3}
    taken, left = take_newest(tasks, per_feed=10, per_round=100)
    assert len(taken) == 8 and left == {}


@pytest.mark.parametrize("label", ["base64", "rot13", "hex", "zlib", "uu", "idna", "punycode", "bz2"])
def test_a_charset_that_is_no_text_encoding_is_read_as_undeclared(label: str) -> None:
    page = f'<meta charset="{label}"><p>Café \xff</p>'.encode("latin-1")
    assert detect_encoding(page, f"text/html; charset={label}") == "utf-8"
    assert decode_body(page, f"text/html; charset={label}").startswith(f'<meta charset="{label}"><p>Caf')
