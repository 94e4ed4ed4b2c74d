"""Which discovered URLs a capture follows."""

from refuge.archiver.scope import Scope, is_trap
from refuge.config.targets import make_target
from refuge.formats.urls import canonical, join, resolve, surt_key


def scope(url: str, kind: str, **kw) -> Scope:
    return Scope(make_target(url, scope=kind, **kw))


def test_page_scope_is_the_seed_alone() -> None:
    s = scope("https://www.rfa.org/khmer/news/a.html", "page")
    assert s.in_scope("https://www.rfa.org/khmer/news/a.html#top")
    assert not s.in_scope("https://www.rfa.org/khmer/news/b.html")


def test_prefix_scope_is_the_seed_directory() -> None:
    s = scope("https://www.rfa.org/khmer/index.html", "prefix")
    assert s.in_scope("https://www.rfa.org/khmer/news/story.html")
    assert s.in_scope("http://www.rfa.org/khmer/")  # scheme does not matter
    assert not s.in_scope("https://www.rfa.org/english/")
    assert not s.in_scope("https://www.rfa.org/khmerish")


def test_host_scope_is_host_and_port() -> None:
    s = scope("http://127.0.0.1:8000/", "host")
    assert s.in_scope("http://127.0.0.1:8000/any/where?x=1")
    assert not s.in_scope("http://127.0.0.1:8001/")
    assert not s.in_scope("http://localhost:8000/")


def test_domain_scope_takes_subdomains_of_the_registered_domain() -> None:
    s = scope("https://www.cambodiadaily.com/", "domain")
    assert s.in_scope("https://english.cambodiadaily.com/news/")
    assert s.in_scope("https://cambodiadaily.com/")
    assert not s.in_scope("https://notcambodiadaily.com/")
    s = scope("https://news.example.org.kh/", "domain")  # a multi-label public suffix
    assert s.in_scope("https://archive.example.org.kh/")
    assert not s.in_scope("https://other.org.kh/")


def test_include_narrows_and_exclude_cuts() -> None:
    s = scope("https://site.example/", "host", include=[r"/km/"], exclude=[r"\?replytocom="])
    assert s.in_scope("https://site.example/km/story")
    assert not s.in_scope("https://site.example/en/story")
    assert not s.in_scope("https://site.example/km/story?replytocom=5")


def test_seed_redirect_extends_scope() -> None:
    s = scope("http://rfa.example/", "prefix")
    assert not s.in_scope("https://www.rfa.example/khmer/story")
    s.add_seed("https://www.rfa.example/khmer/")
    assert s.in_scope("https://www.rfa.example/khmer/story")


def test_traps() -> None:
    assert is_trap("http://x.example/trap/a/a/a/")
    assert not is_trap("http://x.example/a/a/b/")
    assert is_trap("http://x.example/" + "/".join(str(i) for i in range(40)))
    assert is_trap("http://x.example/?" + "q" * 3000)


def test_canonical_and_resolve() -> None:
    assert canonical("HTTP://Example.COM:80/a/%7euser/?b=1#frag") == "http://example.com/a/~user/?b=1"
    assert canonical("https://example.com") == "https://example.com/"
    assert canonical("https://example.com/ព័ត៌មាន") == "https://example.com/%E1%9E%96%E1%9F%90%E1%9E%8F%E1%9F%8C%E1%9E%98%E1%9E%B6%E1%9E%93"
    assert resolve("http://a.example/x/y.html", "../z.html#f") == "http://a.example/z.html"
    assert resolve("https://a.example/", "//cdn.example/s.css") == "https://cdn.example/s.css"
    for skipped in ("javascript:alert(1)", "mailto:a@b", "data:image/png;base64,AA", "#top", "  "):
        assert resolve("http://a.example/", skipped) is None
    assert surt_key("https://www.Example.com/b?z=1&a=2") == "com,example)/b?a=2&z=1"


def test_resolve_shortcuts_agree_with_urljoin() -> None:
    """resolve() caches by the part of the base that matters; it must answer as urljoin does
    (with an empty path made '/', as browsers do)."""
    from itertools import product
    from urllib.parse import urljoin, urlsplit, urlunsplit

    bases = ["http://a.example/x/y.html?q=1#f", "http://a.example", "https://a.example:8443/dir/",
             "http://a.example/dir/sub/page?x=/y/z", "http://a.example?x=/a/b", "http://a.example/ព័ត៌/x"]
    hrefs = ["/abs", "rel.html", "../up.html", "?q=2", "//cdn.example/x.css", "https://other.example/p", "./",
             "..", "a?b#c", "/", "?", "x/../y", "HTTP://Up.example/", "../../../../x", "ព័ត៌.html", " sp.html "]
    for base, href in product(bases, hrefs):
        parts = urlsplit(urljoin(base, href.strip()))
        assert resolve(base, href) == urlunsplit(parts._replace(fragment="", path=parts.path or "/")), (base, href)


def test_join_shortcut_answers_as_urljoin_on_random_links() -> None:
    """join() appends a plain path itself; for any link it must answer as it does through
    urljoin (_join), whatever the base: a port, user info, parameters, an IPv6 host, a bad port."""
    import random

    from refuge.formats import urls

    def through_urljoin(base: str, href: str) -> str | None:
        href = href.strip()
        _scheme, root, directory = urls._base_parts(base)
        return urls._join(root if href.startswith("/") else base if href.startswith("?") else directory, href)

    bases = ["http://h.example/dir/page.html", "https://H.example:8443/a/b/", "http://h.example",
             "http://user@h.example/x?q=1", "http://h.example:99999/a", "ftp://h.example/a/",
             "http://[::1]:80/a/b", "http://h.example/a;p/b", "HTTP://h.example/%7Ea/", "http://h.example/ព័ត៌/x"]
    pieces = ["a", "b", "/", "./", "../", ".", "..", "%2e", "%41", ":", "@", "-", "~", "?", "#", "é", " ",
              "x.html", "//", ";", "=", "&", "!", "'", "(", "*", "+", ",", "$", "_", "ក"]
    rnd = random.Random(7)
    checked = shortcut = 0
    while checked < 20_000:
        base = rnd.choice(bases)
        href = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 6)))
        if href.strip()[:1] in ("", "#", ":") or href.strip().startswith("//") or ":" in href.split("/", 1)[0]:
            continue  # nothing, a fragment, another host or what may read as a scheme: no shortcut there
        checked += 1
        shortcut += urls._plain(href.strip())
        assert join(base, href) == through_urljoin(base, href), (base, href)
    assert shortcut > 2_000  # the shortcut was tried, and often


def test_join_reads_links_as_browsers_do() -> None:
    assert join("http://a.example/x/", " b\\c.html#top ") == "http://a.example/x/b/c.html#top"
    assert join("http://a.example/x/", "im\tage.png") == "http://a.example/x/image.png"
    assert join("http://a.example/x/", "https://b.example") == "https://b.example/"
    assert resolve("http://a.example/x/", "p.html#section") == "http://a.example/x/p.html"
    for skipped in ("#top", "javascript:void(0)", "mailto:a@b", "data:,x", "  ", "ftp://x.example/"):
        assert join("http://a.example/", skipped) is None
