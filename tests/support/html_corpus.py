"""A corpus of HTML for the rewriter's tests: the fixture site's pages, synthetic pages that
collect what hostile and broken markup does, and random markup made of those tokens."""

from __future__ import annotations

import random
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixture_site"
PAGE_URL = "https://site.example/km/news/page.html"


def fixture_pages() -> dict[str, str]:
    pages = {}
    for path in sorted(FIXTURES.rglob("*.html")):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        pages[path.relative_to(FIXTURES).as_posix()] = text
    return pages


HEAD = """<!DOCTYPE html>
<html lang="km"><head><meta charset="utf-8"><title>ព័ត៌មាន &amp; news</title>
<meta name="viewport" content="width=device-width">
<link rel="stylesheet" href="/static/site.css" integrity="sha384-x" crossorigin="anonymous">
<base href="https://site.example/km/">
<style>body { background: url(bg.png) } /* url(c.png) */</style>
<script src="/static/app.js" defer></script>
<script>var x = "<a href='js.html'>"; if (a<b && c>d) {}</script>
</head>
"""

BODY = """<body class="article">
<nav class="top"><ul><li><a href="/">Home</a></li><li class="active"><a href="../en/">EN</a></li></ul></nav>
<div class="hero" style="background:url('hero.jpg')" data-x='<a href="no.html">'>x</div>
<DIV CLASS=big STYLE="background: URL(big.png)">y</DIV><span Style=color:red>z</span>
<p data-style="url(no.png)" styles="x" title="style=url(no2.png)">t</p>
<p>Fish &amp chips &copy 2024 &#x1F600; &notanentity; & < > <3 a<b <-- x</p>
<a   HREF = 'a.html'   title="x>y"  >ok</a ><A href=b.html?x=1&amp;y=2>b</A>
<img src="i.png"/><br/><hr   /><img src=u.png/><img src=v.png /><p/>
<picture><source srcset="p.webp 1x, p2.webp 2x" type="image/webp"><img src="p.jpg" srcset="a.jpg 1x,b.jpg 2x"></picture>
<video poster="poster.jpg"><source src="v.webm"><track src="t.vtt"></video>
<!-- a comment with <a href="comment.html"> and <style>url(c.png)</style> inside -->
<!--> <a href="after-abrupt.html"> --> <!---> <a href=x.html> --!> <a href=y.html>
<?xml-stylesheet href="pi.css"?> <![CDATA[ <a href=cdata.html> ]]> <![ weird section >
<! bogus <a href=bogus.html> > </ notatag <a href=z.html>> </> </3 >
<noscript><img src="ns.png"></noscript><template><a href="tpl.html">t</a></template>
<textarea name=t><a href="ta.html"></textarea><xmp><a href="xmp.html"></xmp>
<iframe src="f.html"></iframe>
<form action="/search"><input type=image src=go.png><button formaction=/go>b</button></form>
<table background="t.gif"><tr><td background=td.gif>c</td></tr></table>
<meta http-equiv="refresh" content="0; url=/next.html">
<a href="https://other.example/x" ping="https://t.example/p">out</a>
<svg><image xlink:href="s.png"/><use href="#i"/></svg><svg:rect x=1/><o:p></o:p>
<custom-element some-attr="<img src=no.png>">c</custom-element>
<div a="x"b="y">q</div><div/ class=a>r</div><div a = "b">s</div><div a==b c>t</div>
<div\x0bclass=v>u</div><div class=\xa0w>v</div><div\x00 src=x>w</div><a<b href=c.html>
<script type="text/javascript">
  document.write("<a href='js2.html'>"); // </scr + ipt>
</script ><script>var s = "</SCRIPT  "</sCrIpT>
<style>p{background:URL( 'p.png' )}</style ><style media=print>q{}</STYLE>
<a href="last.html">last</a>
</body></html>
"""

SYNTHETIC = {
    "page": HEAD + BODY,
    "no head": BODY,
    "banner before head ends": "<html><head><title>t</title><div>early</div><link href=l.css rel=stylesheet></head>"
                               "<body><a href=a.html>a</a></body>",
    "noscript and template first": "<noscript><div>n</div></noscript><template><p>t</p></template>"
                                   "<span>s</span><a href=a.html>a</a>",
    "frameset": '<html><frameset cols="50%,50%"><frame src=a.html><frame src=b.html></frameset></html>',
    "self-closed script": '<head><script/><p>googletagmanager <a href="https://x.example/">x</a>'
                          "</script><div>after</div><a href=b.html>b</a>",
    "self-closed script, site's own": "<body><div>d</div><script/>var a = 1; <span>s</span></script><a href=c.html>",
    "self-closed title": "<head><title/>The <b>title</b> &amp; more</title><div>d</div><a href=t.html>t</a>",
    "self-closed style": "<body><div>d</div><style/>p{background:url(x.png)}<a href=s.html>s</a></style>",
    "unclosed style": "<p>x</p><div>d</div><style>a { background: url(a.png) }",
    "unclosed script": "<p>x</p><div>d</div><script>var a = '<a href=x>';",
    "unclosed comment": "<body><div>d</div><!-- <a href=a.html> <div>",
    "unclosed tag": '<body><div>d</div><a href="x.html" title="un',
    "unclosed tag 2": "<body><div>d</div><img src=x.png alt=",
    "unclosed end tag": "<body><div>d</div></div",
    "lone lt at end": "<body><div>d</div>a <",
    "entity at end": "<body><div>d</div>AT&T &amp",
    "uppercase": "<HTML><HEAD><TITLE>T</TITLE></HEAD><BODY BACKGROUND=bg.gif><A HREF=one.html>1</A>"
                 "<IMG SRC='two.png' ALT=x><DIV STYLE='background:url(d.png)'>d</DIV></BODY></HTML>",
    "nested media": "<body><div>d</div><video><picture><source src=a.jpg></picture><source src=b.webm></video>"
                    "<source src=c><audio><source srcset=d.ogg></audio>",
    "self-closed media": "<body><div>d</div><picture/><source src=a.jpg><video/><source srcset=b.jpg>"
                         "<audio/><source src=c.ogg><picture><source src=d.jpg><picture/></picture><source src=e>",
    "self-closed noscript first": "<noscript/><template/><div>d</div><a href=a.html>a</a>",
    "base later": "<body><div>d</div><a href=a.html>a</a><base href=/b/><a href=b.html>b</a><base href=/c/>",
    "text only": "just text & more &amp; text",
    "empty": "",
    "link before body": '<html><head><meta charset="utf-8"><link rel="stylesheet" href="/static/site.css">'
                        '<meta http-equiv="refresh" content="5; url=next.html"><a href="a.html">early</a>'
                        '<link rel=icon href=i.png></head><body><a href="a.html">a</a>'
                        '<link rel="stylesheet" href="/static/site.css"><img src=x.png></body>',
    "head then media": '<head><meta name=x><link rel=stylesheet href=s.css></head><video><source src=v.webm>'
                       '<link rel=stylesheet href=s.css></video><source src=v.webm><body><img src=x.png>',
}

FUZZ_TOKENS = [
    "<a href=x>", "<", ">", "&", "&amp", "&amp;", "&#x41;", "&section=", "<!--", "-->", "<!-->", "--!>",
    "<![", "]]>", "<![CDATA[", "<!D", "<!DOCTYPE", "<?", "</", "</a ", "<style>", "</style>", "</style",
    "<style/>", "<script>", "</script>", "<script/>", "<sc", "ript>", "</scrip", "t>", "<title>", "</title>",
    "<title/>", "<textarea>", "</textarea>", "'", '"', "=", " ", "\n", "\r\n", "\t", "x", "ក", "url(", ")",
    "/*", "*/", "<body>", "<br/>", "<div>", "</div>", "<div class=a>", '<div class="x>y">', "<span>", "</span>",
    "<p>", "</p>", "<DIV>", "</DIV>", "<li class='a b'>", "<div style=color:red>", "<div data-style=x>",
    "<img src='y.png' srcset='a 1x, b 2x'>", "<img\nsrc=z>", "<A HREF=Y>", "<a", " href", "<a href='x",
    '<p style="background:url(q.png)">', "<meta http-equiv=refresh content='0;url=r'>", "<base href=b/>",
    "<svg>", "</svg>", "<noscript>", "</noscript>", "<template>", "</template>", "<frameset>", "<picture>",
    "</picture>", "<source src=s>", "<video>", "</video>", "<head>", "<html>", "googletagmanager",
    "https://t.example/", "<div a = b>", "<div/>", "<x-y z=1/>", "\x0b", "\xa0", "\x00", "<3", "< b",
]


def fuzz_docs(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(FUZZ_TOKENS) for _ in range(rnd.randint(1, 60))) for _ in range(count)]


CORPUS = {**{f"fixture {k}": v for k, v in fixture_pages().items()}, **SYNTHETIC}
