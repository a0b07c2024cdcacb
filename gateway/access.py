"""Pick the request's zkidc and check its key before anything touches ZooKeeper."""
from flask import g, request

from .app import current
from .keys import request_secret


def zkidc_of(params):
    """The ``zkidc`` parameter, else the ``X-Zkidc`` header, else the default."""
    return zkidc_in(request.environ, params, current().config.default_zkidc)


def zkidc_in(environ, params, default):
    return params.get("zkidc") or environ.get("HTTP_X_ZKIDC") or default


def authorize(right, params, service=None, zkidc=None):
    """Check the key for ``right`` and return the Catalog of the zkidc.

    Keys are checked first, so an unknown caller learns nothing about the
    configured zkidcs or services.
    """
    gateway = current()
    zkidc = zkidc or zkidc_of(params)
    g.key_name = gateway.keys.check(request_secret(params), right, zkidc, service)
    g.catalog = gateway.registry.get(zkidc)
    return g.catalog
