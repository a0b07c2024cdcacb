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
import re

from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields, post_load
from werkzeug.datastructures import MultiDict

from zk import codec
from zk.codec import check_host
from zk.errors import InvalidName, RegistryError

MAX_DEPTH = 32
MAX_BODY = 1 << 20  # bytes; a larger body is refused (413) from its Content-Length, unread
# What the gunicorn worker puts in the environ of a request it could not read
# (its request line too long): the HTTPException the app answers in the dialect.
REFUSED = "soa.refused"
_SURROGATE = re.compile("[\ud800-\udfff]")


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


def _may_hold_surrogate(text):
    """Only escapes (``\\ud800``) and UTF-8-encoded surrogates (``\\xed\\xa0\\x80``) make one."""
    if isinstance(text, str):
        return "\\u" in text or _SURROGATE.search(text) is not None
    return b"\\u" in text or b"\xed" in text


def lone_surrogate(doc):
    """The first lone UTF-16 surrogate in a string or key of ``doc`` (JSON's
    ``"\\ud800"``), or None. No UTF-8 writer can store one: ZooKeeper data,
    answers and logs are UTF-8."""
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            found = _SURROGATE.search(value)
            if found:
                return found.group()
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


def parse_json(text, what="request body"):
    """JSON text -> value, or BadRequest saying what is wrong with it."""
    try:
        doc = codec.loads(text, object_pairs_hook=_unique_keys)
    except _Duplicate as exc:
        raise BadRequest("%s repeats the key %s" % (what, json.dumps(str(exc))[:140])) from None
    except codec.NotStrictJson as exc:
        raise BadRequest("%s is not valid JSON: %s" % (what, exc)) from None
    except RecursionError:
        raise BadRequest("%s nests deeper than %d levels" % (what, MAX_DEPTH)) from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("%s is not valid JSON" % what) from None
    if too_deep(doc):
        raise BadRequest("%s nests deeper than %d levels" % (what, MAX_DEPTH))
    if _may_hold_surrogate(text):
        found = lone_surrogate(doc)
        if found is not None:
            raise BadRequest("%s holds a lone surrogate %s, which is not Unicode text" % (what, json.dumps(found)))
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
            raise BadRequest(
                "parameter %s is given %d times with different values; give it once" % (name[:64], len(values))
            )
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


def metadata_of(doc):
    """A parsed ``metadata`` JSON object as string -> string.

    bilibili/discovery silently drops metadata that is not string-to-string
    (even its own example ``{"weight": 10}``); here a non-string value is kept
    as its JSON text instead (``10`` -> ``"10"``, ``true`` -> ``"true"``,
    ``{"a": 1}`` -> ``'{"a":1}'``), because ServerSet metadata values are
    strings and a weight that vanishes is worse than one that is quoted.
    """
    return {
        str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), ensure_ascii=False)
        for k, v in doc.items()
    }


class Metadata(fields.Field):
    """Metadata as a JSON object, or a JSON object in a string (as discovery's
    and Nacos's HTTP clients send it); string -> string, within ServerSet-sized limits."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            try:
                value = parse_json(value, "metadata")
            except BadRequest as exc:
                raise ValidationError(exc.message.replace("metadata ", "", 1)) from None
        if not isinstance(value, dict):
            raise ValidationError("must be a JSON object")
        doc = metadata_of(value)
        if len(doc) > 64:
            raise ValidationError("at most 64 keys")
        if any(len(k) > 128 or len(v) > 4096 for k, v in doc.items()):
            raise ValidationError("keys are at most 128 characters, values 4096")
        return doc


@functools.cache
def schema_instance(schema_class):
    """The one instance of a marshmallow Schema class that every request
    loads with: building a Schema costs about 100 µs, loading with one is
    safe to repeat."""
    return schema_class()


class Host(fields.String):
    """A server's or instance's host by the one rule of every dialect
    (zk.codec.check_host), in its canonical spelling."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return check_host(super()._deserialize(value, attr, data, **kwargs).strip())
        except InvalidName as exc:
            raise ValidationError(exc.message) from None


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
    declares itself win over them. mypy cannot follow a base class made
    by a call: the classes built on one say ``# type: ignore[misc]``."""
    return Params.from_dict({name: Ignored() for name in names}, name="Ignoring")
