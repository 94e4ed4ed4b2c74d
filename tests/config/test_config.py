"""Settings layering and target validation: what an admin types, and the errors they see."""

from pathlib import Path

import pytest
import trustme

from refuge.config.addresses import check_host_allowed, is_public
from refuge.config.errors import BadInput
from refuge.config.settings import load_settings
from refuge.config.targets import load_targets_file, make_target, parse_duration
from refuge.config.settings import bundled_targets_file


def test_settings_layers_defaults_file_env_flags(tmp_path: Path) -> None:
    (tmp_path / "refuge.toml").write_text('port = 9000\nuser_agent = "from-file"\nmax_pages = 50\n')
    env = {"REFUGE_DATA": str(tmp_path), "REFUGE_USER_AGENT": "from-env", "REFUGE_ALLOW_PRIVATE_NETWORKS": "yes"}
    s = load_settings(environ=env, overrides={"port": 9100})
    assert s.data == tmp_path
    assert s.port == 9100  # flag beats file
    assert s.user_agent == "from-env"  # environment beats file
    assert s.max_pages == 50  # file beats default
    assert s.allow_private_networks is True
    assert s.host == "127.0.0.1"  # default
    assert s.catalog_url == f"sqlite:///{(tmp_path / 'catalog.sqlite').resolve()}"


def test_explicit_config_file_and_database_url(tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('database_url = "postgresql+psycopg://u@db/refuge"\n')
    s = load_settings(cfg, environ={})
    assert s.catalog_url == "postgresql+psycopg://u@db/refuge"


@pytest.mark.parametrize("content, needle", [
    ("prot = 1\n", "unknown setting 'prot'"),
    ("port = [\n", "not valid TOML"),
    ('port = "eighty"\n', "setting 'port'"),
    ("workers = 0\n", "workers"),
    ("warc_gzip_level = 12\n", "warc_gzip_level"),
])
def test_bad_settings_file_names_the_problem(tmp_path: Path, content: str, needle: str) -> None:
    cfg = tmp_path / "refuge.toml"
    cfg.write_text(content)
    with pytest.raises(BadInput) as err:
        load_settings(cfg, environ={})
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(BadInput, match="REFUGE_PORT"):
        load_settings(environ={"REFUGE_PORT": "http"})
    with pytest.raises(BadInput, match="REFUGE_ALLOW_PRIVATE_NETWORKS"):
        load_settings(environ={"REFUGE_ALLOW_PRIVATE_NETWORKS": "maybe"})


def test_make_target_defaults_and_schedule() -> None:
    t = make_target("https://www.rfa.org/khmer", every="6h")
    assert t.name == "rfa.org"
    assert t.url == "https://www.rfa.org/khmer"
    assert t.every_seconds == 6 * 3600 and t.schedule == "every 6h"
    t = make_target("https://kamnotra.io", cron="0 2 * * *", scope="domain", name="kamnotra")
    assert t.url == "https://kamnotra.io/" and t.schedule == "cron 0 2 * * *" and t.every_seconds is None


@pytest.mark.parametrize("kwargs, needle", [
    ({"url": "ftp://example.org/"}, "only http and https"),
    ({"url": "http://"}, "has no host"),
    ({"url": "http://exa mple.org/"}, "malformed"),
    ({"url": "http://example.org:99999/"}, "malformed"),
    ({"url": "http://user:pw@example.org/"}, "user name or password"),
    ({"url": "https://example.org/", "name": "Bad Name"}, "target name 'Bad Name'"),
    ({"url": "https://example.org/", "scope": "world"}, "scope 'world'"),
    ({"url": "https://example.org/", "every": "often"}, "--every 'often'"),
    ({"url": "https://example.org/", "every": "0h"}, "longer than zero"),
    ({"url": "https://example.org/", "cron": "61 * * * *"}, "--cron '61 * * * *'"),
    ({"url": "https://example.org/", "cron": "* *"}, "five fields"),
    ({"url": "https://example.org/", "include": ["(unclosed"]}, "include pattern '(unclosed'"),
    ({"url": "https://example.org/", "robots": "sometimes"}, "robots 'sometimes'"),
    ({"url": "https://example.org/", "max_pages": 0}, "max-pages"),
])
def test_bad_target_input_names_the_input(kwargs: dict, needle: str) -> None:
    url = kwargs.pop("url")
    with pytest.raises(BadInput) as err:
        make_target(url, **kwargs)
    assert needle in str(err.value)


def test_durations() -> None:
    assert parse_duration("90m") == 5400
    assert parse_duration("1d12h") == 129600
    assert parse_duration("45") == 45


def test_private_addresses_refused_with_the_setting_named() -> None:
    for host in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "192.168.0.1", "localhost"):
        with pytest.raises(BadInput, match="REFUGE_ALLOW_PRIVATE_NETWORKS"):
            check_host_allowed(host, allow_private=False)
    assert check_host_allowed("127.0.0.1", allow_private=True) == []
    assert is_public("8.8.8.8") and not is_public("::ffff:127.0.0.1") and not is_public("100.64.0.1")


@pytest.mark.parametrize("address, public", [
    ("64:ff9b::7f00:1", False), ("64:ff9b::a9fe:a9fe", False), ("64:ff9b::808:808", True),  # NAT64
    ("64:ff9b:1::a00:1", False),                                                             # local-use NAT64
    ("2002:7f00:1::", False), ("2002:a00:1::1", False), ("2002:808:808::1", True),            # 6to4
    ("::7f00:1", False), ("::a00:1", False), ("::a9fe:a9fe", False),                          # IPv4-compatible
    ("::", False), ("::1", False), ("2606:4700::1111", True), ("fe80::1%eth0", False),
])
def test_ipv6_forms_that_carry_an_ipv4_address_are_judged_by_it(address: str, public: bool) -> None:
    assert is_public(address) is public


def test_bundled_seed_targets_are_valid() -> None:
    specs = {s.name: s for s in load_targets_file(bundled_targets_file())}
    assert {"rfa-khmer", "cambodia-daily", "kamnotra", "vod-khmer", "vod-english"} <= set(specs)
    assert specs["kamnotra"].url.startswith("https://kamnotra.io")


def test_targets_file_errors_name_the_entry(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    f.write_text('[[target]]\nurl = "https://example.org/"\n\n[[target]]\nurl = "https://example.org/"\nevry = "1h"\n')
    with pytest.raises(BadInput, match="target 2 has unknown key 'evry'"):
        load_targets_file(f)


@pytest.mark.parametrize("raw", ["127.0.0.1/32,10.1.0.0/16, fd00::/8", "127.0.0.1/32 10.1.0.0/16\tfd00::/8",
                                 " 127.0.0.1/32 ,, 10.1.0.0/16 fd00::/8 "])
def test_allow_networks_from_the_environment_split_on_commas_and_spaces(raw: str) -> None:
    s = load_settings(environ={"REFUGE_ALLOW_NETWORKS": raw})
    assert s.allow_networks == ("127.0.0.1/32", "10.1.0.0/16", "fd00::/8")


def test_allow_networks_in_the_settings_file_as_a_list_and_the_environment_wins(tmp_path: Path) -> None:
    cfg = tmp_path / "refuge.toml"
    cfg.write_text('allow_networks = ["10.1.0.0/16", "192.168.7.0/24"]\n')
    assert load_settings(cfg, environ={}).allow_networks == ("10.1.0.0/16", "192.168.7.0/24")
    assert load_settings(cfg, environ={"REFUGE_ALLOW_NETWORKS": "10.9.0.0/16"}).allow_networks == ("10.9.0.0/16",)
    assert load_settings(environ={}).allow_networks == ()  # nothing allowed unless named


def test_an_allowed_network_admits_its_own_addresses_only() -> None:
    allowed = load_settings(environ={"REFUGE_ALLOW_NETWORKS": "10.1.0.0/16"}).allow_networks
    assert check_host_allowed("10.1.2.3", allow_private=False, allowed=allowed) == ["10.1.2.3"]
    for host in ("10.2.0.1", "127.0.0.1", "::ffff:10.1.2.3"):  # the same host wrapped in IPv6 is not admitted
        with pytest.raises(BadInput, match="allow_networks"):
            check_host_allowed(host, allow_private=False, allowed=allowed)


@pytest.mark.parametrize("environ, toml", [
    ({"REFUGE_ALLOW_NETWORKS": "10.1.0.0/16,intranet"}, None),
    ({"REFUGE_ALLOW_NETWORKS": "10.1.0.0/33"}, None),
    ({}, 'allow_networks = ["10.300.0.0/16"]\n'),
    ({}, "allow_networks = [10]\n"),
])
def test_a_bad_allowed_network_is_refused_in_one_line_naming_the_setting(tmp_path: Path, environ: dict,
                                                                         toml: str | None) -> None:
    cfg = None
    if toml is not None:
        cfg = tmp_path / "refuge.toml"
        cfg.write_text(toml)
    with pytest.raises(BadInput) as err:
        load_settings(cfg, environ=environ)
    message = str(err.value)
    assert message.startswith("setting allow_networks: ") and "is not a network" in message and "\n" not in message


def test_ca_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(BadInput) as err:
        load_settings(environ={"REFUGE_CA_FILE": str(missing)})
    assert str(err.value) == f"setting ca_file: {missing}: no such file"
    with pytest.raises(BadInput, match="setting ca_file"):
        load_settings(environ={"REFUGE_CA_FILE": str(tmp_path)})  # a directory is not a PEM file
    garbled = tmp_path / "garbled.pem"
    garbled.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(BadInput, match=r"^setting ca_file: .*garbled\.pem: not a PEM file of CA certificates"):
        load_settings(environ={"REFUGE_CA_FILE": str(garbled)})
    pem = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(pem))
    assert load_settings(environ={"REFUGE_CA_FILE": str(pem)}).ca_file == str(pem)
    assert load_settings(environ={}).ca_file == ""  # the bundled list
