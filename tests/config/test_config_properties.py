"""The settings and database-spec parsers on generated input (hypothesis): whatever an admin
writes, the answer is settings or one line of BadInput naming the file, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st
from refusals import answered_or_refused

from refuge.config.dbspec import parse_spec, spec_from_dict
from refuge.config.settings import Settings, load_settings

_SETTING_NAMES = ["data", "database_url", "host", "port", "allow_private_networks", "user_agent", "workers",
                  "processes", "per_host", "delay", "timeout", "retries", "backoff", "max_pages", "max_depth",
                  "max_response_bytes", "warc_max_bytes", "warc_gzip_level", "sync_seconds", "check_every",
                  "fixity_every", "check_timeout", "publish_after_capture", "no_such_setting"]
_SCALARS = st.one_of(st.integers(-2**40, 2**40), st.floats(allow_nan=True), st.booleans(),
                     st.text(max_size=20), st.sampled_from(["1h", "0s", "-5m", "1d12h", "", "inf", "8080"]))


def _toml_value(value: object) -> str:
    """VALUE written as TOML (JSON's strings and numbers are TOML's, but for nan and inf)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")  # TOML wants DEL escaped


_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["name", "proxy", "url", "x"]), inner, max_size=3)),
    max_leaves=6)
_TABLES = st.sampled_from(["", "[s3]", "[ipfs]", "[[vantage]]", "[nonsense]"])
_DURATIONS = st.sampled_from(["1h", "0s", "-5m", "1d12h", "", "90", "1x"])
# Values of the right type for a key half the time, so that files load as well as fail.
_TYPED = {"port": st.integers(-5, 70_000), "workers": st.integers(-2, 64), "processes": st.integers(-2, 64),
          "timeout": st.floats(-1, 1e6), "delay": st.floats(-1, 100), "max_pages": st.integers(-1, 10**9),
          "check_every": _DURATIONS, "fixity_every": _DURATIONS, "host": st.text(max_size=12),
          "allow_private_networks": st.booleans(), "name": st.text(max_size=8),
          "proxy": st.sampled_from(["http://p:1", "socks5h://u:pw@p:1", "ftp://x", "", "socks5://p"])}
_ENTRY = st.sampled_from(_SETTING_NAMES + ["name", "proxy", "bucket", "api_url"]).flatmap(
    lambda key: st.tuples(st.just(key), st.one_of(_TYPED.get(key, _VALUES), _VALUES)))


@given(st.lists(st.tuples(_TABLES, _ENTRY), max_size=8),
       st.dictionaries(st.sampled_from(["REFUGE_PORT", "REFUGE_WORKERS", "REFUGE_TIMEOUT", "REFUGE_MAX_PAGES",
                                        "REFUGE_ALLOW_PRIVATE_NETWORKS", "REFUGE_CHECK_EVERY"]),
                       st.one_of(st.text(max_size=12), st.sampled_from(["8081", "4", "true", "1h", "2.5"])),
                       max_size=3))
def test_any_settings_file_loads_or_is_refused_in_one_line(tmp_path_factory, entries, environ) -> None:
    tables: dict[str, dict[str, object]] = {}
    for table, (key, value) in entries:
        tables.setdefault(table, {})[key] = value  # one value per key and table: TOML wants that
    text = "".join(f"{table}\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in keys.items())
                   for table, keys in sorted(tables.items()))  # the top level ("") first
    path = tmp_path_factory.mktemp("settings") / "refuge.toml"
    path.write_text(text, encoding="utf-8")
    settings = answered_or_refused(lambda: load_settings(path, environ={"REFUGE_DATA": str(path.parent), **environ}))
    event("refused" if settings is None else "loaded")
    assert settings is None or isinstance(settings, Settings)


_SPEC_KEYS = st.sampled_from(["url", "first", "records", "total", "next", "items", "id", "record_url",
                              "languages", "fields", "attachments", "x"])
_SPEC = st.dictionaries(st.sampled_from(["listing", "api", "record", "other"]),
                        st.one_of(st.dictionaries(_SPEC_KEYS, _VALUES, max_size=5), _SCALARS), max_size=3)


@given(_SPEC)
def test_any_database_spec_is_read_or_refused_in_one_line(doc: dict) -> None:
    event("refused" if answered_or_refused(lambda: spec_from_dict(doc, "spec.toml"), "spec.toml") is None else "read")


@given(st.text(max_size=200))
def test_any_text_as_a_database_spec_is_read_or_refused_in_one_line(text: str) -> None:
    answered_or_refused(lambda: parse_spec(text, "s.toml"), "s.toml")


def test_the_generated_settings_can_be_valid(tmp_path: Path) -> None:
    # The strategy above writes files these parsers accept, too: the property is not vacuous.
    path = tmp_path / "refuge.toml"
    path.write_text(f"port = {_toml_value(8081)}\ncheck_every = {_toml_value('1h')}\n[[vantage]]\n"
                    f"name = {_toml_value('kh')}\n", encoding="utf-8")
    assert load_settings(path, environ={}).port == 8081
