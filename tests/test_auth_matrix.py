"""The auth matrix, generated from the server's own route table (issue 14, item 2).

Every route of ``create_app(...).routes`` (each HTTP method separately) x every actor
{anonymous, bad token, other user, owner, org member} x {public, private} repo gets the HTTP status
it must answer, checked over HTTP against a real server. A route without an entry in `ROUTES`
fails `test_every_route_has_a_matrix_entry`, so the matrix cannot fall behind the app.

Routes are keyed by method and path with the parameter names blanked (``/api/models/{}/{}/refs``),
so renaming a path parameter does not orphan an entry, while a new URL does need one.

Actors: the repo under test lives in alice's namespace for anonymous / bad token / other (bob) /
owner (alice), and in the ``acme`` organisation's namespace for the org member (carol, who is not
its creator). Mutating routes get a fresh repo per case; after a refused write the repo must be
unchanged (same refs, same visibility, still there).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from server_fixtures import TOKEN_SPECS, TOKENS

from hub_publish.server import HubServer, create_app

ACTORS = ("anonymous", "bad_token", "other", "owner", "org_member")
VISIBILITY = (False, True)  # private?
# actor -> (token, namespace of the repo it acts on)
ACTOR_SETUP = {
    "anonymous": (None, "alice"),
    "bad_token": ("hf_not_a_known_token", "alice"),
    "other": (TOKENS["bob"], "alice"),
    "owner": (TOKENS["alice"], "alice"),
    "org_member": (TOKENS["carol"], "acme"),
}
FILE_BYTES = b"matrix file\n"
FILE_SHA256 = hashlib.sha256(FILE_BYTES).hexdigest()


# ----------------------------------------------------------------------------- expected statuses

def _table(public: dict[str, Any], private: dict[str, Any]) -> dict[tuple[str, bool], Any]:
    return {**{(a, False): public[a] for a in ACTORS}, **{(a, True): private[a] for a in ACTORS}}


def _same(value: Any) -> dict[tuple[str, bool], Any]:
    return {(a, p): value for a in ACTORS for p in VISIBILITY}


# Reading a repo: the Hub's rules (private repos are a 404 to whoever may not see them).
READ = _table(
    {"anonymous": 200, "bad_token": 401, "other": 200, "owner": 200, "org_member": 200},
    {"anonymous": 404, "bad_token": 401, "other": 404, "owner": 200, "org_member": 200},
)
# Writing to a repo: 401 without a user, 403 for a public repo of someone else, 404 for a private one.
WRITE = _table(
    {"anonymous": 401, "bad_token": 401, "other": 403, "owner": 200, "org_member": 200},
    {"anonymous": 404, "bad_token": 401, "other": 404, "owner": 200, "org_member": 200},
)
# Creating a repo in the actor's target namespace (bob targets alice's namespace).
_CREATE = {"anonymous": 401, "bad_token": 401, "other": 403, "owner": 200, "org_member": 200}
CREATE = _table(_CREATE, _CREATE)
# Listing: the status, and whether the repo under test is in the list.
LIST = _table(
    {"anonymous": "listed", "bad_token": 401, "other": "listed", "owner": "listed", "org_member": "listed"},
    {"anonymous": "hidden", "bad_token": 401, "other": "hidden", "owner": "listed", "org_member": "listed"},
)
WHOAMI = _same(200) | {(a, p): 401 for a in ("anonymous", "bad_token") for p in VISIBILITY}


@dataclass
class Case:
    """One request to make: the URL path (under the endpoint) and httpx keyword arguments."""

    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Entry:
    expected: dict[tuple[str, bool], Any]
    build: Callable[["Repo"], Case]
    fresh: bool = False  # the route changes the repo: a fresh repo per case
    listing: bool = False  # the outcome is "listed"/"hidden" (for /api/models)
    note: str = ""


@dataclass
class Repo:
    """The repo a case acts on (created by its namespace's owner side: alice)."""

    namespace: str
    name: str
    private: bool

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"


def _commit_body(path: str) -> bytes:
    lines = [
        {"key": "header", "value": {"summary": "matrix commit", "description": ""}},
        {"key": "file", "value": {"path": path, "content": base64.b64encode(b"new").decode(), "encoding": "base64"}},
    ]
    return b"\n".join(json.dumps(line).encode() for line in lines)


def _new_name() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


R = "/api/models/{}/{}"
ROUTES: dict[tuple[str, str], Entry] = {
    # identity and repos
    ("GET", "/api/whoami-v2"): Entry(WHOAMI, lambda r: Case("/api/whoami-v2")),
    ("POST", "/api/repos/create"): Entry(
        CREATE,
        lambda r: Case("/api/repos/create", {"json": {"name": _new_name(), "organization": r.namespace,
                                                      "private": r.private, "type": "model"}}),
    ),
    ("DELETE", "/api/repos/delete"): Entry(
        WRITE, lambda r: Case("/api/repos/delete", {"json": {"name": r.name, "organization": r.namespace, "type": "model"}}),
        fresh=True,
    ),
    ("POST", "/api/repos/move"): Entry(
        WRITE, lambda r: Case("/api/repos/move", {"json": {"fromRepo": r.id, "toRepo": f"{r.namespace}/{_new_name()}",
                                                           "type": "model"}}),
        fresh=True,
    ),
    ("PUT", R + "/settings"): Entry(
        WRITE, lambda r: Case(f"/api/models/{r.id}/settings", {"json": {"private": not r.private}}), fresh=True
    ),
    ("POST", "/api/validate-yaml"): Entry(
        _same(200) | {("bad_token", p): 401 for p in VISIBILITY},
        lambda r: Case("/api/validate-yaml", {"json": {"content": "---\nlicense: mit\n---\n"}}),
        note="stateless YAML check, reads no repo; a bad token is a 401 as on every Hub route",
    ),
    # the API description (FastAPI's own route): the same for everyone, reads no repo and no user
    ("GET", "/openapi.json"): Entry(_same(200), lambda r: Case("/openapi.json"),
                                    note="static schema; FastAPI's route does not look at the token"),
    ("HEAD", "/openapi.json"): Entry(_same(200), lambda r: Case("/openapi.json"), note="as above"),
    # model info and listing
    ("GET", "/api/models"): Entry(LIST, lambda r: Case("/api/models", {"params": {"author": r.namespace}}), listing=True),
    ("GET", R): Entry(READ, lambda r: Case(f"/api/models/{r.id}")),
    ("GET", R + "/revision/{}"): Entry(READ, lambda r: Case(f"/api/models/{r.id}/revision/main")),
    ("GET", R + "/tree/{}"): Entry(READ, lambda r: Case(f"/api/models/{r.id}/tree/main")),
    ("GET", R + "/tree/{}/{}"): Entry(READ, lambda r: Case(f"/api/models/{r.id}/tree/main/dir")),
    ("POST", R + "/paths-info/{}"): Entry(
        READ, lambda r: Case(f"/api/models/{r.id}/paths-info/main", {"data": {"paths": ["x.txt"], "expand": "false"}})
    ),
    ("GET", R + "/refs"): Entry(READ, lambda r: Case(f"/api/models/{r.id}/refs")),
    ("GET", R + "/commits/{}"): Entry(READ, lambda r: Case(f"/api/models/{r.id}/commits/main")),
    # branches and tags
    ("POST", R + "/branch/{}"): Entry(WRITE, lambda r: Case(f"/api/models/{r.id}/branch/{_new_name()}", {"json": {}})),
    ("DELETE", R + "/branch/{}"): Entry(WRITE, lambda r: Case(f"/api/models/{r.id}/branch/dev"), fresh=True),
    ("POST", R + "/tag/{}"): Entry(WRITE, lambda r: Case(f"/api/models/{r.id}/tag/main", {"json": {"tag": _new_name()}})),
    ("DELETE", R + "/tag/{}"): Entry(WRITE, lambda r: Case(f"/api/models/{r.id}/tag/v1"), fresh=True),
    # uploads
    ("POST", R + "/preupload/{}"): Entry(
        WRITE, lambda r: Case(f"/api/models/{r.id}/preupload/main", {"json": {"files": [{"path": "a.bin", "size": 3}]}})
    ),
    ("POST", R + "/commit/{}"): Entry(
        WRITE,
        lambda r: Case(f"/api/models/{r.id}/commit/main",
                       {"content": _commit_body(f"new-{uuid.uuid4().hex[:6]}.txt"),
                        "headers": {"content-type": "application/x-ndjson"}}),
    ),
    ("POST", "/{}/{}/info/lfs/objects/batch"): Entry(
        WRITE, lambda r: Case(f"/{r.id}.git/info/lfs/objects/batch",
                              {"json": {"operation": "upload", "objects": [{"oid": "b" * 64, "size": 5}]}}),
    ),
    ("POST", "/{}/{}/info/lfs/objects/verify"): Entry(
        WRITE, lambda r: Case(f"/{r.id}.git/info/lfs/objects/verify", {"json": {"oid": FILE_SHA256, "size": len(FILE_BYTES)}}),
    ),
    ("PUT", "/{}/{}/info/lfs/objects/{}"): Entry(
        _same(401), lambda r: Case(f"/{r.id}.git/info/lfs/objects/{'c' * 64}", {"content": b"hello"}),
        note="upload URLs need the signed grant the batch call hands out; a user token is not one",
    ),
    # xet
    ("GET", R + "/xet-write-token/{}"): Entry(WRITE, lambda r: Case(f"/api/models/{r.id}/xet-write-token/main")),
    ("GET", R + "/xet-read-token/{}"): Entry(
        _same(404), lambda r: Case(f"/api/models/{r.id}/xet-read-token/main"),
        note="downloads do not go through Xet on this server: refused for everyone, reveals nothing",
    ),
    ("GET", "/xet-cas/v1/chunks/{}/{}"): Entry(
        _same(401), lambda r: Case(f"/xet-cas/v1/chunks/default/{'d' * 64}"),
        note="CAS calls need a signed Xet write token; a user token is not one",
    ),
    ("POST", "/xet-cas/v1/xorbs/{}/{}"): Entry(
        _same(401), lambda r: Case(f"/xet-cas/v1/xorbs/default/{'d' * 64}", {"content": b"xorb"})
    ),
    ("POST", "/xet-cas/v1/shards"): Entry(_same(401), lambda r: Case("/xet-cas/v1/shards", {"content": b"shard"})),
    # downloads
    ("GET", "/{}/{}/resolve/{}/{}"): Entry(READ, lambda r: Case(f"/{r.id}/resolve/main/x.txt")),
    ("HEAD", "/{}/{}/resolve/{}/{}"): Entry(READ, lambda r: Case(f"/{r.id}/resolve/main/x.txt")),
    # model page
    ("GET", "/{}/{}"): Entry(READ, lambda r: Case(f"/{r.id}")),
    ("HEAD", "/{}/{}"): Entry(READ, lambda r: Case(f"/{r.id}")),
    ("GET", "/{}/{}/tree/{}"): Entry(
        _same(302), lambda r: Case(f"/{r.id}/tree/main"), note="a redirect to the page, which applies the read rules"
    ),
    ("GET", "/{}/{}/commit/{}"): Entry(_same(302), lambda r: Case(f"/{r.id}/commit/main"), note="as above"),
}
# Other repo types: a clear 404 for everyone, whatever the method.
for _prefix, _methods in (("/api/datasets", "DELETE GET HEAD POST PUT"), ("/api/spaces", "DELETE GET HEAD POST PUT"),
                          ("/datasets", "GET HEAD"), ("/spaces", "GET HEAD")):
    for _method in _methods.split():
        ROUTES[(_method, _prefix + "/{}")] = Entry(
            _same(404), lambda r, _p=_prefix: Case(f"{_p}/{r.id}"), note="model repos only"
        )


def route_key(method: str, path: str) -> tuple[str, str]:
    return method, re.sub(r"\{[^}]+\}", "{}", path)


def app_route_keys(data_dir: Path) -> set[tuple[str, str]]:
    """(method, blanked path) of every route of the app, as the server builds it."""
    keys = set()
    routes: Any = create_app(data_dir).routes
    try:  # FastAPI >= 0.16x keeps included routers as one entry each: walk into them
        from fastapi.routing import iter_route_contexts

        routes = list(iter_route_contexts(routes))
    except ImportError:  # older FastAPI: app.routes is already flat
        pass
    for route in routes:
        methods = getattr(route, "methods", None) or {type(route).__name__.upper()}  # a Mount must get an entry too
        for method in methods:
            keys.add(route_key(method, getattr(route, "path", repr(route))))
    return keys


# ----------------------------------------------------------------------------- the server and its repos


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    # A real server process. Under mutmut (MUTANT_UNDER_TEST set) it runs in a thread of the test
    # process instead, still over HTTP on 127.0.0.1: mutmut records which tests reach a mutated
    # function only in its own process, and would otherwise report "no tests" for the server's code.
    in_thread = bool(os.environ.get("MUTANT_UNDER_TEST"))
    with HubServer(tmp_path_factory.mktemp("matrix-hub"), tokens=TOKEN_SPECS, in_thread=in_thread) as hub:
        yield hub


@pytest.fixture(scope="module")
def http(server: HubServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.endpoint, timeout=30) as client:
        yield client


def _as(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


def _make_repo(http: httpx2.Client, namespace: str, private: bool) -> Repo:
    """A repo with a file, a folder, a branch ``dev`` and a tag ``v1``, created by alice."""
    repo = Repo(namespace, _new_name(), private)
    alice = _as(TOKENS["alice"])
    steps = [
        http.post("/api/repos/create", json={"name": repo.name, "organization": namespace, "private": private,
                                             "type": "model"}, headers=alice),
        http.post(f"/api/models/{repo.id}/commit/main", headers={**alice, "content-type": "application/x-ndjson"},
                  content=b"\n".join(json.dumps(line).encode() for line in [
                      {"key": "header", "value": {"summary": "setup"}},
                      {"key": "file", "value": {"path": "x.txt", "content": base64.b64encode(FILE_BYTES).decode()}},
                      {"key": "file", "value": {"path": "dir/f.txt", "content": base64.b64encode(b"f").decode()}},
                  ])),
        http.post(f"/api/models/{repo.id}/branch/dev", json={}, headers=alice),
        http.post(f"/api/models/{repo.id}/tag/main", json={"tag": "v1"}, headers=alice),
    ]
    for response in steps:
        assert response.status_code == 200, (response.request.url, response.text)
    return repo


def _state(http: httpx2.Client, repo: Repo) -> Any:
    """What a refused write must leave untouched: existence, visibility, refs."""
    info = http.get(f"/api/models/{repo.id}", headers=_as(TOKENS["alice"]))
    if info.status_code != 200:
        return info.status_code
    refs = http.get(f"/api/models/{repo.id}/refs", headers=_as(TOKENS["alice"])).json()
    return info.json()["private"], info.json()["sha"], refs


@pytest.fixture(scope="module")
def shared_repos(http: httpx2.Client) -> dict[tuple[str, bool], Repo]:
    return {(ns, private): _make_repo(http, ns, private) for ns in ("alice", "acme") for private in VISIBILITY}


def _outcome(entry: Entry, response: httpx2.Response, repo: Repo) -> Any:
    if entry.listing and response.status_code == 200:
        return "listed" if repo.id in [m["id"] for m in response.json()] else "hidden"
    return response.status_code


# ----------------------------------------------------------------------------- the tests


def test_every_route_has_a_matrix_entry(tmp_path: Path) -> None:
    keys = app_route_keys(tmp_path)
    missing = sorted(keys - ROUTES.keys())
    stale = sorted(ROUTES.keys() - keys)
    assert not missing, f"routes without an auth-matrix entry (add them to ROUTES in {Path(__file__).name}): {missing}"
    assert not stale, f"matrix entries for routes the app no longer has: {stale}"
    assert len(keys) >= 40  # the table really is the app's (not an empty or partial list)


@pytest.mark.parametrize("key", sorted(ROUTES), ids=lambda k: f"{k[0]} {k[1]}")
def test_route_auth_matrix(key: tuple[str, str], http: httpx2.Client, shared_repos: dict, server: HubServer) -> None:
    method, _ = key
    entry = ROUTES[key]
    actual: dict[tuple[str, bool], Any] = {}
    unchanged_failures = []
    for actor in ACTORS:
        token, namespace = ACTOR_SETUP[actor]
        for private in VISIBILITY:
            repo = _make_repo(http, namespace, private) if entry.fresh else shared_repos[(namespace, private)]
            before = _state(http, repo)
            case = entry.build(repo)
            response = http.request(method, case.path, headers={**_as(token), **case.kwargs.pop("headers", {})},
                                    **case.kwargs)
            assert response.status_code < 500, (actor, private, response.text)
            actual[(actor, private)] = _outcome(entry, response, repo)
            if response.status_code >= 400 and _state(http, repo) != before:
                unchanged_failures.append((actor, private))
    wrong = {k: (actual[k], entry.expected[k]) for k in entry.expected if actual[k] != entry.expected[k]}
    assert not wrong, f"{method} {key[1]}: (actor, private) -> (got, expected): {wrong}"
    assert not unchanged_failures, f"a refused request changed the repo: {unchanged_failures}"


def test_the_matrix_writes_really_happen_for_the_owner(http: httpx2.Client) -> None:
    """Positive control of the fresh-repo cases: the allowed destructive calls did their job."""
    repo = _make_repo(http, "alice", False)
    alice = _as(TOKENS["alice"])
    assert http.delete(f"/api/models/{repo.id}/tag/v1", headers=alice).status_code == 200
    assert http.delete(f"/api/models/{repo.id}/branch/dev", headers=alice).status_code == 200
    refs = http.get(f"/api/models/{repo.id}/refs", headers=alice).json()
    assert [b["name"] for b in refs["branches"]] == ["main"] and refs["tags"] == []
    assert http.put(f"/api/models/{repo.id}/settings", json={"private": True}, headers=alice).json()["private"] is True
    assert http.get(f"/api/models/{repo.id}").status_code == 404
    r = http.request("DELETE", "/api/repos/delete", json={"name": repo.name, "organization": "alice"}, headers=alice)
    assert r.status_code == 200
    assert http.get(f"/api/models/{repo.id}", headers=alice).status_code == 404
