"""The config file, its environment overrides and its refusals."""

import pytest

from gateway import config as configuration
from gateway.testing import to_toml

DOC = {
    "gateway": {"default_zkidc": "yz", "anonymous_read": True},
    "zkidc": {
        "qa": {"hosts": "zk1:2181/qa"},
        "yz": {"hosts": "zk2:2181", "session_timeout": 15, "auth": "digest:gw:pw"},
    },
    "keys": {
        "ops": {"secret": "file-secret-12345", "rights": ["read", "write"], "zkidcs": ["qa"], "services": ["ip2city*"]}
    },
    "discovery": {"ttl": 90},
}


def write(tmp_path, doc):
    path = tmp_path / "gateway.toml"
    path.write_text(to_toml(doc))
    return str(path)


def test_file_is_read(tmp_path):
    config = configuration.load(write(tmp_path, DOC), environ={})
    assert config.default_zkidc == "yz" and config.anonymous_read is True
    assert config.zkidcs["yz"].settings() == {
        "hosts": "zk2:2181",
        "session_timeout": 15.0,
        "auth": ("digest", "gw:pw"),
        "protect": False,
        "recursive_watches": True,
    }
    (key,) = config.keys
    assert (key.name, key.rights, key.zkidcs, key.services) == (
        "ops",
        frozenset({"read", "write"}),
        ("qa",),
        ("ip2city*",),
    )
    assert config.section("discovery") == {"ttl": 90}


def test_environment_wins(tmp_path):
    environ = {
        "SOA_GATEWAY_DEFAULT_ZKIDC": "qa",
        "SOA_GATEWAY_ANONYMOUS_READ": "false",
        "SOA_GATEWAY_ZKIDC_QA_HOSTS": "zk9:2181/qa",
        "SOA_GATEWAY_ZKIDC_QA_RECURSIVE_WATCHES": "false",
        "SOA_GATEWAY_KEY_OPS": "env-secret-456789",
        "SOA_GATEWAY_OP_TIMEOUT": "0.75",
        "SOA_GATEWAY_DISCOVERY_TTL": "60",
        "SOA_GATEWAY_EVICTION_INTERVAL": "2.5",
    }
    config = configuration.load(write(tmp_path, DOC), environ=environ)
    assert config.default_zkidc == "qa" and config.anonymous_read is False and config.op_timeout == 0.75
    assert config.zkidcs["qa"].hosts == "zk9:2181/qa" and config.zkidcs["qa"].recursive_watches is False
    assert config.keys[0].secret == "env-secret-456789"
    assert config.section("discovery") == {"ttl": 60.0}
    assert config.eviction().interval == 2.5


def test_secrets_are_not_in_reprs(tmp_path):
    config = configuration.load(write(tmp_path, {**DOC, "ui": {"secret": "ui-file-secret"}}), environ={})
    assert "file-secret-12345" not in repr(config)
    assert "ui-file-secret" not in repr(config) and "ui-file-secret" not in repr(config.ui())


def test_console_settings_default_and_come_from_the_environment(tmp_path):
    assert configuration.load(write(tmp_path, DOC), environ={}).ui() == configuration.UiSettings(None, 8 * 3600)
    environ = {"SOA_GATEWAY_UI_SECRET": "from-env-secret", "SOA_GATEWAY_UI_SESSION_HOURS": "0.5"}
    config = configuration.load(write(tmp_path, {**DOC, "ui": {"secret": "in-file"}}), environ=environ)
    assert config.ui() == configuration.UiSettings("from-env-secret", 1800)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"gateway": {"default_zkidc": "zz"}}, "default_zkidc"),
        ({"zkidc": {}}, "no [zkidc"),
        ({"zkidc": {"qa": {"session_timeout": 3}}}, "needs hosts"),
        ({"keys": {"k": {"secret": "long-enough-secret", "rights": ["admin"]}}}, "unknown rights"),
        ({"keys": {"k": {"secret": "long-enough-secret", "dev": True}}}, "only with --dev"),
        ({"keys": {"k": {"secret": "long-enough-secret", "right": ["read"]}}}, "[keys.k]: unknown setting(s) right"),
        ({"gateway": {"workers": "many"}}, "[gateway] workers must be a number, not 'many'"),
        ({"gateway": {"workers": 0}}, "[gateway] workers must be 1 or more"),
        ({"gateway": {"workers": 1.5}}, "[gateway] workers must be a whole number"),
        ({"gateway": {"op_timeout": float("inf")}}, "[gateway] op_timeout must be a finite number"),
        ({"gateway": {"bnid": "0.0.0.0:9090"}}, "[gateway]: unknown setting(s) bnid"),
        (
            {"zkidc": {"qa": {"hosts": "zk1:2181", "session_timeout": -1}}},
            "[zkidc.qa] session_timeout must be more than 0",
        ),
        ({"zkidc": {"qa": {"hosts": "zk1:2181", "acl": "maybe"}}}, "[zkidc.qa] acl must be true or false"),
        ({"eviction": {"interval": "abc"}}, "[eviction] interval must be a number, not 'abc'"),
        ({"eviction": {"interval": -1}}, "[eviction] interval must be more than 0, not -1"),
        ({"eviction": {"threshold": 1.5}}, "[eviction] threshold must be 1 at most"),
        ({"eviction": {"max_fraction": 0}}, "[eviction] max_fraction must be more than 0"),
        ({"eviction": {"min_instances": -2}}, "[eviction] min_instances must be 0 or more"),
        ({"eviction": {"intervall": 5}}, "[eviction]: unknown setting(s) intervall"),
        ({"discovery": {"ttl": float("nan")}}, "[discovery] ttl must be a finite number"),
        ({"instance": {"unhealthy_after": float("inf")}}, "[instance] unhealthy_after must be a finite number"),
        ({"instance": {"remove_after": float("nan")}}, "[instance] remove_after must be a finite number"),
        ({"instance": {"beat_interval": True}}, "[instance] beat_interval must be a number"),
        ({"gunicorn": {"graceful_timeout": -1}}, "[gunicorn] graceful_timeout"),
        ({"gunicorn": {"gracefull_timeout": 35}}, "[gunicorn] gracefull_timeout is not a gunicorn setting"),
        ({"evicton": {"interval": 5}}, "unknown section(s) evicton"),
        ({"ui": {"session_hours": 0}}, "[ui] session_hours must be more than 0"),
        ({"ui": {"session_hours": "long"}}, "[ui] session_hours must be a number"),
        ({"ui": {"secret": 12345}}, "[ui] secret must be a string"),
        ({"gateway": {"root": ["/soa"]}}, "[gateway] root must be a string"),
        ({"gateway": {"root": "/"}}, "root '/': the services root cannot be '/'"),
        ({"gateway": {"root": "/soa/leases/"}}, "root '/soa/leases/': the services root cannot be named 'leases'"),
        ({"gateway": {"access_log": "some"}}, "[gateway] access_log must be all, errors or off"),
        ({"gateway": ["bind"]}, "[gateway] must be a section of settings"),
        ({"zkidc": {"qa": "zk1:2181"}}, "[zkidc.qa] must be a section of settings"),
        (
            {"keys": {"k": {"secret": "long-enough-secret", "rights": "read"}}},
            "[keys.k] rights must be a list of strings",
        ),
        ({"keys": {"k": {"secret": "long-enough-secret", "services": "ip2city*"}}}, "[keys.k] services must be a list"),
        ({"keys": {"k": {"secret": "long-enough-secret", "dev": "maybe"}}}, "[keys.k] dev must be true or false"),
        ({"keys": {"k": {"secret": 1234567890123456789}}}, "[keys.k] secret must be a string"),
    ],
)
def test_bad_configs_are_refused_clearly(tmp_path, change, words):
    doc = {**DOC, **change}
    with pytest.raises(configuration.ConfigError) as error:
        configuration.load(write(tmp_path, doc), environ={})
    assert words in str(error.value)


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("SOA_GATEWAY_EVICTION_INTERVAL", "abc", "[eviction] interval must be a number"),
        ("SOA_GATEWAY_EVICTION_INTERVAL", "-1", "[eviction] interval must be more than 0"),
        ("SOA_GATEWAY_INSTANCE_REMOVE_AFTER", "inf", "[instance] remove_after must be a finite number"),
        ("SOA_GATEWAY_INSTANCE_UNHEALTHY_AFTER", "nan", "[instance] unhealthy_after must be a finite number"),
        ("SOA_GATEWAY_DISCOVERY_POLL_TIMEOUT", "0", "[discovery] poll_timeout must be more than 0"),
        ("SOA_GATEWAY_WORKERS", "-3", "[gateway] workers must be 1 or more"),
        ("SOA_GATEWAY_ZKIDC_QA_SESSION_TIMEOUT", "nan", "[zkidc.qa] session_timeout must be a finite number"),
        ("SOA_GATEWAY_GUNICORN_TIMEOUT", "soon", "[gunicorn] timeout"),
    ],
)
def test_environment_overrides_are_checked_the_same_way(tmp_path, name, value, words):
    with pytest.raises(configuration.ConfigError) as error:
        configuration.load(write(tmp_path, DOC), environ={name: value})
    assert words in str(error.value)


def test_checked_sections_reach_their_parts_as_numbers(tmp_path):
    environ = {"SOA_GATEWAY_INSTANCE_REMOVE_AFTER": "30", "SOA_GATEWAY_EVICTION_MIN_INSTANCES": "4"}
    doc = {**DOC, "instance": {"unhealthy_after": 12}}
    config = configuration.load(write(tmp_path, doc), environ=environ)
    assert config.section("instance") == {"unhealthy_after": 12.0, "remove_after": 30.0}
    assert config.section("discovery") == {"ttl": 90.0}
    assert config.eviction().min_instances == 4


@pytest.mark.parametrize(
    "secret, words",
    [
        ("replace-with-a-long-random-secret", "placeholder"),
        ("fifteen-chars15", "shorter than 16 characters"),
        ("short", "shorter than 16 characters"),
    ],
)
def test_placeholder_and_short_secrets_are_refused(tmp_path, secret, words):
    doc = {**DOC, "keys": {"ip2city": {"secret": secret}}}
    with pytest.raises(configuration.ConfigError) as error:
        configuration.load(write(tmp_path, doc), environ={})
    assert "'ip2city'" in str(error.value) and words in str(error.value)
    assert "SOA_GATEWAY_KEY_IP2CITY" in str(error.value)
    with pytest.raises(configuration.ConfigError):  # the same from the environment
        configuration.load(write(tmp_path, DOC), environ={"SOA_GATEWAY_KEY_OPS": secret})
    configuration.load(write(tmp_path, doc), environ={"SOA_GATEWAY_KEY_IP2CITY": "a-random-secret-of-24ch"})


def test_unreadable_files_are_config_errors(tmp_path):
    with pytest.raises(configuration.ConfigError):
        configuration.load(str(tmp_path / "missing.toml"), environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway\n")
    with pytest.raises(configuration.ConfigError):
        configuration.load(str(bad), environ={})


def test_example_config_in_deploy_is_valid():
    import pathlib

    example = pathlib.Path(__file__).parent.parent / "deploy" / "gateway.example.toml"
    environ = {"SOA_GATEWAY_KEY_OPS": "ops-secret-from-env", "SOA_GATEWAY_KEY_IP2CITY": "ip2city-secret-from-env"}
    config = configuration.load(str(example), environ=environ)
    assert set(config.zkidcs) == {"qa", "yz", "g1"}
