"""The config file, its environment overrides and its refusals."""
import pytest

from gateway import config as configuration
from gateway.testing import to_toml

DOC = {
    "gateway": {"default_zkidc": "yz", "anonymous_read": True},
    "zkidc": {"qa": {"hosts": "zk1:2181/qa"}, "yz": {"hosts": "zk2:2181", "session_timeout": 15, "auth": "digest:gw:pw"}},
    "keys": {"ops": {"secret": "file-secret-123", "rights": ["read", "write"], "zkidcs": ["qa"], "services": ["ip2city*"]}},
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
        "hosts": "zk2:2181", "session_timeout": 15.0, "auth": ("digest", "gw:pw"), "protect": False,
        "recursive_watches": True,
    }
    (key,) = config.keys
    assert (key.name, key.rights, key.zkidcs, key.services) == ("ops", frozenset({"read", "write"}), ("qa",), ("ip2city*",))
    assert config.section("discovery") == {"ttl": 90}


def test_environment_wins(tmp_path):
    environ = {
        "SOA_GATEWAY_DEFAULT_ZKIDC": "qa",
        "SOA_GATEWAY_ANONYMOUS_READ": "false",
        "SOA_GATEWAY_ZKIDC_QA_HOSTS": "zk9:2181/qa",
        "SOA_GATEWAY_ZKIDC_QA_RECURSIVE_WATCHES": "false",
        "SOA_GATEWAY_KEY_OPS": "env-secret-456",
        "SOA_GATEWAY_OP_TIMEOUT": "0.75",
        "SOA_GATEWAY_DISCOVERY_TTL": "60",
        "SOA_GATEWAY_EVICTION_INTERVAL": "2.5",
    }
    config = configuration.load(write(tmp_path, DOC), environ=environ)
    assert config.default_zkidc == "qa" and config.anonymous_read is False and config.op_timeout == 0.75
    assert config.zkidcs["qa"].hosts == "zk9:2181/qa" and config.zkidcs["qa"].recursive_watches is False
    assert config.keys[0].secret == "env-secret-456"
    assert config.section("discovery") == {"ttl": "60"}
    assert config.eviction().interval == 2.5


def test_secrets_are_not_in_reprs(tmp_path):
    config = configuration.load(write(tmp_path, {**DOC, "ui": {"secret": "ui-file-secret"}}), environ={})
    assert "file-secret-123" not in repr(config)
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
        ({"keys": {"k": {"secret": "short"}}}, "shorter than 8"),
        ({"keys": {"k": {"secret": "long-enough-1", "rights": ["admin"]}}}, "unknown rights"),
        ({"keys": {"k": {"secret": "long-enough-1", "dev": True}}}, "only with --dev"),
        ({"gateway": {"workers": "many"}}, "[gateway]"),
        ({"ui": {"session_hours": 0}}, "session_hours"),
        ({"ui": {"session_hours": "a day"}}, "session_hours"),
    ],
)
def test_bad_configs_are_refused_clearly(tmp_path, change, words):
    doc = {**DOC, **change}
    with pytest.raises(configuration.ConfigError) as error:
        configuration.load(write(tmp_path, doc), environ={})
    assert words in str(error.value)


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
    config = configuration.load(str(example), environ={"SOA_GATEWAY_KEY_OPS": "ops-secret-from-env"})
    assert set(config.zkidcs) == {"qa", "yz", "g1"}
