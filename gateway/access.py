"""Pick the request's zkidc and check its key before anything touches ZooKeeper."""

from flask import g, request

from .context import current
from .keys import secret_in


def allowed(gateway, environ, right, params, services=(None,), zkidc=None):
    """(key name, Catalog of the zkidc) when the request's key may ``right``
    on every one of ``services``; raises otherwise.

    Keys are checked first, so an unknown caller learns nothing about the
    configured zkidcs or services. Needs only the WSGI environ: the hot
    paths answered before Flask (gateway/lane.py) check keys with it too.
    """
    zkidc = zkidc_of(gateway, environ, params, zkidc)
    secret = secret_in(environ, params)
    for service in services:
        key = gateway.keys.check(secret, right, zkidc, service)
    return key, gateway.registry.get(zkidc)


def zkidc_of(gateway, environ, params, zkidc=None):
    """``zkidc``, else the ``zkidc`` parameter, else the ``X-Zkidc`` header, else the default."""
    return zkidc or params.get("zkidc") or environ.get("HTTP_X_ZKIDC") or gateway.config.default_zkidc


def authorize(right, params, service=None, zkidc=None):
    """Check the key for ``right`` (see allowed()) and return the Catalog of the zkidc."""
    gateway = current()
    zkidc = zkidc_of(gateway, request.environ, params, zkidc)
    # What the request asked for, for its audit line (of a refused write too); a batch
    # (Polaris) checks each item's service.
    g.zkidc_asked = zkidc
    if service is not None and service not in g.setdefault("services", []):
        g.services.append(service)
    g.key_name, g.catalog = allowed(gateway, request.environ, right, params, (service,), zkidc)
    return g.catalog


def authorize_key(key, right, service=None, zkidc=None):
    """authorize() for the console, whose session names a key (a KeyConfig)
    instead of carrying its secret."""
    gateway = current()
    zkidc = zkidc or gateway.config.default_zkidc
    g.key_name = gateway.keys.check_key(key, right, zkidc, service)
    g.catalog = gateway.registry.get(zkidc)
    return g.catalog
