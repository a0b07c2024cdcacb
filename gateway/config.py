"""The gateway's one configuration file (TOML) and its environment overrides.

See ``deploy/gateway.example.toml`` for every setting with its default.
Environment variables win over the file:

- ``SOA_GATEWAY_<SETTING>`` for a ``[gateway]`` setting (``SOA_GATEWAY_DEFAULT_ZKIDC``),
- ``SOA_GATEWAY_ZKIDC_<NAME>_<SETTING>`` for a zkidc (``SOA_GATEWAY_ZKIDC_QA_HOSTS``),
- ``SOA_GATEWAY_KEY_<NAME>`` for the secret of the key named ``<name>``,
  so secrets can stay out of the file,
- ``SOA_GATEWAY_<SECTION>_<SETTING>`` for the ``[eviction]``, ``[discovery]``,
  ``[instance]``, ``[gunicorn]`` and ``[ui]`` sections (``SOA_GATEWAY_DISCOVERY_TTL``,
  ``SOA_GATEWAY_UI_SECRET``).

Every section is read by one rule (``_section``): a table of settings, no
unknown names, each value checked and converted by its setting's type
(``GATEWAY``, ``ZKIDC``, ``KEY``, ``SECTIONS``), a ConfigError naming the
setting that is wrong.
"""

import math
import os
import tomllib
from dataclasses import dataclass, field, replace

from zk.paths import Layout

RIGHTS = ("read", "write", "delete")
MIN_SECRET = 16  # characters a key's secret has at least
# What deploy/gateway.example.toml shows as a secret: copied as it is, it would be a key anyone knows.
PLACEHOLDER_SECRETS = frozenset({"replace-with-a-long-random-secret"})


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Number:
    """The one rule for numeric settings: a finite number of ``kind`` within bounds."""

    kind: type = float
    least: float | None = None  # allowed and up
    above: float | None = None  # only numbers above it
    most: float | None = None

    def __call__(self, value):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("must be a number, not %r" % (value,))
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (ValueError, OverflowError):
            raise ValueError("must be a number, not %r" % (value,)) from None
        if not math.isfinite(number):
            raise ValueError("must be a finite number, not %r" % (value,))
        if self.kind is int:
            if not number.is_integer():
                raise ValueError("must be a whole number, not %r" % (value,))
            number = int(value) if isinstance(value, int) else int(number)
        if self.least is not None and number < self.least:
            raise ValueError("must be %s or more, not %r" % (self.least, value))
        if self.above is not None and number <= self.above:
            raise ValueError("must be more than %s, not %r" % (self.above, value))
        if self.most is not None and number > self.most:
            raise ValueError("must be %s at most, not %r" % (self.most, value))
        return number


def _bool(value):
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false, not %r" % (value,))


def _string(value):
    if not isinstance(value, str):
        raise ValueError("must be a string, not %r" % (value,))
    return value


def _strings(value):
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValueError("must be a list of strings, not %r" % (value,))
    return tuple(value)


@dataclass(frozen=True)
class Choice:
    """A string out of ``options``."""

    options: tuple

    def __call__(self, value):
        if value not in self.options:
            raise ValueError("must be %s or %s, not %r" % (", ".join(self.options[:-1]), self.options[-1], value))
        return value


def _rights(value):
    rights = _strings(value)
    unknown = sorted(set(rights) - set(RIGHTS))
    if unknown:
        raise ValueError("names unknown rights %s; known: %s" % (unknown, ", ".join(RIGHTS)))
    return frozenset(rights)


SECONDS = Number(float, above=0)
SHARE = Number(float, least=0, most=1)

# Every section: setting -> the function that checks and converts its value (a
# ValueError says what is wrong). One rule for all of them (``_section``): a
# table of settings, no unknown names, each value checked, environment first.
GATEWAY = {
    "default_zkidc": _string,
    "root": _string,
    "anonymous_read": _bool,
    "bind": _string,
    "advertise": _string,
    "access_log": Choice(("all", "errors", "off")),
    "workers": Number(int, least=1),
    "op_timeout": SECONDS,
}
ZKIDC = {"hosts": _string, "session_timeout": SECONDS, "auth": _string, "acl": _bool, "recursive_watches": _bool}
KEY = {"secret": _string, "rights": _rights, "zkidcs": _strings, "services": _strings, "dev": _bool}
# Sections read by the parts that own them, checked here when the config is loaded;
# SOA_GATEWAY_<SECTION>_<SETTING> overrides any of their settings. [gunicorn] takes
# gunicorn's own settings, checked by gunicorn's validators.
SECTIONS = {
    "eviction": {
        "interval": SECONDS,
        "threshold": SHARE,
        "window": SECONDS,
        "long_silence": SECONDS,
        "max_fraction": Number(float, above=0, most=1),
        "min_instances": Number(int, least=0),
    },
    "discovery": {"ttl": SECONDS, "renew_interval": SECONDS, "poll_timeout": SECONDS, "zone": _string},
    "instance": {"beat_interval": SECONDS, "unhealthy_after": SECONDS, "remove_after": SECONDS},
    "ui": {"secret": _string, "session_hours": Number(float, above=0)},
    "gunicorn": None,
}


@dataclass(frozen=True)
class ZkidcConfig:
    name: str
    hosts: str
    session_timeout: float = 30.0
    auth: str | None = None  # "digest:user:password"
    acl: bool = False  # ACL mode: created nodes world-readable, writable only with this auth
    recursive_watches: bool = True  # ZooKeeper 3.6+ persistent watches for the cache; off = one-shot watches

    def settings(self):
        auth = None
        if self.auth:
            scheme, _, credential = self.auth.partition(":")
            auth = (scheme, credential)
        if self.acl and (auth is None or auth[0] != "digest" or ":" not in auth[1]):
            raise ConfigError('[zkidc.%s] acl = true needs auth = "digest:user:password"' % self.name)
        return {
            "hosts": self.hosts,
            "session_timeout": self.session_timeout,
            "auth": auth,
            "protect": self.acl,
            "recursive_watches": self.recursive_watches,
        }


@dataclass(frozen=True)
class KeyConfig:
    name: str
    secret: str
    rights: frozenset = frozenset({"read"})
    zkidcs: tuple = ("*",)
    services: tuple = ("*",)
    dev: bool = False

    def __repr__(self):  # never print the secret
        return "KeyConfig(name=%r, rights=%r, zkidcs=%r, services=%r)" % (
            self.name,
            sorted(self.rights),
            self.zkidcs,
            self.services,
        )


@dataclass(frozen=True)
class UiSettings:
    secret: str | None
    session_seconds: int

    def __repr__(self):  # never print the secret
        return "UiSettings(secret=%s, session_seconds=%d)" % ("set" if self.secret else "unset", self.session_seconds)


@dataclass(frozen=True)
class Config:
    zkidcs: dict
    default_zkidc: str
    keys: tuple = ()
    root: str = "/soa/services"
    anonymous_read: bool = False
    bind: str = "127.0.0.1:9090"
    workers: int = 1
    handler: str = "threading"  # kazoo handler; 'gevent' under gunicorn
    op_timeout: float = 1.5  # seconds a request may wait for an unreachable ZooKeeper before 503
    advertise: str = ""  # host:port other replicas and clients reach this one at (default: bind)
    access_log: str = "errors"  # one JSON line per request: all, errors (only failed requests) or off
    dev: bool = False
    metrics_dir: str = ""  # set by gateway/serve.py: the folder its workers share metrics in (gateway/metrics.py)
    extra: dict = field(default_factory=dict, repr=False)  # dialect sections, e.g. [discovery]; [ui] holds a secret

    def validate(self):
        if not self.zkidcs:
            raise ConfigError("no [zkidc.<name>] configured")
        if self.default_zkidc not in self.zkidcs:
            raise ConfigError("default_zkidc %r is not a configured zkidc" % self.default_zkidc)
        for zkidc in self.zkidcs.values():
            zkidc.settings()
        if self.access_log not in ("all", "errors", "off"):
            raise ConfigError("access_log must be all, errors or off, not %r" % self.access_log)
        try:
            Layout(self.root)
        except ValueError as error:
            raise ConfigError("root %r: %s" % (self.root, error)) from None
        self.ui()
        for key in self.keys:
            if key.dev and not self.dev:
                raise ConfigError("key %r is a development key; it is accepted only with --dev" % key.name)
            where = "set it in the file or SOA_GATEWAY_KEY_%s" % key.name.upper()
            if not key.secret:
                raise ConfigError("key %r has no secret (%s)" % (key.name, where))
            if key.secret in PLACEHOLDER_SECRETS:
                raise ConfigError(
                    "key %r has the example config's placeholder secret; %s to a random one" % (key.name, where)
                )
            if len(key.secret) < MIN_SECRET:
                raise ConfigError(
                    "key %r: its secret is shorter than %d characters (%s)" % (key.name, MIN_SECRET, where)
                )
            unknown = set(key.rights) - set(RIGHTS)
            if unknown:
                raise ConfigError("key %r has unknown rights %s" % (key.name, sorted(unknown)))
        return self

    def section(self, name):
        return self.extra.get(name, {})

    @property
    def replica(self):
        """How this replica names itself to the others (nodes, eviction lock)."""
        return self.advertise or self.bind

    @property
    def zone(self):
        """This replica's zone as discovery ``nodes`` shows it ([discovery] zone)."""
        return str(self.section("discovery").get("zone", ""))

    def ui(self):
        """The ops console's settings ([ui]): the cookie-signing secret (None
        when unset: the console then signs with a random one per process) and
        how long a login lasts."""
        section = self.section("ui")
        hours = section.get("session_hours", 8)
        return UiSettings(
            secret=str(section["secret"]) if section.get("secret") else None, session_seconds=int(hours * 3600)
        )

    def eviction(self):
        from zk.evictor import EvictionSettings

        return EvictionSettings(**self.section("eviction"))


def _section(where, values, types, overrides=None):
    """One section: a table of settings, ``overrides`` (from the environment)
    winning over the file's; a ConfigError names the setting that is wrong."""
    if not isinstance(values, dict):
        raise ConfigError("%s must be a section of settings, not %r" % (where, values))
    values = {**values, **(overrides or {})}
    if types is None:
        return _gunicorn(values)
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise ConfigError("%s: unknown setting(s) %s; known: %s" % (where, ", ".join(unknown), ", ".join(types)))
    checked = {}
    for name, value in values.items():
        try:
            checked[name] = types[name](value)
        except (TypeError, ValueError) as exc:
            raise ConfigError("%s %s %s" % (where, name, exc)) from None
    return checked


def _gunicorn(values):
    """[gunicorn]: names gunicorn knows, values its validators take."""
    from gunicorn.config import Config as GunicornConfig

    settings = GunicornConfig()
    for name, value in values.items():
        if name not in settings.settings:
            raise ConfigError("[gunicorn] %s is not a gunicorn setting" % name)
        try:
            settings.set(name, value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ConfigError("[gunicorn] %s: %s" % (name, exc)) from None
    return values


def _named(environ, prefix, names):
    """The environment's values of ``names``: ``<prefix><NAME>`` -> name."""
    found = {}
    for name in names:
        value = environ.get(prefix + name.upper())
        if value is not None:
            found[name] = value
    return found


def _prefixed(environ, prefix):
    """Every ``<prefix><SETTING>`` of the environment, by setting."""
    return {
        name[len(prefix) :].lower(): value
        for name, value in environ.items()
        if name.startswith(prefix) and len(name) > len(prefix)
    }


def _tables(where, doc):
    """[where.NAME] sections: NAME -> its table."""
    tables = doc.get(where, {})
    if not isinstance(tables, dict):
        raise ConfigError("[%s] must hold [%s.NAME] sections, not %r" % (where, where, tables))
    return tables


def from_dict(doc, environ=None, dev=False):
    """Build a Config from a parsed TOML document and the environment."""
    environ = os.environ if environ is None else environ
    known = {"gateway", "zkidc", "keys"}
    unknown = sorted(set(doc) - known - set(SECTIONS))
    if unknown:
        raise ConfigError("unknown section(s) %s; known: %s" % (", ".join(unknown), ", ".join([*known, *SECTIONS])))
    gateway = _section("[gateway]", doc.get("gateway", {}), GATEWAY, _named(environ, "SOA_GATEWAY_", GATEWAY))
    zkidcs = {}
    for name, values in _tables("zkidc", doc).items():
        where = "[zkidc.%s]" % name
        values = _section(where, values, ZKIDC, _named(environ, "SOA_GATEWAY_ZKIDC_%s_" % name.upper(), ZKIDC))
        if "hosts" not in values:
            raise ConfigError("%s needs hosts" % where)
        zkidcs[name] = ZkidcConfig(name, **values)
    keys = []
    for name, values in _tables("keys", doc).items():
        secret = environ.get("SOA_GATEWAY_KEY_" + name.upper())
        values = _section("[keys.%s]" % name, values, KEY, {"secret": secret} if secret else None)
        keys.append(KeyConfig(name, **{"secret": "", **values}))
    extra = {}
    for section, types in SECTIONS.items():
        values = _section(
            "[%s]" % section, doc.get(section, {}), types, _prefixed(environ, "SOA_GATEWAY_%s_" % section.upper())
        )
        if values:
            extra[section] = values
    default = gateway.pop("default_zkidc", next(iter(zkidcs), ""))
    return Config(zkidcs=zkidcs, default_zkidc=default, keys=tuple(keys), dev=dev, extra=extra, **gateway).validate()


def load(path, environ=None):
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise ConfigError("cannot read %s: %s" % (path, exc.strerror)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("%s: %s" % (path, exc)) from None
    return from_dict(doc, environ)


def development(hosts, key, environ=None):
    """The embedded default: zkidcs qa, yz, g1 under chroots of one local server."""
    doc = {
        "gateway": {"default_zkidc": "qa", "anonymous_read": False},
        "zkidc": {name: {"hosts": "%s/%s" % (hosts, name), "session_timeout": 10.0} for name in ("qa", "yz", "g1")},
    }
    config = from_dict(doc, environ, dev=True)
    dev_key = KeyConfig("dev", key, frozenset(RIGHTS), ("*",), ("*",), dev=True)
    return replace(config, keys=config.keys + (dev_key,)).validate()
