"""Malformed requests get a 4xx with a message: never a 500, never a dropped connection."""

from __future__ import annotations

import base64
import json

import httpx2
import pytest
from server_fixtures import TOKENS, alice, hub_server, repo_id  # noqa: F401

from hub_publish import constants
from hub_publish.server import HubServer

AUTH = {"Authorization": f"Bearer {TOKENS['alice']}"}
NOT_OBJECTS = [b"[]", b"1", b'"text"', b"null", b"[{}]", b"true"]


def _json_endpoints(repo: str) -> list[tuple[str, str]]:
    return [
        ("POST", "/api/repos/create"),
        ("DELETE", "/api/repos/delete"),
        ("POST", "/api/repos/move"),
        ("PUT", f"/api/models/{repo}/settings"),
        ("POST", "/api/validate-yaml"),
        ("POST", f"/api/models/{repo}/preupload/main"),
        ("POST", f"/api/models/{repo}/branch/b1"),
        ("POST", f"/api/models/{repo}/tag/main"),
        ("POST", f"/{repo}.git/info/lfs/objects/batch"),
        ("POST", f"/{repo}.git/info/lfs/objects/verify"),
        ("POST", f"/api/models/{repo}/paths-info/main"),
    ]


def _assert_refused(r: httpx2.Response, *statuses: int) -> None:
    assert r.status_code in (statuses or (400, 422)), (r.status_code, r.text[:300])
    assert r.json()["error"] and r.headers["X-Error-Message"]


def test_json_bodies_that_are_not_objects(hub_server: HubServer, repo_id: str) -> None:
    for method, path in _json_endpoints(repo_id):
        for body in NOT_OBJECTS:
            if path.endswith("/branch/b1") and body == b"null":
                continue  # an absent body is fine there (the branch starts at main)
            r = httpx2.request(method, hub_server.url + path, content=body, headers={**AUTH, "Content-Type": "application/json"})
            _assert_refused(r)
        r = httpx2.request(method, hub_server.url + path, content=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
        _assert_refused(r)


def test_wrongly_typed_items(hub_server: HubServer, repo_id: str) -> None:
    url = hub_server.url
    cases = [
        (f"/api/models/{repo_id}/preupload/main", {"files": [1, "a", None]}),
        (f"/api/models/{repo_id}/preupload/main", {"files": [{"path": 5, "size": "x"}]}),
        (f"/api/models/{repo_id}/preupload/main", {"files": {"path": "a"}}),
        (f"/{repo_id}.git/info/lfs/objects/batch", {"operation": "upload", "objects": [1, [2]]}),
        (f"/{repo_id}.git/info/lfs/objects/batch", {"operation": "upload", "objects": [{"oid": "zz", "size": -1}]}),
        (f"/{repo_id}.git/info/lfs/objects/batch", {"operation": 5}),
        (f"/{repo_id}.git/info/lfs/objects/verify", {"oid": ["a"], "size": "big"}),
        ("/api/repos/create", {"name": ["x"], "organization": {"a": 1}}),
        ("/api/validate-yaml", {"content": 5}),
        (f"/api/models/{repo_id}/tag/main", {"tag": None}),
    ]
    for path, body in cases:
        _assert_refused(httpx2.post(url + path, json=body, headers=AUTH))


def test_malformed_commit_lines(hub_server: HubServer, repo_id: str, alice) -> None:
    before = alice.list_repo_files(repo_id)
    header = json.dumps({"key": "header", "value": {"summary": "x"}}).encode()
    bad_lines = [
        {"key": "file", "value": {"path": "a.txt", "content": 5}},
        {"key": "file", "value": {"path": "a.txt", "content": None, "encoding": "base64"}},
        {"key": "file", "value": {"path": "a.txt", "content": "", "encoding": "hex"}},
        {"key": "file", "value": "just a string"},
        {"key": "lfsFile", "value": {"path": "a.bin", "oid": 5, "size": 1}},
        {"key": "lfsFile", "value": {"path": "a.bin", "oid": "a" * 64, "size": "1"}},
        {"key": "deletedFile", "value": {"path": ["x"]}},
        {"key": "header", "value": {"summary": 5}},
        {"key": "header", "value": []},
        {"key": "header", "value": {"summary": "x", "parentCommit": 12}},
        {"key": 5, "value": {}},
        ["key", "value"],
        "a string",
    ]
    for line in bad_lines:
        body = header + b"\n" + json.dumps(line).encode() + b"\n"
        r = httpx2.post(f"{hub_server.url}/api/models/{repo_id}/commit/main", content=body, headers=AUTH)
        _assert_refused(r, 400)
    assert alice.list_repo_files(repo_id) == before


def test_bad_query_parameters(hub_server: HubServer, repo_id: str) -> None:
    url = hub_server.url
    for path in (
        f"/api/models/{repo_id}/tree/main?expand=1&cursor=x",
        f"/api/models/{repo_id}/tree/main?cursor=-5",
        f"/api/models/{repo_id}/tree/main?recursive=maybe",
        f"/api/models?limit=x",
        f"/api/models?cursor=abc",
        f"/api/models/{repo_id}?blobs=perhaps",
        f"/api/models/{repo_id}/commits/main?cursor=1.5",
    ):
        _assert_refused(httpx2.get(url + path, headers=AUTH), 400)


def test_non_ascii_tokens_and_grants(hub_server: HubServer, repo_id: str) -> None:
    url = hub_server.url
    for token in ("é", "hf_ü.signature", "ü.ü"):
        value = f"Bearer {token}".encode("latin-1")
        for method, path in [("GET", "/api/whoami-v2"), ("POST", "/xet-cas/v1/shards"), ("GET", f"/api/models/{repo_id}")]:
            r = httpx2.request(method, url + path, headers={"Authorization": value})
            _assert_refused(r, 401)
    r = httpx2.put(f"{url}/{repo_id}.git/info/lfs/objects/{'a' * 64}?grant=%C3%A9.%C3%A9", content=b"x")
    _assert_refused(r, 401)
    r = httpx2.put(f"{url}/{repo_id}.git/info/lfs/objects/{'a' * 64}?grant=bm90IGpzb24.x", content=b"x")
    _assert_refused(r, 401)


def test_empty_and_odd_paths_in_resolve(hub_server: HubServer, repo_id: str) -> None:
    url = hub_server.url
    for path in ("", "a//b", "./x", "%20", "dir/"):
        for method in ("GET", "HEAD"):
            r = httpx2.request(method, f"{url}/{repo_id}/resolve/main/{path}")
            assert r.status_code in (400, 404), (path, r.status_code)
            assert not r.headers["X-Error-Message"].startswith(" ")


def test_json_bodies_are_bounded(hub_server: HubServer, repo_id: str) -> None:
    big = b'{"content": "' + b"a" * (constants.SERVER_MAX_JSON_BODY_BYTES + 10) + b'"}'
    r = httpx2.post(f"{hub_server.url}/api/validate-yaml", content=big, headers={**AUTH, "Content-Type": "application/json"})
    _assert_refused(r, 413)

    def chunks():
        for _ in range(constants.SERVER_MAX_JSON_BODY_BYTES // (1 << 20) + 2):
            yield b"a" * (1 << 20)

    # Without a Content-Length (chunked): refused once the limit is passed.
    r = httpx2.post(f"{hub_server.url}/api/validate-yaml", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code in (400, 413)


def test_openapi_schema_is_served(hub_server: HubServer) -> None:
    r = httpx2.get(f"{hub_server.url}/openapi.json")
    assert r.status_code == 200
    schema = r.json()
    assert "/api/models/{namespace}/{name}/preupload/{revision}" in schema["paths"]
    body = schema["paths"]["/api/models/{namespace}/{name}/preupload/{revision}"]["post"]["requestBody"]
    assert "application/json" in body["content"]


def test_commit_content_that_is_valid_still_works(hub_server: HubServer, repo_id: str, alice) -> None:
    """Positive control of the typed commit lines: the raw NDJSON the client sends is accepted."""
    lines = [
        {"key": "header", "value": {"summary": "ok", "description": "", "parentCommit": alice.model_info(repo_id).sha}},
        {"key": "file", "value": {"path": "a.txt", "content": base64.b64encode(b"hi").decode(), "encoding": "base64"}},
    ]
    body = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    r = httpx2.post(f"{hub_server.url}/api/models/{repo_id}/commit/main", content=body, headers=AUTH)
    assert r.status_code == 200, r.text
    assert "a.txt" in alice.list_repo_files(repo_id)


def test_client_going_away_mid_upload_is_not_a_server_error(hub_server: HubServer, repo_id: str) -> None:
    """A client killed mid-body (LFS PUT, commit, JSON body) is logged as 499, never a 500 with a traceback."""
    import socket
    import time

    content = b"x" * 1000
    oid = __import__("hashlib").sha256(content).hexdigest()
    batch = httpx2.post(
        f"{hub_server.url}/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": oid, "size": len(content)}]},
        headers=AUTH,
    )
    href = batch.json()["objects"][0]["actions"]["upload"]["href"]
    target = href.split(str(hub_server.port), 1)[1]
    requests = [
        ("PUT", target, {}),
        ("POST", f"/api/models/{repo_id}/commit/main", AUTH),
        ("POST", "/api/validate-yaml", {**AUTH, "Content-Type": "application/json"}),
    ]
    for method, path, headers in requests:
        with socket.create_connection((hub_server.host, hub_server.port)) as sock:
            head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            sock.sendall(head.encode() + b'{"content": "' + b"a" * 100)
            time.sleep(0.2)
    time.sleep(0.5)
    log = hub_server.log_file.read_text(errors="replace")
    assert f"PUT {target.split('?')[0]} 499" in log
    assert " 500 " not in log and "Traceback" not in log


def test_range_headers_on_resolve(hub_server: HubServer, repo_id: str, alice) -> None:
    """Every Range header gets 206/200 as RFC 9110 allows, or a 4xx in the Hub's JSON error shape; never a 5xx."""
    alice.upload_file(path_or_fileobj=b"0123456789", path_in_repo="r.txt", repo_id=repo_id)
    url = f"{hub_server.url}/{repo_id}/resolve/main/r.txt"
    refused = {
        "bytes=abc": 400, "bytes=5-2": 400, "bytes=": 400, "bytes": 400, "=0-1": 400, "bytes=-": 400, "bytes=1-2,abc": 400,
        "bytes=\u0663-5": 400, "bytes=1-2-3": 400, "bytes=+1-2": 400,
        "bytes=10-": 416, "bytes=10-20": 416, "bytes=-0": 416, "bytes=99999999999999999999-": 416,
        "bytes=" + "9" * 5000 + "-": 416,
    }
    for header, status in refused.items():
        for method in ("GET", "HEAD"):
            r = httpx2.request(method, url, headers={"Range": header.encode("utf-8")})
            assert r.status_code == status, (header, method, r.status_code, r.text[:200])
            assert r.headers["X-Error-Message"].startswith("Invalid Range header" if status == 400 else "Range ")
            assert r.headers["Content-Type"] == "application/json"
            if method == "GET" and header.isascii():  # X-Error-Message is ASCII ("?" for the others)
                assert r.json()["error"] == r.headers["X-Error-Message"]
            if status == 416:
                assert r.headers["Content-Range"] == "bytes */10"
    served = {
        "bytes=2-5": (206, b"2345"), "bytes=0-99999999999999999999": (206, b"0123456789"),
        "bytes=-99999999999999999999": (206, b"0123456789"), "bytes=-3": (206, b"789"), "bytes=7-": (206, b"789"),
        "bytes=0-1,20-30": (206, b"01"), "Bytes = 1 - 2 ,": (206, b"12"),
        "items=0-1": (200, b"0123456789"), "bytes=" + ",".join(["0-0"] * 101): (200, b"0123456789"),
    }
    for header, (status, body) in served.items():
        r = httpx2.get(url, headers={"Range": header})
        assert (r.status_code, r.content) == (status, body), (header, r.status_code, r.text[:200])
    r = httpx2.get(url, headers={"Range": "bytes=0-1,4-5,5-6"})
    assert r.status_code == 206 and r.headers["Content-Type"].startswith("multipart/byteranges; boundary=")
    assert b"Content-Range: bytes 0-1/10" in r.content and b"Content-Range: bytes 4-6/10" in r.content
    assert b"\r\n01\r\n" in r.content and b"\r\n456\r\n" in r.content
