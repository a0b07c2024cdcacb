"""What the Polaris endpoints do, without HTTP: plain functions over a Catalog.

Each takes already-parsed parameters, the dialect's prepared answers
(``shapes.Answers``) and the Catalog the caller may use; discover returns
the prepared body, the batch writes return one ``batch.Applied`` per item
(``batch.py`` runs them), and failures are the errors of ``zk.errors`` or a
PolarisError carrying its own code.
"""

import uuid
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from zk.catalog import Catalog
from zk.errors import NotEmpty, NotFound

from . import codes, schemas, shapes
from .batch import Applied
from .codes import PolarisError


def in_namespace(
    answers: shapes.Answers,
    catalog: Catalog,
    name: str,
    namespace: str,
    code: int = codes.NOT_FOUND,
    fresh: bool = False,
) -> shapes.Service:
    """The Service view of ``name`` if it is in ``namespace``, else PolarisError(code).

    ``fresh``: a service the cache does not know yet is looked for in
    ZooKeeper too (writers; readers keep to the cache).
    """
    if fresh and catalog.tree.group(name) is None:
        catalog.tree.sync(name)
    return answers.in_namespace(catalog, name, namespace, code)


# -- client discover ------------------------------------------------------------


class Discovered(NamedTuple):
    code: int  # SUCCESS, or NO_CHANGE for a client that holds the current revision
    body: bytes


def discover(answers: shapes.Answers, catalog: Catalog, kind: str, wanted: Mapping[str, Any]) -> Discovered:
    """Discover of type ``kind`` (schemas.discover_request) for a client holding ``wanted["revision"]``."""
    if kind == "SERVICES":
        revision, full, unchanged = answers.listing(catalog.name, catalog.services(), wanted)
    else:
        view = in_namespace(answers, catalog, wanted["name"], wanted["namespace"])
        if kind == "INSTANCE":
            return Discovered(*view.answer(wanted["revision"]))
        leaf = catalog.rules.leaf(view.name, shapes.RULE_ANSWERS[kind].kind)
        prepared = answers.rules(catalog.name, kind, view.name, view.namespace, leaf)
        revision, full, unchanged = prepared.revision, prepared.full, prepared.unchanged
    if revision and wanted["revision"] == revision:
        return Discovered(codes.NO_CHANGE, unchanged)
    return Discovered(codes.SUCCESS, full)


# -- service management -----------------------------------------------------------


def create_service(answers: shapes.Answers, catalog: Catalog, item: Mapping[str, Any]) -> Applied:
    stamp = shapes.now()
    attributes = dict(item, ctime=stamp, mtime=stamp, revision=uuid.uuid4().hex)
    name = attributes.pop("name")
    if catalog.create_service(name, attributes):
        return Applied(codes.SUCCESS)
    try:
        where = "in namespace %s" % answers.service(catalog.name, catalog.service(name)).namespace
    except NotFound:
        where = "meanwhile"
    return Applied(codes.EXISTED, "service %s exists %s; names are unique per zkidc" % (name, where))


def update_service(answers: shapes.Answers, catalog: Catalog, item: Mapping[str, Any]) -> Applied:
    """Change the editable fields given; NO_NEED_UPDATE when none differs."""
    name = item["name"]
    in_namespace(answers, catalog, name, item["namespace"], fresh=True)

    def change(stored: dict[str, Any]) -> dict[str, Any] | None:
        current = shapes.polaris_attributes(stored)
        edits = {k: item[k] for k in schemas.EDITABLE if k in item and item[k] != current[k]}
        if not edits:
            return None
        return dict(stored, **edits, namespace=current["namespace"], mtime=shapes.now(), revision=uuid.uuid4().hex)

    return Applied(codes.SUCCESS if catalog.edit_attributes(name, change) else codes.NO_NEED_UPDATE)


def delete_service(answers: shapes.Answers, catalog: Catalog, item: Mapping[str, Any]) -> Applied:
    """Delete a service without rules or members; deleting a missing one succeeds."""
    name = item["name"]
    try:
        view = in_namespace(answers, catalog, name, item["namespace"], fresh=True)
    except PolarisError:
        return Applied(codes.SUCCESS)  # not there (in that namespace): nothing to delete
    kinds = catalog.rules.kinds(name)
    if kinds:
        return Applied(
            codes.HAS_RULES, "service %s still has %s rules; delete them first" % (name, " and ".join(kinds))
        )
    try:
        catalog.delete_service(name)
    except NotFound:
        pass
    except NotEmpty:
        count = len(view.group.leaves)
        return Applied(
            codes.HAS_INSTANCES, "service %s still has children (%d members); delete them first" % (name, count)
        )
    return Applied(codes.SUCCESS)


class Page(NamedTuple):
    amount: int  # services matched
    services: list[dict[str, Any]]  # the page of them, as the query lists them


def query_services(answers: shapes.Answers, catalog: Catalog, wanted: Mapping[str, Any]) -> Page:
    """The services matching the query's filters, last modified first, one page."""
    tests = _filters(wanted)
    views = answers.services(catalog.name, catalog.services())
    matched = [v for v in views if all(test(v) for test in tests)]
    matched.sort(key=lambda v: (-v.group.stat.mzxid, v.name))  # last modified first
    page = matched[wanted["offset"] : wanted["offset"] + wanted["limit"]]
    return Page(len(matched), [v.listing for v in page])


def _filters(query: Mapping[str, Any]) -> list[Callable[[shapes.Service], bool]]:
    """Predicates on a Service view for the query's filters."""
    tests = []
    if "name" in query:
        named = shapes.wildcard(query["name"])
        tests.append(lambda v: named(v.name))
    if "namespace" in query:
        tests.append(lambda v: v.namespace == query["namespace"])
    if "business" in query:
        business = query["business"].lower()
        tests.append(lambda v: business in v.attributes["business"].lower())
    if "department" in query:
        tests.append(lambda v: v.attributes["department"] == query["department"])
    if "keys" in query:
        tests.append(lambda v: v.attributes["metadata"].get(query["keys"]) == query["values"])
    if "host" in query:
        hosts = {h.strip() for h in query["host"].split(",") if h.strip()}
        ports = {int(p) for p in query["port"].split(",")} if "port" in query else None
        tests.append(lambda v: v.has_member(hosts, ports))
    return tests


def echo_service(raw: Mapping[str, Any]) -> dict[str, Any]:
    """What a service batch's response repeats of its item."""
    return {"service": {"name": raw.get("name", ""), "namespace": raw.get("namespace") or schemas.DEFAULT_NAMESPACE}}
