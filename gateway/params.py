"""Request parameters from the query string, a form body or a JSON body.

Scripts in the wild send admin and discovery parameters every way at once;
this merges them into one MultiDict (repeated keys kept, in that order).
"""
import json

from flask import request
from werkzeug.datastructures import MultiDict

from zk.errors import RegistryError


class BadRequest(RegistryError):
    """The request itself is malformed (body, types, missing fields)."""


def json_body():
    """The parsed JSON body, or BadRequest. Empty body gives None."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("request body is not valid JSON") from None


def collect(with_json=True):
    merged = MultiDict(request.args)
    if request.form:
        for name, value in request.form.items(multi=True):
            merged.add(name, value)
    if with_json and request.is_json:
        doc = json_body()
        if doc is None:
            return merged
        if not isinstance(doc, dict):
            raise BadRequest("JSON body must be an object")
        for name, value in doc.items():
            for item in value if isinstance(value, list) else [value]:
                if item is None:
                    continue
                if isinstance(item, bool):
                    item = "true" if item else "false"
                elif isinstance(item, dict | list):
                    item = json.dumps(item, ensure_ascii=False)
                merged.add(name, str(item))
    return merged
