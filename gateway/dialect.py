"""One record per dialect: what create_app (gateway/app.py) needs of it.

Each dialect package (and each small endpoint module: health, metrics,
openapi) exports one ``DIALECT``. The app registers its blueprint, sends
every error of a URL under one of its prefixes to its ``render``, puts its
lanes (gateway/lane.py) in front of Flask and keeps its per-app state,
reached in a view with ``gateway.context.current().state(name)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from flask import Blueprint

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from .config import Config
    from .errors import Problem
    from .lane import Lane


@dataclass(frozen=True)
class Dialect:
    name: str  # its blueprint's name, the ``dialect`` of metrics and access lines
    prefixes: tuple[str, ...]  # the URL prefixes whose errors it renders
    blueprint: Blueprint
    render: Callable[[Problem], ResponseReturnValue]  # an error (gateway.errors.Problem) in its envelope
    lanes: tuple[type[Lane], ...] = ()  # hot paths answered before Flask
    state: Callable[[Config], Any] | None = None  # makes its per-app state from the config

    def __post_init__(self) -> None:
        if self.blueprint.name != self.name:
            raise ValueError("dialect %s has the blueprint %s" % (self.name, self.blueprint.name))


class Route(NamedTuple):
    prefix: str
    dialect: Dialect


class Dialects:
    """The app's dialects, by name and by the URL prefixes they own."""

    def __init__(self, dialects: Iterable[Dialect] = ()) -> None:
        self.all = tuple(dialects)
        self._named = {dialect.name: dialect for dialect in self.all}
        # Longest prefix first: "/" (admin) comes last and answers any other path.
        self._routes = sorted(
            (Route(prefix, dialect) for dialect in self.all for prefix in dialect.prefixes),
            key=lambda route: len(route.prefix),
            reverse=True,
        )

    def __getitem__(self, name: str) -> Dialect:
        return self._named[name]

    def __iter__(self) -> Iterator[Dialect]:
        return iter(self.all)

    def of(self, path: str) -> Dialect:
        """The dialect that owns ``path`` (the one with the longest prefix of it)."""
        for route in self._routes:
            if path.startswith(route.prefix):
                return route.dialect
        return self._routes[-1].dialect
