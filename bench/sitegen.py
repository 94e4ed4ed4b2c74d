"""Deterministic test site for the benchmark: HTML pages with Khmer and English text,
stylesheets, images and a script, linked so that every page is reachable from ``/``.

Layout (all links root-relative, so the same tree works on any host and port)::

    /index.html                       home: nav to every section, latest articles
    /robots.txt                       allow everything
    /static/site.css                  shared stylesheet (references one background image)
    /static/sec-<section>.css         one stylesheet per section
    /static/app.js                    shared script
    /static/img/i<NNN>.png            pool of distinct small PNG images
    /<section>/index.html             listing page 1 (links to every listing page)
    /<section>/page-<k>.html          listing pages 2..L (prev/next pagination)
    /<section>/a<NNNNN>.html          articles (related-article links, prev/next)

Depth from ``/``: section listing 1 -> 1, other listing pages -> 2, articles -> 3.
Page counts: ``pages`` is the number of HTML documents, exactly.

Run it alone: ``python bench/sitegen.py DIR --pages 2000``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

SECTIONS = ["news", "politics", "economy", "culture", "health", "education", "environment", "opinion"]
SECTION_KM = {
    "news": "ព័ត៌មាន",
    "politics": "នយោបាយ",
    "economy": "សេដ្ឋកិច្ច",
    "culture": "វប្បធម៌",
    "health": "សុខភាព",
    "education": "ការអប់រំ",
    "environment": "បរិស្ថាន",
    "opinion": "មតិ",
}
ARTICLES_PER_LISTING = 25

KHMER_WORDS = (
    "ប្រទេស កម្ពុជា ភាសា ខ្មែរ រដ្ឋាភិបាល សេដ្ឋកិច្ច ការអប់រំ សុខភាព ព័ត៌មាន ទីក្រុង ភ្នំពេញ "
    "ប្រជាជន សង្គម វប្បធម៌ ប្រវត្តិសាស្ត្រ សិល្បៈ កសិកម្ម ទន្លេ មេគង្គ អង្គរ ព្រះរាជាណាចក្រ ឆ្នាំ "
    "ថ្ងៃ ខែ ពេលវេលា និង ជា នៅ ក្នុង របស់ ដែល បាន មាន ទៅ ពី សម្រាប់ ការ អ្នក យើង គេ "
    "សិស្ស គ្រូ សាលារៀន មន្ទីរពេទ្យ ផ្លូវ ភូមិ ខេត្ត សៀមរាប បាត់ដំបង កំពត ទឹក ភ្លៀង "
    "ស្រូវ ត្រី ផ្សារ តម្លៃ ប្រាក់ ការងារ កម្មករ រោងចក្រ ច្បាប់ តុលាការ សិទ្ធិ សេរីភាព "
    "អ្នកកាសែត សារព័ត៌មាន អ៊ីនធឺណិត បច្ចេកវិទ្យា ទូរស័ព្ទ យុវជន ស្ត្រី កុមារ គ្រួសារ "
    "ព្រៃឈើ បរិស្ថាន អាកាសធាតុ ថាមពល អគ្គិសនី ការបោះឆ្នោត គណបក្ស សភា រដ្ឋមន្ត្រី"
).split()
ENGLISH_WORDS = (
    "the of and to in a is that for on with as by at from this be are was were it an or "
    "government economy education health news report city province river village market "
    "price farmers workers factory court law rights freedom press journalist internet "
    "technology phone youth women children family forest environment climate energy "
    "election party parliament minister budget trade rice fish water rain road school "
    "teacher student hospital doctor community culture history temple festival music "
    "according said officials local residents development project support public policy "
    "national international research data survey analysis growth investment border"
).split()

IMAGE_POOL = 300


@dataclass
class Page:
    path: str  # URL path, e.g. /news/a00012.html or /
    file: str  # file path under the site root
    title: str
    kind: str  # home | listing | article
    depth: int


@dataclass
class Site:
    root: Path
    pages: list[Page] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)  # URL paths of non-HTML files

    def manifest(self) -> dict:
        return {
            "pages": [p.__dict__ for p in self.pages],
            "assets": self.assets,
        }


# --------------------------------------------------------------------------- images

def _png(width: int, height: int, pixels: bytes) -> bytes:
    """A truecolour PNG from raw RGB rows."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + pixels[y * width * 3:(y + 1) * width * 3] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _image(rng: random.Random) -> bytes:
    w = rng.choice([24, 32, 48, 64, 80])
    h = rng.choice([24, 32, 48, 64])
    c1 = [rng.randrange(256) for _ in range(3)]
    c2 = [rng.randrange(256) for _ in range(3)]
    stripe = rng.randrange(2, 9)
    noise = rng.randrange(0, 40)
    px = bytearray()
    for y in range(h):
        for x in range(w):
            c = c1 if ((x + y) // stripe) % 2 == 0 else c2
            for ch in c:
                px.append(max(0, min(255, ch + rng.randrange(-noise, noise + 1) if noise else ch)))
    return _png(w, h, bytes(px))


# --------------------------------------------------------------------------- text

def _sentence(rng: random.Random, words: list[str], khmer: bool) -> str:
    n = rng.randrange(8, 20)
    s = (" " if not khmer else " ").join(rng.choice(words) for _ in range(n))
    if khmer:
        return s + "។"
    return s[0].upper() + s[1:] + "."


def _paragraphs(rng: random.Random, target_bytes: int) -> str:
    out: list[str] = []
    size = 0
    while size < target_bytes:
        khmer = rng.random() < 0.6
        words = KHMER_WORDS if khmer else ENGLISH_WORDS
        para = " ".join(_sentence(rng, words, khmer) for _ in range(rng.randrange(3, 7)))
        lang = ' lang="km"' if khmer else ' lang="en"'
        p = f"<p{lang}>{para}</p>\n"
        out.append(p)
        size += len(p.encode("utf-8"))
    return "".join(out)


def _title_words(rng: random.Random) -> str:
    return " ".join(rng.choice(ENGLISH_WORDS[20:]) for _ in range(4)).title()


# --------------------------------------------------------------------------- layout

def _plan(pages: int) -> dict[str, int]:
    """Articles per section so the total number of HTML documents is exactly PAGES."""
    if pages < 1 + len(SECTIONS) * 2:
        raise ValueError(f"need at least {1 + len(SECTIONS) * 2} pages")

    def total(articles: int) -> int:
        per = _split(articles)
        return 1 + sum(max(1, math.ceil(a / ARTICLES_PER_LISTING)) + a for a in per.values())

    lo, hi = 0, pages
    while lo < hi:  # largest article count whose total <= pages
        mid = (lo + hi + 1) // 2
        if total(mid) <= pages:
            lo = mid
        else:
            hi = mid - 1
    per = _split(lo)
    # A gap left where one more article would need a new listing page (two documents):
    # top up sections whose last listing page still has room.
    gap = pages - total(lo)
    for s in SECTIONS:
        while gap > 0 and per[s] % ARTICLES_PER_LISTING != 0:
            per[s] += 1
            gap -= 1
    if gap:
        raise ValueError(f"cannot lay out exactly {pages} pages")
    return per


def _split(articles: int) -> dict[str, int]:
    base, extra = divmod(articles, len(SECTIONS))
    return {s: base + (1 if i < extra else 0) for i, s in enumerate(SECTIONS)}


def _head(title: str, section: str | None) -> str:
    css = '<link rel="stylesheet" href="/static/site.css">\n'
    if section:
        css += f'<link rel="stylesheet" href="/static/sec-{section}.css">\n'
    return (
        "<!DOCTYPE html>\n<html lang=\"km\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{title}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"{css}<script src=\"/static/app.js\" defer></script>\n</head>\n"
    )


def _nav(current: str | None) -> str:
    items = ['<li><a href="/">Home · ទំព័រដើម</a></li>']
    for s in SECTIONS:
        cls = ' class="active"' if s == current else ""
        items.append(f'<li{cls}><a href="/{s}/">{s.title()} · {SECTION_KM[s]}</a></li>')
    return '<nav class="top"><ul>' + "".join(items) + "</ul></nav>\n"


def _imgs(rng: random.Random) -> str:
    out = []
    for i in rng.sample(range(IMAGE_POOL), rng.randrange(2, 6)):
        out.append(f'<figure><img src="/static/img/i{i:03d}.png" alt="image {i}" loading="lazy">'
                   f"<figcaption>{_sentence(rng, KHMER_WORDS, True)}</figcaption></figure>\n")
    return "".join(out)


def _footer(rng: random.Random) -> str:
    return ("<footer><p>© Refuge benchmark site · គេហទំព័រសាកល្បង</p>"
            f"<p>{_sentence(rng, ENGLISH_WORDS, False)}</p></footer>\n</body>\n</html>\n")


def generate(root: Path, pages: int = 2000, seed: int = 20240601) -> Site:
    """Write the site under ROOT (replacing it) and return its page list."""
    rng = random.Random(seed)
    if root.exists():
        shutil.rmtree(root)
    (root / "static" / "img").mkdir(parents=True)
    site = Site(root=root)

    def write(rel: str, data: bytes | str) -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)

    # Assets. The image pool is the same for every page count (its own seed).
    img_rng = random.Random(seed * 7 + 1)
    for i in range(IMAGE_POOL):
        write(f"static/img/i{i:03d}.png", _image(img_rng))
        site.assets.append(f"/static/img/i{i:03d}.png")
    write("static/img/bg.png", _image(img_rng))
    site.assets.append("/static/img/bg.png")
    css_rules = "".join(
        f".c{i} {{ margin: {i % 7}px; padding: {i % 5}px; color: #{(i * 2654435761) & 0xFFFFFF:06x}; }}\n"
        for i in range(120))
    write("static/site.css",
          "body { font-family: 'Noto Sans Khmer', sans-serif; background: url(/static/img/bg.png); }\n"
          "nav.top ul { display: flex; gap: 1em; list-style: none; }\n" + css_rules)
    site.assets.append("/static/site.css")
    for s in SECTIONS:
        write(f"static/sec-{s}.css",
              f"/* {s} */\nh1 {{ border-bottom: 3px solid #{zlib.crc32(s.encode()) & 0xFFFFFF:06x}; }}\n"
              + css_rules[:2000])
        site.assets.append(f"/static/sec-{s}.css")
    write("static/app.js",
          "(function(){\n  'use strict';\n"
          + "".join(f"  function f{i}(x){{ return (x * {i + 3}) % {i + 97}; }}\n" for i in range(200))
          + "  document.addEventListener('DOMContentLoaded', function(){ document.body.classList.add('js'); });\n})();\n")
    site.assets.append("/static/app.js")
    write("robots.txt", "User-agent: *\nAllow: /\n")
    site.assets.append("/robots.txt")

    per = _plan(pages)
    # Article ids and titles first, so listings and related links can name them.
    articles: dict[str, list[tuple[str, str]]] = {}
    n = 0
    for s in SECTIONS:
        articles[s] = []
        for _ in range(per[s]):
            n += 1
            title = f"Article {n:05d}: {_title_words(rng)} · {rng.choice(KHMER_WORDS)} {rng.choice(KHMER_WORDS)}"
            articles[s].append((f"/{s}/a{n:05d}.html", title))
    all_articles = [a for s in SECTIONS for a in articles[s]]

    def article_list(items: list[tuple[str, str]]) -> str:
        return "<ul class=\"articles\">" + "".join(
            f'<li><a href="{u}">{t}</a><p lang="km">{_sentence(rng, KHMER_WORDS, True)}</p></li>' for u, t in items
        ) + "</ul>\n"

    # Home.
    title = "Refuge Bench Home · ទំព័រដើម"
    latest = [articles[s][0] for s in SECTIONS if articles[s]]
    body = (_head(title, None) + '<body class="home">\n' + _nav(None) + f"<h1>{title}</h1>\n" + _imgs(rng)
            + "<h2>Latest</h2>\n" + article_list(latest) + _paragraphs(rng, rng.randrange(16000, 30000)) + _footer(rng))
    write("index.html", body)
    site.pages.append(Page("/", "index.html", title, "home", 0))

    for s in SECTIONS:
        items = articles[s]
        nlist = max(1, math.ceil(len(items) / ARTICLES_PER_LISTING))

        def listing_url(k: int) -> str:
            return f"/{s}/" if k == 1 else f"/{s}/page-{k}.html"

        for k in range(1, nlist + 1):
            chunk = items[(k - 1) * ARTICLES_PER_LISTING:k * ARTICLES_PER_LISTING]
            title = f"{s.title()} · {SECTION_KM[s]} · page {k} of {nlist}"
            pag = ['<nav class="pagination">']
            if k > 1:
                pag.append(f'<a rel="prev" href="{listing_url(k - 1)}">« prev</a>')
            if k == 1:  # the first listing links every page, keeping depth at 2
                pag.extend(f'<a href="{listing_url(j)}">{j}</a>' for j in range(2, nlist + 1))
            if k < nlist:
                pag.append(f'<a rel="next" href="{listing_url(k + 1)}">next »</a>')
            pag.append("</nav>\n")
            body = (_head(title, s) + f'<body class="listing {s}">\n' + _nav(s) + f"<h1>{title}</h1>\n"
                    + _imgs(rng) + article_list(chunk) + "".join(pag)
                    + _paragraphs(rng, rng.randrange(12000, 26000)) + _footer(rng))
            rel = f"{s}/index.html" if k == 1 else f"{s}/page-{k}.html"
            write(rel, body)
            site.pages.append(Page(listing_url(k), rel, title, "listing", 1 if k == 1 else 2))

        for i, (url, title) in enumerate(items):
            related = rng.sample(all_articles, min(5, len(all_articles)))
            seq = []
            if i > 0:
                seq.append(f'<a rel="prev" href="{items[i - 1][0]}">« {items[i - 1][1]}</a>')
            if i + 1 < len(items):
                seq.append(f'<a rel="next" href="{items[i + 1][0]}">{items[i + 1][1]} »</a>')
            back = listing_url(i // ARTICLES_PER_LISTING + 1)
            body = (_head(title, s) + f'<body class="article {s}">\n' + _nav(s)
                    + f'<article>\n<h1>{title}</h1>\n<p class="meta"><a href="{back}">{s.title()}</a></p>\n'
                    + _imgs(rng) + _paragraphs(rng, rng.randrange(18000, 34000))
                    + "</article>\n<aside><h2>Related · អត្ថបទពាក់ព័ន្ធ</h2>" + article_list(related) + "</aside>\n"
                    + '<nav class="seq">' + " ".join(seq) + "</nav>\n" + _footer(rng))
            write(url.lstrip("/"), body)
            site.pages.append(Page(url, url.lstrip("/"), title, "article", 3))

    assert len(site.pages) == pages, (len(site.pages), pages)
    (root.parent / (root.name + ".manifest.json")).write_text(json.dumps(site.manifest()), encoding="utf-8")
    return site


def load_manifest(root: Path) -> dict:
    return json.loads((root.parent / (root.name + ".manifest.json")).read_text(encoding="utf-8"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20240601)
    a = ap.parse_args()
    site = generate(a.root, a.pages, a.seed)
    sizes = [(a.root / p.file).stat().st_size for p in site.pages]
    print(f"{len(site.pages)} pages, {len(site.assets)} assets, page bytes min {min(sizes)} "
          f"avg {sum(sizes) // len(sizes)} max {max(sizes)}")


if __name__ == "__main__":
    main()
