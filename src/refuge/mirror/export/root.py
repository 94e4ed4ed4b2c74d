"""The pages at the root of an export: index.html (opens the seed page), contents.html (every
page), and mirrors.html when the export is made without the mirror list. Both of the first
link to search.html (export.offline_search)."""

from __future__ import annotations

from html import escape

from refuge.formats.urls import display_url
from refuge.mirror.export.paths import rel_href
from refuge.mirror.export.plan import Plan
from refuge.mirror.pages.reader import bilingual as _t
from refuge.mirror.pages.reader import reader_page, ts_text


def contents_page(target_name: str, ts: str, titles: dict[str, str], plan: Plan) -> bytes:
    """Every exported page, by path: the way to reach each of them from the root."""
    url_of = {path: plan.urls[key] for key, path in plan.paths.items()}
    items = []
    for path in sorted(titles, key=lambda p: (url_of[p], p)):
        shown = display_url(url_of[path])
        title = titles[path].encode("utf-8", "replace").decode("utf-8") or shown
        items.append(f'<li><a href="{escape(rel_href("contents.html", path))}">{escape(title)}</a><br>'
                     f'<span class="url">{escape(shown)}</span></li>')
    body = (f"<h1>{_t('ទំព័រទាំងអស់', 'All pages', '<br>')}</h1>"
            f"<p>{escape(target_name)} · {escape(ts_text(ts))} · {len(items)} {_t('ទំព័រ', 'pages', ' / ')}</p>"
            f'<p><a href="search.html">{_t("ស្វែងរកក្នុងទំព័រទាំងនេះ", "Search these pages", " / ")}</a></p>'
            f"<ul>{''.join(items)}</ul>")
    return reader_page(f"{target_name} — all pages", body, home="index.html")


def index_page(target_name: str, seed_url: str, ts: str, seed_path: str, has_data: bool) -> bytes:
    seed = escape(rel_href("index.html", seed_path))
    links = [f'<a href="contents.html">{_t("ទំព័រទាំងអស់", "All pages", " / ")}</a>',
             f'<a href="search.html">{_t("ស្វែងរក", "Search", " / ")}</a>']
    if has_data:
        links.append(f'<a href="data/index.html">{_t("កំណត់ត្រាជាទិន្នន័យ", "Records as data", " / ")}</a>')
    links.append(f'<a href="mirrors.html">{_t("បញ្ជីគេហទំព័រចម្លង", "Mirror list", " / ")}</a>')
    body = (
        f"<h1>{escape(target_name)}</h1>"
        f'<p lang="km">ច្បាប់ចម្លងបណ្ណសារនៃ <span class="url">{escape(display_url(seed_url))}</span> '
        f"ដែល Refuge ថតនៅ {escape(ts_text(ts))}។ អ្នកអានវាបាន ដោយមិនចាំបាច់ចូលទៅគេហទំព័រដើម។</p>"
        f'<p lang="en" class="en">An archived copy of <span class="url">{escape(display_url(seed_url))}</span>, '
        f"captured by Refuge at {escape(ts_text(ts))}. You can read it without contacting the original site.</p>"
        f'<p><strong><a href="{seed}">{_t("បើកគេហទំព័រ", "Open the site", " / ")}</a></strong></p>'
        f"<ul>{''.join(f'<li>{link}</li>' for link in links)}</ul>"
    )
    head = f'<meta http-equiv="refresh" content="0; url={seed}">'
    return reader_page(f"{target_name} — Refuge", body, home="index.html", head=head)


def mirrors_placeholder() -> bytes:
    body = (f"<h1>{_t('បញ្ជីគេហទំព័រចម្លង', 'Mirror list', '<br>')}</h1>"
            '<p lang="km">បញ្ជីគេហទំព័រចម្លងដែលកំពុងដំណើរការ ត្រូវបានផ្សព្វផ្សាយជាមួយគេហទំព័រចម្លងនីមួយៗ។ '
            "ច្បាប់ចម្លងនេះត្រូវបានធ្វើឡើងដោយគ្មានបញ្ជីនោះ។</p>"
            '<p lang="en" class="en">The list of working mirrors is published with the mirrors themselves; '
            "this copy was made without it.</p>")
    return reader_page("Mirror list / បញ្ជីគេហទំព័រចម្លង", body, home="index.html")
