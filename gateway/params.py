"""Request parameters from the query string, a form body or a JSON body.

Scripts in the wild send admin and discovery parameters every way at once;
this merges them into one MultiDict (repeated keys kept, in that order).

A parameter that should have one value but arrives twice with different
values (``destName=a&destName=b``, or one in the query and another in the
body) is refused: which one a write should touch is anyone's guess. JSON
bodies are refused when an object repeats a key or nests deeper than
``MAX_DEPTH`` (nothing any dialect sends is that deep, and deeper documents
would break the encoder further down the stack).
"""
import difflib
import functools
import json

from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields, post_load
from werkzeug.datastructures import MultiDict

from zk.errors import RegistryError


MAX_DEPTH = 32


class BadRequest(RegistryError):
    """The request itself is malformed (body, types, missing fields)."""


class _Duplicate(ValueError):
    pass


def _unique_keys(pairs):
    doc = {}
    for name, value in pairs:
        if name in doc:
            raise _Duplicate(name)
        doc[name] = value
    return doc


def too_deep(doc, limit=MAX_DEPTH):
    """True when lists and objects in ``doc`` nest deeper than ``limit`` (no recursion)."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(text, what="request body"):
    """JSON text -> value, or BadRequest saying what is wrong with it."""
    try:
        doc = json.loads(text, object_pairs_hook=_unique_keys)
    except _Duplicate as exc:
        raise BadRequest("%s repeats the key %s" % (what, json.dumps(str(exc))[:140])) from None
    except RecursionError:
        raise BadRequest("%s nests deeper than %d levels" % (what, MAX_DEPTH)) from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("%s is not valid JSON" % what) from None
    if too_deep(doc):
        raise BadRequest("%s nests deeper than %d levels" % (what, MAX_DEPTH))
    return doc


def sized_body(environ, limit):
    """The body of a request with a Content-Length of at most ``limit``, read
    straight from the server's stream (werkzeug's guarded stream costs as much
    as parsing a small body); None for any other request (no length, too
    large), which werkzeug's checks must read."""
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit() and int(length) <= limit:
        return environ["wsgi.input"].read(int(length))
    return None


def json_body():
    """The parsed JSON body, or BadRequest. Empty body gives None. Call it once a request."""
    raw = sized_body(request.environ, request.max_content_length or 0)
    if raw is None:
        raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    return parse_json(raw)


def single(params, lists=()):
    """A MultiDict as {name: value}; ``lists`` keep every value.

    A name given twice with different values is a BadRequest; the same
    value twice (the key in the query string and in the body) is fine.
    """
    found = {}
    for name in params:
        values = params.getlist(name)
        if name in lists:
            found[name] = values
            continue
        if len(set(values)) > 1:
            raise BadRequest("parameter %s is given %d times with different values; give it once" % (name[:64], len(values)))
        found[name] = values[0]
    return found


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


@functools.cache
def schema_instance(schema_class):
    """The one instance of a marshmallow Schema class that every request
    loads with: building a Schema costs about 100 µs, loading with one is
    safe to repeat."""
    return schema_class()


# -- which parameters a call takes ------------------------------------------

UNKNOWN = "unknown parameter"
COMMON = ("key", "keys", "zkidc")  # taken by every call of every dialect


def unknown(name, known):
    """What to tell a caller who sent ``name``, which is not among ``known``."""
    close = difflib.get_close_matches(name, [k for k in known if k not in COMMON], 1, 0.75)
    return UNKNOWN + ("; did you mean %s?" % close[0] if close else "")


class Ignored(fields.Raw):
    """A parameter the dialect's real clients send that the gateway does not
    use: accepted (so those clients keep working), then dropped."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"description": "sent by this dialect's clients; accepted and ignored"})
        super().__init__(load_only=True, **kwargs)


class Params(Schema):
    """Base of every dialect's parameter schemas: one rule for all of them.

    A parameter the schema does not declare is refused, naming it (a typo
    such as ``forse=true`` or ``wieght`` must not be silently ignored);
    what real clients send without the gateway using it is declared
    ``Ignored`` (see ``ignoring()``) and dropped after loading.
    """

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": UNKNOWN}

    @post_load
    def _drop_ignored(self, data, **kwargs):
        return {k: v for k, v in data.items() if not isinstance(self.fields.get(k), Ignored)}

    def handle_error(self, error, data, **kwargs):
        """Say which declared parameter an unknown one may have meant."""
        raise ValidationError(self.explained(error.messages), valid_data=error.valid_data) from None

    def explained(self, messages):
        if not isinstance(messages, dict):
            return messages
        known = [field.data_key or name for name, field in self.load_fields.items()]
        return {
            name: [unknown(name, known)] if text == [UNKNOWN] and isinstance(name, str) else text
            for name, text in messages.items()
        }


def ignoring(*names):
    """A Params base class declaring ``names`` Ignored; fields a subclass
    declares itself win over them."""
    return Params.from_dict({name: Ignored() for name in names}, name="Ignoring")
