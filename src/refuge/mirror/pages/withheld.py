"""The page a reader gets instead of a page that was taken down (storage.catalog.hidden): on
the replay server with status 451, and in a static export as the file links to it lead to.

Khmer first, then English; the admin's reason as written (it is shown to readers: the
takedown's own record says so). The URL is not repeated: a reader who followed a link has
it, and a page listing what was hidden would undo the takedown.
"""

from __future__ import annotations

from html import escape

from refuge.mirror.pages.reader import bilingual as _t
from refuge.mirror.pages.reader import reader_page

TITLE = "Withheld / បានដកចេញ"


def withheld_page(reason: str, home: str = "/") -> bytes:
    """The notice for a withheld page, with REASON; HOME is where the footer's Home link goes."""
    head = _t("ទំព័រនេះត្រូវបានដកចេញពីការបង្ហាញ", "This page has been withheld", "<br>")
    why = _t("អ្នកគ្រប់គ្រងបណ្ណសារនេះបានដកទំព័រនេះចេញ មិនឱ្យអ្នកអានមើលឃើញ។",
             "The people who run this archive have withdrawn this page from view.", "<br>")
    body = (f"<h1>{head}</h1><p>{why}</p><h2>{_t('មូលហេតុ', 'Reason', ' / ')}</h2>"
            f'<p class="reason" style="white-space:pre-line">{escape(reason)}</p>')
    return reader_page(TITLE, body, home=home)
