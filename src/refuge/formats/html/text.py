"""A page's title and readable text, for search (a WACZ package's pages.jsonl).

Parsed with Lexbor (selectolax), as the crawler's link extraction is: the tree a browser
would build. The text is what a reader sees: script, style, noscript and template contents
are dropped; runs of whitespace become one space. Nothing else is changed (Khmer, which
separates words with zero-width spaces rather than spaces, is kept exactly as written).
"""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

HIDDEN = ["script", "style", "noscript", "template"]
TITLE_CHARS = 1000


def title_and_text(html: str, max_chars: int) -> tuple[str, str]:
    """The document's first <title> (at most TITLE_CHARS) and its body's text (at most
    MAX_CHARS), whitespace collapsed; "" for what it does not have."""
    # A browser's decoder consumes the byte order mark; left in, it would open <body> early.
    tree = LexborHTMLParser(html[1:] if html.startswith("\ufeff") else html)
    node = tree.css_first("title")
    title = " ".join(node.text(deep=True).split())[:TITLE_CHARS] if node is not None else ""
    tree.strip_tags(HIDDEN)
    body = tree.body
    text = " ".join(body.text(deep=True, separator=" ").split())[:max_chars] if body is not None else ""
    return title, text
