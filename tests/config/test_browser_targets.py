"""Browser-mode options on a target: validated into one-line errors, read from a targets
file, kept by the catalog (a real SQLite one) and given back as they were."""

from __future__ import annotations

import pytest

from refuge.config.errors import BadInput
from refuge.config.targets import MAX_CLICKS, load_targets_file, make_target
from refuge.storage import catalog

URL = "https://kampuchea.example/"


def test_defaults_are_plain_fetches() -> None:
    spec = make_target(URL)
    assert (spec.browser, spec.scroll, spec.click, spec.max_clicks, spec.clicks) == (False, False, (), None, 0)


def test_browser_options_and_the_default_number_of_presses() -> None:
    spec = make_target(URL, browser=True, scroll=True, click=["button#load-more", ".more a"])
    assert spec.click == ("button#load-more", ".more a") and spec.clicks == 5
    assert make_target(URL, browser=True, click=["button"], max_clicks=2).clicks == 2
    assert make_target(URL, browser=True, click=["button"], max_clicks=0).clicks == 0
    assert spec.as_dict()["click"] == ["button#load-more", ".more a"]


@pytest.mark.parametrize("options, message", [
    ({"scroll": True}, "scroll: only a browser-mode target scrolls or clicks; add --browser"),
    ({"click": ["button"]}, "click: only a browser-mode target"),
    ({"max_clicks": 3}, "max-clicks: only a browser-mode target"),
    ({"browser": "yes"}, "browser 'yes': must be true or false"),
    ({"browser": True, "scroll": 1}, "scroll 1: must be true or false"),
    ({"browser": True, "click": "button"}, "click 'button': must be a list of CSS selectors"),
    ({"browser": True, "click": ["button"], "max_clicks": MAX_CLICKS + 1}, "max-clicks 51: must be a whole number"),
    ({"browser": True, "click": ["button"], "max_clicks": -1}, "max-clicks -1: must be a whole number"),
    ({"browser": True, "max_clicks": 3}, "max-clicks: give the elements to press with --click SELECTOR"),
    ({"browser": True, "click": ["a\x00b"]}, "on one line"),
    ({"browser": True, "click": [""]}, "must be a CSS selector of 1 to 200 characters"),
    ({"browser": True, "click": ["b" * 201]}, "must be a CSS selector of 1 to 200 characters"),
    ({"browser": True, "click": ["a\nb"]}, "on one line"),
    ({"browser": True, "click": ["a"] * 11}, "click: at most 10 selectors, got 11"),
])
def test_bad_options_are_one_line_errors(options, message) -> None:
    with pytest.raises(BadInput) as caught:
        make_target(URL, **options)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_click_selectors_are_left_to_the_browser_to_judge() -> None:
    # Playwright's own selectors are taken (the browser judges them at capture time, where
    # one it rejects is listed: tests/archiver/test_browser_requests.py).
    for selector in ('button:has-text("ផ្ទុកបន្ថែម")', "a[", "text=Load more"):
        assert make_target(URL, browser=True, click=[selector]).click == (selector,)


def test_a_database_target_is_not_rendered() -> None:
    spec = {"listing": {"url": URL + "list?page={page}", "records": "a.record"}, "record": {"fields": {"t": "h1"}}}
    with pytest.raises(BadInput, match="browser: only a site target"):
        make_target(URL, kind="database", database=spec, browser=True)


def test_targets_file_takes_the_browser_keys(tmp_path) -> None:
    path = tmp_path / "targets.toml"
    path.write_text('[[target]]\nurl = "https://kampuchea.example/"\nbrowser = true\nscroll = true\n'
                    'click = ["button#load-more"]\nmax_clicks = 3\n', encoding="utf-8")
    [spec] = load_targets_file(path)
    assert (spec.browser, spec.scroll, spec.click, spec.clicks) == (True, True, ("button#load-more",), 3)
    path.write_text('[[target]]\nurl = "https://kampuchea.example/"\nscroll = true\n', encoding="utf-8")
    with pytest.raises(BadInput, match="target 1: scroll: only a browser-mode target"):
        load_targets_file(path)


def test_the_catalog_keeps_the_options(tmp_settings) -> None:
    engine = catalog.connect(tmp_settings.catalog_url)
    spec = make_target(URL, name="js", browser=True, scroll=True, click=["button#load-more", "a.next[rel=next]"],
                       max_clicks=7)
    catalog.save_target(engine, spec)
    assert catalog.get_target(engine, "js").spec == spec
    plain = make_target(URL, name="js")  # browser mode turned off again
    catalog.save_target(engine, plain)
    assert catalog.get_target(engine, "js").spec == plain
