"""Who may do what: keys, their rights, zkidcs and service globs.

Every call carries a key: ``key`` or ``keys`` among its parameters, or the
``X-Api-Key``, ``Authorization: Bearer`` or ``X-Polaris-Token`` header.
Secrets are compared in constant time (against every configured key, so the
time does not tell which one nearly matched) and never logged.
"""

import fnmatch
import hashlib
import hmac

from zk.errors import RegistryError


class Unauthorized(RegistryError):
    """No key, or a key nobody configured."""


class Forbidden(RegistryError):
    """A valid key without the right, zkidc or service asked for."""

    def __init__(self, message, key_name):
        super().__init__(message)
        self.key_name = key_name  # who was refused, for the audit trail


ANONYMOUS = None


def _digest(secret):
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


class Keys:
    def __init__(self, keys, anonymous_read=False):
        self._keys = [(_digest(k.secret), k) for k in keys]
        self.anonymous_read = anonymous_read

    def identify(self, secret):
        """The KeyConfig whose secret this is, or None."""
        if not secret:
            return None
        digest = _digest(secret)
        found = None
        for candidate, key in self._keys:
            if hmac.compare_digest(candidate, digest):
                found = key
        return found

    def named(self, name):
        """The KeyConfig called ``name`` (the console's session holds the name), or None."""
        for _, key in self._keys:
            if key.name == name:
                return key
        return None

    def check(self, secret, right, zkidc, service=None):
        """Return the caller's key name (None when anonymous), or raise."""
        key = self.identify(secret)
        if key is None:
            if right == "read" and self.anonymous_read and not secret:
                return ANONYMOUS
            raise Unauthorized("a valid key is required" if not secret else "unknown key")
        return self.check_key(key, right, zkidc, service)

    @staticmethod
    def may(key, right, zkidc, service=None):
        """Whether ``key`` (a KeyConfig) has ``right`` on the zkidc and service."""
        try:
            Keys.check_key(key, right, zkidc, service)
        except Forbidden:
            return False
        return True

    @staticmethod
    def check_key(key, right, zkidc, service=None):
        """Return the key's name when it has ``right`` there, else raise Forbidden."""
        if right not in key.rights:
            raise Forbidden("key %s may not %s" % (key.name, right), key.name)
        if not any(fnmatch.fnmatchcase(zkidc, pattern) for pattern in key.zkidcs):
            raise Forbidden("key %s may not use zkidc %s" % (key.name, zkidc), key.name)
        if service is not None and not any(fnmatch.fnmatchcase(service, p) for p in key.services):
            raise Forbidden("key %s may not touch service %s" % (key.name, service), key.name)
        return key.name


def secret_in(environ, params=None):
    """The key a request carries, wherever the dialect's clients put it:
    ``key``/``keys`` among its parameters, else its headers (WSGI environ)."""
    if params is not None:
        for name in ("key", "keys"):
            value = params.get(name)
            if value:
                return value
    for name in ("HTTP_X_API_KEY", "HTTP_X_POLARIS_TOKEN"):
        if environ.get(name):
            return environ[name]
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None
