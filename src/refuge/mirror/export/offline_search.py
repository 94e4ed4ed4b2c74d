"""The offline search page of a static export: a reader with no server behind the copy (a
bucket, an IPFS gateway path, file:// on a USB stick) can still find a page by a word of it.

    search.html       the page: a search box (shown by the script) and every page's title as
                      a link, which is all a reader with JavaScript off gets
    search-index.js   the index: ``var REFUGE_SEARCH = {"pages": [...]}``, for each exported
                      page its relative URL from the root ("p", percent-encoded), title
                      ("t"), readable original URL ("u") and plain text ("x")
    search.js         the search (static/search.js, our own, no library): substring matching,
                      so a Khmer word is found inside a sentence (Khmer puts no space between
                      words), title and snippet with every match in <mark>, links by relative
                      path

Why a script file for the index and not JSON: fetch() (or XMLHttpRequest) of a file on
file:// is refused by Chromium, so a JSON index would not load from a USB stick; a
``<script src>`` beside the page loads from file://, a bucket and a gateway path alike.
Both scripts are named with ``?v=`` and a hash of their bytes: a bucket's long cache of a
previous export's index is never used with a new search.html (file:// and gateways ignore it).

The text of a page is formats.html.text.page_text of the exported page as written (its first
READ_BYTES, in its own charset; page_text bounds hostile markup), without the Refuge banner
and the site's navigation boilerplate (DROP), in NFC as the catalog's search index keeps it. The index is bounded: at most TEXT_CHARS characters of text per
page, fewer for a big site so that the whole stays near INDEX_CHARS (never fewer than
MIN_TEXT_CHARS a page): a 2,000-page site gets 500 characters a page (the title and the
first sentences or paragraphs), about 3 MB of index for a Khmer site, which a phone loads
once when search.html opens. A word past its page's cap is not found offline (the replay server's
/search indexes more).

Hidden (taken-down) pages: the exporter leaves them out of the export (export.plan), and the
index is made from the exported pages only, so they are in neither the index nor the list.

Scripts: a static mirror's pages carry no script but the site's own (design.md, "Origins").
search.html is Refuge's own page with Refuge's own script, which issue 18 asks for; it
reads only the index beside it, fetches nothing, and builds results with textContent (no
text from a page is ever parsed as HTML). search.html's Content-Security-Policy (a <meta>,
since a bucket or a USB stick sends no headers) allows only scripts from the copy itself;
the export's pages have their own (export.banner.CSP), and publishing adds none that would
block this one. The same capture gives the same bytes.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape
from importlib.resources import files

from refuge.formats import charset as charsets
from refuge.formats.html.text import BOILERPLATE, page_text
from refuge.formats.urls import display_url
from refuge.mirror.export.paths import rel_href
from refuge.mirror.export.tree import Tree
from refuge.mirror.pages.reader import bilingual as _t
from refuge.mirror.pages.reader import reader_page, ts_text

PAGE, INDEX, SCRIPT = "search.html", "search-index.js", "search.js"
NAMES = frozenset({PAGE, INDEX, SCRIPT})  # at the root of every export
TEXT_CHARS = 2000
MIN_TEXT_CHARS = 200
INDEX_CHARS = 1_000_000
READ_BYTES = 2 * 1024 * 1024  # of a page, parsed for its text: the cap is reached long before
# The Refuge banner is on every exported page: it would match every search (and so would the
# site's navigation, formats.html.text.BOILERPLATE).
DROP = ("#refuge-banner", *BOILERPLATE)
SEARCH_JS = files("refuge.mirror.export").joinpath("static/search.js").read_bytes()
CSP = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'"
_CSS = ("#search input{width:100%;box-sizing:border-box;font:inherit;font-size:1.1em;padding:.4em;margin:.3em 0}"
        "#search button{font:inherit;padding:.3em 1em}mark{background:#ffe066;color:inherit}"
        "#results li{margin:1em 0}.snippet{margin:.2em 0}")


@dataclass(frozen=True)
class Entry:
    path: str   # export path of the page
    title: str  # "" when it has none
    url: str    # the URL it was captured from
    text: str   # plain text, capped

    def doc(self) -> dict[str, str]:
        return {"p": rel_href(PAGE, self.path), "t": self.title, "u": display_url(self.url), "x": self.text}


def text_chars(pages: int) -> int:
    """The text kept of each page when an export has PAGES pages."""
    return max(MIN_TEXT_CHARS, min(TEXT_CHARS, INDEX_CHARS // max(pages, 1)))


def page_entry(data: bytes, content_type: str | None, path: str, url: str, max_chars: int) -> Entry:
    """The index entry of the exported page at PATH, whose bytes begin with DATA, served as
    CONTENT_TYPE (its charset), captured from URL."""
    codec = charsets.html_charset(content_type, data[:4096])
    try:
        html = codecs.decode(data, codec, "replace")
    except LookupError:
        html = data.decode("utf-8", "replace")
    title, text, _lang = page_text(html, max_chars, DROP)
    # NFC, as the catalog's index holds text (and search.js a query): a word typed with its
    # marks composed or not is the same word. The page itself is not touched.
    return Entry(path, unicodedata.normalize("NFC", title), url, unicodedata.normalize("NFC", text))


def index_script(entries: Iterable[Entry]) -> bytes:
    """search-index.js for ENTRIES (in path order)."""
    doc = {"pages": [e.doc() for e in sorted(entries, key=lambda e: e.path)]}
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    # JSON allows LINE and PARAGRAPH SEPARATOR in strings; scripts before ES2019 do not.
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return ("var REFUGE_SEARCH = " + text + ";\n").encode("utf-8", "replace")


def search_page(target_name: str, ts: str, entries: Iterable[Entry], index: bytes) -> bytes:
    """search.html: ENTRIES listed by title; INDEX (search-index.js's bytes) names its version."""
    items = []
    for e in sorted(entries, key=lambda e: (e.url, e.path)):
        shown = display_url(e.url)
        items.append(f'<li><a href="{escape(rel_href(PAGE, e.path))}">{escape(e.title or shown)}</a><br>'
                     f'<span class="url">{escape(shown)}</span></li>')
    version = hashlib.sha256(index).hexdigest()[:12]
    script_version = hashlib.sha256(SEARCH_JS).hexdigest()[:12]
    head = (f'<meta http-equiv="Content-Security-Policy" content="{CSP}"><style>{_CSS}</style>'
            f'<script src="{INDEX}?v={version}" defer></script><script src="{SCRIPT}?v={script_version}" defer></script>')
    count = _t("{n} ទំព័រត្រូវនឹងការស្វែងរក", "{n} pages found", " / ").replace(
        "{n}", '<span class="n"></span>')
    more = _t("បង្ហាញតែ {n} ទំព័រដំបូង៖ សូមបន្ថែមពាក្យ ដើម្បីបង្រួម", "Only the first {n} are shown: add a word to narrow",
              " / ").replace("{n}", '<span class="n"></span>')
    body = (
        f"<h1>{_t('ស្វែងរក', 'Search', '<br>')}</h1>"
        f"<p>{escape(target_name)} · {escape(ts_text(ts))} · {len(items)} {_t('ទំព័រ', 'pages', ' / ')}</p>"
        f'<form id="search" action="{PAGE}" method="get" role="search" hidden>'
        f'<label for="q">{_t("ពាក្យដែលត្រូវស្វែងរក ជាភាសាខ្មែរ ឬអង់គ្លេស", "Words to look for, in Khmer or English", " / ")}'
        f'</label><input id="q" name="q" type="search" autocomplete="off" maxlength="200">'
        f"<button>{_t('ស្វែងរក', 'Search', ' / ')}</button></form>"
        f"<noscript><p>{_t('ការស្វែងរកត្រូវការ JavaScript។ ទំព័រទាំងអស់មាននៅខាងក្រោម។', 'Search needs JavaScript. Every page is listed below.', '<br>')}"
        f"</p></noscript>"
        f'<p id="count" hidden>{count}</p><p id="more" hidden>{more}</p>'
        f'<p id="none" hidden>{_t("រកមិនឃើញទំព័រណាមួយទេ។", "No page found.", "<br>")}</p>'
        f'<ol id="results"></ol>'
        f'<div id="all-pages"><h2>{_t("ទំព័រទាំងអស់", "All pages", " / ")}</h2><ul>{"".join(items)}</ul></div>'
    )
    return reader_page(f"{target_name} — search / ស្វែងរក", body, home="index.html", head=head)


def write_search(tree: Tree, titles: Mapping[str, str], url_of: Mapping[str, str], target_name: str,
                 ts: str) -> None:
    """Write search.html, search-index.js and search.js at TREE's root for the pages in TITLES
    (export paths, already written in TREE), each captured from URL_OF[path]."""
    types = {f.path: f.content_type for f in tree.files}
    max_chars = text_chars(len(titles))
    entries = []
    for path in sorted(titles):
        with open(tree.root / path, "rb") as fh:
            data = fh.read(READ_BYTES)
        entry = page_entry(data, types.get(path), path, url_of[path], max_chars)
        entries.append(entry if entry.title else Entry(path, titles[path], entry.url, entry.text))
    index = index_script(entries)
    tree.write(INDEX, index, "index", "text/javascript; charset=utf-8")
    tree.write(SCRIPT, SEARCH_JS, "index", "text/javascript; charset=utf-8")
    tree.write(PAGE, search_page(target_name, ts, entries, index), "index", "text/html; charset=utf-8")
