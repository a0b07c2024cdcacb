"""Polaris batch writes: every item checked, then each applied, one response per item.

A batch (``/naming/v1/services``, the rule paths) is a JSON array of items.
Nothing is written unless every item is valid and the key may touch every
item's service; the answer then says which items stopped it. Otherwise each
item is applied in turn and answers for itself, except that once ZooKeeper
is unavailable the rest are not tried. The batch's code is the items'
common code, else 400000 or 500000 when any failed.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, cast

from marshmallow import Schema, ValidationError

from zk.catalog import Catalog
from zk.errors import Unavailable

from ..keys import Forbidden
from ..params import schema_instance
from . import codes, schemas
from .codes import PolarisError
from .envelope import failure

Item = dict[str, Any]
Echo = Callable[[Item], dict[str, Any]]  # what an item's response repeats of the raw item


class Applied(NamedTuple):
    """What applying one item did: its code, a detail for its info and,
    when it differs from the item's own echo, what its response shows."""

    code: int
    detail: str | None = None
    echo: dict[str, Any] | None = None


Apply = Callable[[Catalog, Item], Applied]  # applies one loaded item


class Result(NamedTuple):
    """One item's response."""

    code: int
    info: str
    echo: dict[str, Any]


def items(doc: Any) -> list[Item]:
    """The items of a batch body, or PolarisError saying what is wrong with it."""
    if not isinstance(doc, list):
        raise PolarisError(codes.PARSE, "the body must be a JSON array")
    if not doc:
        raise PolarisError(codes.EMPTY)
    if len(doc) > schemas.MAX_BATCH:
        raise PolarisError(codes.TOO_MANY, "%d items; at most %d per request" % (len(doc), schemas.MAX_BATCH))
    for number, item in enumerate(doc, 1):
        if not isinstance(item, dict):
            raise PolarisError(codes.PARSE, "item %d is not a JSON object" % number)
    return doc


def run(
    catalog: Catalog,
    raws: Sequence[Item],
    schema: type[Schema],
    apply: Apply,
    echo: Echo,
    permit: Callable[[Item], None],
) -> list[Result]:
    """Check every item with ``schema`` and ``permit`` (raises Forbidden when
    the key may not touch the item's service), then apply each."""
    loaded: list[Item | None] = []
    refused: list[tuple[int, str] | None] = []
    for raw in raws:
        try:
            loaded.append(schema_instance(schema).load(raw))
            refused.append(None)
        except ValidationError as exc:
            loaded.append(None)
            refused.append(schemas.item_error(schema, exc))
    held = codes.BAD_REQUEST
    if not any(refused):
        held = codes.FORBIDDEN
        for number, item in enumerate(loaded):
            try:
                permit(cast(Item, item))  # nothing refused: every item loaded
            except Forbidden as exc:
                refused[number] = (codes.FORBIDDEN, exc.message)
    if any(refused):
        stopped = "not applied: item %s of the batch was refused" % ", ".join(
            str(number) for number, r in enumerate(refused, 1) if r
        )
        verdicts = [r or (held, stopped) for r in refused]
        return [
            Result(code, codes.info(code, detail), echo(raw))
            for (code, detail), raw in zip(verdicts, raws, strict=True)
        ]
    return list(_apply_all(catalog, raws, cast(list[Item], loaded), apply, echo))  # every item loaded


def _apply_all(
    catalog: Catalog, raws: Sequence[Item], loaded: Sequence[Item], apply: Apply, echo: Echo
) -> Iterator[Result]:
    down = None
    for raw, item in zip(raws, loaded, strict=True):
        if down:
            yield Result(codes.STORE, down, echo(raw))
            continue
        try:
            applied = apply(catalog, item)
            shown = applied.echo if applied.echo is not None else echo(raw)
            yield Result(applied.code, codes.info(applied.code, applied.detail), shown)
        except Exception as exc:  # noqa: BLE001 - each item answers for itself
            code, text = failure(exc)
            if isinstance(exc, Unavailable):
                down = codes.info(codes.STORE, "not applied: " + exc.message)
            yield Result(code, text, echo(raw))


def answer(results: Sequence[Result]) -> tuple[int, bytes]:
    """(code, body) of a batch's answer."""
    code = codes.batch_code([r.code for r in results])
    responses = [{"code": r.code, "info": r.info, **r.echo} for r in results]
    doc: Mapping[str, Any] = {"code": code, "info": codes.info(code), "size": len(responses), "responses": responses}
    return code, codes.dumps(doc)
