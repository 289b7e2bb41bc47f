"""hub_publish.server.storage in-process: blobs, repos, refs, commits, pull requests, crash safety.

Fast tests (no server, no HTTP) pinning each storage rule, so that mutation testing
(scripts/mutation.sh storage) has a quick test for every line; the same behaviour is driven over
HTTP by the stock client in test_server_api.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

import pytest

from hub_publish.server import storage as storage_module
from hub_publish.server.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    Forbidden,
    PayloadTooLarge,
    PreconditionFailed,
    RepoNotFound,
    RevisionNotFound,
)
from hub_publish.server.storage import (
    DEFAULT_GITATTRIBUTES,
    AddFile,
    Commit,
    DeleteFile,
    DeleteFolder,
    FileEntry,
    RepoMeta,
    Storage,
    git_blob_oid,
    lfs_pointer,
)

REPO = "alice/model"


@pytest.fixture()
def store(tmp_path) -> Storage:
    return Storage(tmp_path / "data")


def _add(store: Storage, path: str, content: bytes, lfs: bool = False) -> AddFile:
    if lfs:  # an LFS object counts for a repo only when uploaded to it (a verified upload marks it)
        writer = store.blob_writer()
        writer.write(content)
        sha = writer.finish(repo_id=REPO)
    else:
        sha = store.put_blob(content)
    oid = git_blob_oid(lfs_pointer(sha, len(content))) if lfs else git_blob_oid(content)
    return AddFile(path, sha, len(content), lfs, oid)


def _commit(store: Storage, ops, revision: str = "main", **kwargs) -> Commit:
    commit, _ = store.create_commit(REPO, revision, ops, title=kwargs.pop("title", "t"), message="m", author="alice",
                                    **kwargs)
    return commit


def _tmp_files(store: Storage) -> list[str]:
    return sorted(p.name for p in (store.root / "tmp").iterdir())


# ----------------------------------------------------------------------------- helpers and records


def test_git_blob_oid_and_lfs_pointer_match_git():
    assert git_blob_oid(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # `git hash-object /dev/null`
    assert git_blob_oid(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    sha = "a" * 64
    assert lfs_pointer(sha, 12) == f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize 12\n".encode()
    entry = FileEntry(sha, 12, "oid", True)
    assert entry.pointer_size == len(lfs_pointer(sha, 12)) == 127
    assert entry.to_json() == {"sha256": sha, "size": 12, "oid": "oid", "lfs": True}


def test_now_is_utc_milliseconds():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", storage_module._now())


def test_commit_dirs():
    files = {p: FileEntry("a" * 64, 1, "o", False) for p in ("a.txt", "d/e/f.txt", "d/g.txt", "x/y.txt")}
    commit = Commit("c" * 40, (), files, "t", "m", "u", "d")
    assert commit.dirs() == {"d", "d/e", "x"}


def test_repo_meta_json_round_trip_keeps_extra_fields():
    meta = RepoMeta.from_json({"id": "a/b", "private": 1, "createdAt": "2026", "creator": "alice", "gated": False})
    assert meta == RepoMeta("a/b", True, "2026", "alice", {"gated": False})
    assert meta.to_json() == {"id": "a/b", "private": True, "createdAt": "2026", "creator": "alice", "gated": False}
    defaults = RepoMeta.from_json({"id": "a/b"})
    assert defaults.private is False and defaults.creator == "" and defaults.extra == {}
    assert re.fullmatch(r"\d{4}-.*Z", defaults.created_at)


def test_ref_slot():
    slot = storage_module._ref_slot
    assert slot("refs/heads/dev") == ("heads", "dev")
    assert slot("refs/tags/v1") == ("tags", "v1")
    assert slot("refs/pr/007") == ("pulls", "7")
    assert slot("refs/pr/x") == (None, "refs/pr/x")
    assert slot("main") == (None, "main")


def test_dumps_is_canonical():
    assert storage_module._dumps({"b": 1, "a": [1, 2]}) == b'{"a":[1,2],"b":1}'


# ----------------------------------------------------------------------------- blobs


def test_storage_layout(store, tmp_path):
    assert store.root == (tmp_path / "data").resolve()
    assert sorted(p.name for p in store.root.iterdir()) == ["blobs", "repos", "tmp"]  # xorbs are per repo
    store.create_repo(REPO, private=False, creator="alice")
    assert (store.root / "write.lock").exists()


def test_put_blob_is_content_addressed(store):
    sha = store.put_blob(b"hello")
    assert sha == hashlib.sha256(b"hello").hexdigest()
    assert store.blob_path(sha) == store.root / "blobs" / sha[:2] / sha
    assert store.blob_path(sha).read_bytes() == b"hello"
    assert store.has_blob(sha) and store.blob_size(sha) == 5
    assert store.put_blob(b"hello") == sha  # idempotent
    assert not store.has_blob("0" * 64) and not store.has_blob("not-a-sha")
    assert [p.name for p in store.blob_path(sha).parent.iterdir()] == [sha]  # no temp file left


@pytest.mark.parametrize("bad", ["", "A" * 64, "a" * 63, "a" * 65, "../" + "a" * 61, "g" * 64])
def test_blob_and_xorb_paths_refuse_non_sha256(store, bad):
    with pytest.raises(BadRequest, match=r"^Invalid sha256 "):
        store.blob_path(bad)
    with pytest.raises(BadRequest, match=r"^Invalid xorb hash "):
        store.xorb_path(REPO, bad)


def test_blob_writer_stores_only_verified_content(store):
    writer = store.blob_writer(max_bytes=10)
    writer.write(b"hello ")
    writer.write(b"you")
    assert writer.size == 9
    sha = writer.finish(expected_sha256=hashlib.sha256(b"hello you").hexdigest(), expected_size=9)
    assert store.blob_path(sha).read_bytes() == b"hello you"
    assert _tmp_files(store) == []
    again = store.blob_writer()
    again.write(b"hello you")
    assert again.finish() == sha  # already stored: same blob, temp file dropped
    assert _tmp_files(store) == []


def test_blobs_sharing_a_folder(store):
    """Two blobs whose sha256 start alike share blobs/<2 hex>/: both writers store into it."""
    seen: dict[str, bytes] = {}
    for i in range(2000):
        content = b"%d" % i
        prefix = hashlib.sha256(content).hexdigest()[:2]
        if prefix in seen:
            first, second = seen[prefix], content
            break
        seen[prefix] = content
    for content in (first, second):
        writer = store.blob_writer()
        writer.write(content)
        assert store.blob_path(writer.finish()).read_bytes() == content
    assert len(list(store.blob_path(hashlib.sha256(first).hexdigest()).parent.iterdir())) == 2


def test_blob_writer_refuses_a_size_mismatch(store):
    writer = store.blob_writer()
    writer.write(b"abc")
    with pytest.raises(BadRequest, match=r"^Uploaded content has 3 bytes, the declared size is 4\.$"):
        writer.finish(expected_size=4, expected_sha256=hashlib.sha256(b"abc").hexdigest())
    assert not store.has_blob(hashlib.sha256(b"abc").hexdigest()) and _tmp_files(store) == []


def test_blob_writer_refuses_a_hash_mismatch(store):
    writer = store.blob_writer()
    writer.write(b"abc")
    sha = hashlib.sha256(b"abc").hexdigest()
    with pytest.raises(BadRequest, match=rf"^Uploaded content does not match its declared oid: its sha256 is {sha}, expected {'0' * 64}\.$"):
        writer.finish(expected_sha256="0" * 64, expected_size=3)
    assert not store.has_blob(sha) and not store.has_blob("0" * 64) and _tmp_files(store) == []


def test_blob_writer_limit(store):
    writer = store.blob_writer(max_bytes=4)
    writer.write(b"1234")  # exactly the limit is fine
    with pytest.raises(PayloadTooLarge, match=r"^Upload is larger than the server's limit of 4 bytes\.$"):
        writer.write(b"5")
    assert _tmp_files(store) == []
    writer.abort()  # twice is harmless


def test_blob_writer_abort_keeps_nothing(store):
    writer = store.blob_writer()
    writer.write(b"partial")
    assert len(_tmp_files(store)) == 1
    writer.abort()
    assert _tmp_files(store) == [] and not store.has_blob(hashlib.sha256(b"partial").hexdigest())


def _tmp_with(store: Storage, content: bytes):
    tmp = store.temp_file()
    assert tmp.parent == store.root / "tmp" and not tmp.exists()
    tmp.write_bytes(content)
    return tmp


def test_put_xorb_is_per_repo_and_immutable(store):
    h = "b" * 64
    store.create_repo(REPO, private=False, creator="alice")
    store.create_repo("bob/other", private=False, creator="bob")
    assert store.xorb_path(REPO, h) == store.root / "repos" / "alice" / "model" / "xorbs" / h
    assert store.put_xorb(REPO, h, _tmp_with(store, b"xorb")) is True
    assert store.put_xorb(REPO, h, _tmp_with(store, b"other")) is False  # immutable
    assert store.xorb_path(REPO, h).read_bytes() == b"xorb"
    assert not store.xorb_path("bob/other", h).exists()  # never shared with another repo by its hash
    assert _tmp_files(store) == []  # the received temp file is moved or dropped, never left


def test_put_xorb_for_a_missing_repo_creates_nothing(store):
    with pytest.raises(RepoNotFound, match=r"^Repository alice/model not found\.$"):
        store.put_xorb(REPO, "b" * 64, _tmp_with(store, b"xorb"))
    assert not (store.root / "repos" / "alice").exists() and _tmp_files(store) == []


def test_lfs_content_is_scoped_to_the_repo(store):
    """A commit may name an LFS object only if it was uploaded to that repo or is in its history."""
    store.create_repo(REPO, private=False, creator="alice")
    store.create_repo("bob/other", private=False, creator="bob")
    content = b"\x01" * 16
    sha = hashlib.sha256(content).hexdigest()
    writer = store.blob_writer()
    writer.write(content)
    assert writer.finish(repo_id="bob/other") == sha  # uploaded to bob's repo only
    assert store.has_blob(sha)
    assert store.repo_has_content("bob/other", sha) and not store.repo_has_content(REPO, sha)
    assert (store.root / "repos" / "bob" / "other" / "uploads" / sha).is_file()
    oid = git_blob_oid(lfs_pointer(sha, len(content)))
    head = store.resolve(REPO, "main")
    with pytest.raises(BadRequest, match=rf"^The content of 'w.h5' \(sha256 {sha}\) was never uploaded to alice/model\.$"):
        _commit(store, [AddFile("w.h5", sha, len(content), True, oid)])
    assert store.resolve(REPO, "main") == head
    # in bob's repo it is committed; afterwards it counts through the history even without the marker
    store.create_commit("bob/other", "main", [AddFile("w.h5", sha, len(content), True, oid)], title="t", message="",
                        author="bob")
    (store.root / "repos" / "bob" / "other" / "uploads" / sha).unlink()
    assert store.repo_has_content("bob/other", sha) and not store.repo_has_content(REPO, sha)
    assert not store.repo_has_content("bob/other", "0" * 64)  # no blob at all
    # a regular (non-LFS) file only needs the blob: its bytes travelled in the commit itself
    plain = store.put_blob(b"plain")
    assert "t.txt" in _commit(store, [AddFile("t.txt", plain, 5, False, git_blob_oid(b"plain"))]).files


def test_an_upload_to_a_deleted_repo_marks_nothing(store):
    writer = store.blob_writer()
    writer.write(b"late")
    with pytest.raises(RepoNotFound, match=r"^Repository alice/model not found\.$"):
        writer.finish(repo_id=REPO)
    assert not (store.root / "repos" / "alice").exists() and _tmp_files(store) == []


# ----------------------------------------------------------------------------- repos


def test_create_repo_has_the_initial_commit(store):
    meta = store.create_repo(REPO, private=True, creator="alice")
    assert (meta.id, meta.private, meta.creator) == (REPO, True, "alice")
    assert store.repo_meta(REPO) == meta and store.repo_exists(REPO)
    refs = store.refs(REPO)
    assert list(refs) == ["heads", "pulls", "tags"] and refs["tags"] == {} and refs["pulls"] == {}
    head = store.commit(REPO, refs["heads"]["main"])
    assert head.parents == () and head.title == "initial commit" and head.author == "alice" and head.message == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", meta.created_at)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", head.date)
    repo_dir = store.root / "repos" / "alice" / "model"
    assert sorted(os.listdir(repo_dir)) == ["commits", "refs.json", "repo.json", "uploads", "xorbs"]
    assert os.listdir(repo_dir / "uploads") == [] and os.listdir(repo_dir / "xorbs") == []
    assert os.listdir(repo_dir / "commits") == [f"{head.id}.json"]
    content = DEFAULT_GITATTRIBUTES.encode()
    assert head.files == {".gitattributes": FileEntry(hashlib.sha256(content).hexdigest(), len(content),
                                                       git_blob_oid(content), False)}
    assert store.blob_path(head.files[".gitattributes"].sha256).read_bytes() == content
    assert "*.h5 filter=lfs" in DEFAULT_GITATTRIBUTES
    assert _tmp_files(store) == []
    with pytest.raises(Conflict, match=r"^You already created this model repo: alice/model$"):
        store.create_repo(REPO, private=False, creator="alice")


def test_unknown_repo(store):
    assert not store.repo_exists("alice/none")
    for call in (lambda: store.repo_meta("alice/none"), lambda: store.refs("alice/none"),
                 lambda: store.delete_repo("alice/none"), lambda: store.move_repo("alice/none", "alice/x"),
                 lambda: store.update_settings("alice/none", private=True),
                 lambda: store.resolve("alice/none", "main")):
        with pytest.raises(RepoNotFound, match=r"^Repository alice/none not found\.$"):
            call()


def test_list_repos_sorted_skipping_broken_entries(store):
    for repo in ("bob/z", "alice/b", "alice/a"):
        store.create_repo(repo, private=False, creator=repo.split("/")[0])
    broken = store.root / "repos" / "carol" / "broken"
    broken.mkdir(parents=True)
    (broken / "repo.json").write_text("{not json")
    assert [m.id for m in store.list_repos()] == ["alice/a", "alice/b", "bob/z"]


def test_delete_repo_keeps_blobs(store):
    store.create_repo(REPO, private=False, creator="alice")
    _commit(store, [_add(store, "a.txt", b"keep me")])
    store.delete_repo(REPO)
    assert not store.repo_exists(REPO) and not (store.root / "repos" / "alice" / "model").exists()
    assert store.has_blob(hashlib.sha256(b"keep me").hexdigest())
    assert _tmp_files(store) == []
    store.create_repo(REPO, private=False, creator="alice")  # the name is free again
    assert [c.title for c in store.history(REPO, store.resolve(REPO, "main"))] == ["initial commit"]


def test_move_repo(store):
    store.create_repo(REPO, private=True, creator="alice")
    head = _commit(store, [_add(store, "a.txt", b"a")]).id
    store.create_repo("acme/taken", private=False, creator="alice")
    with pytest.raises(Conflict, match=r"^Repository acme/taken already exists\.$"):
        store.move_repo(REPO, "acme/taken")
    assert store.repo_exists(REPO)
    store.move_repo(REPO, "acme/moved")
    assert not store.repo_exists(REPO)
    meta = store.repo_meta("acme/moved")
    assert meta.id == "acme/moved" and meta.private is True and meta.creator == "alice"
    assert store.resolve("acme/moved", "main") == head
    assert json.loads((store.root / "repos" / "acme" / "moved" / "repo.json").read_text())["id"] == "acme/moved"


def test_update_settings(store):
    store.create_repo(REPO, private=False, creator="alice")
    assert store.update_settings(REPO, private=True).private is True
    assert store.repo_meta(REPO).private is True
    assert store.update_settings(REPO).private is True  # None: unchanged
    assert store.update_settings(REPO, private=False).private is False
    assert store.repo_meta(REPO).private is False


# ----------------------------------------------------------------------------- refs


@pytest.fixture()
def repo(store) -> dict[str, str]:
    """alice/model with main (2 commits), branch dev, tag v1 at the first commit."""
    store.create_repo(REPO, private=False, creator="alice")
    initial = store.resolve(REPO, "main")
    second = _commit(store, [_add(store, "a.txt", b"a")], title="second").id
    store.create_branch(REPO, "dev", None)
    store.create_tag(REPO, "v1", initial)
    return {"initial": initial, "second": second}


def test_resolve(store, repo):
    assert store.resolve(REPO, "main") == repo["second"]
    assert store.resolve(REPO, "refs/heads/main") == repo["second"]
    assert store.resolve(REPO, "dev") == repo["second"]
    assert store.resolve(REPO, "v1") == repo["initial"]
    assert store.resolve(REPO, "refs/tags/v1") == repo["initial"]
    assert store.resolve(REPO, repo["initial"]) == repo["initial"]
    for bad in ("nope", "refs/heads/v1", "refs/tags/main", "refs/pr/1", "0" * 40, repo["initial"][:12], "refs/heads/nope"):
        with pytest.raises(RevisionNotFound, match=rf"^Invalid rev id: {re.escape(bad)}$"):
            store.resolve(REPO, bad)


def test_a_branch_wins_over_a_tag_of_the_same_name(store, repo):
    store.create_tag(REPO, "dev", repo["initial"])
    assert store.resolve(REPO, "dev") == repo["second"]
    assert store.resolve(REPO, "refs/tags/dev") == repo["initial"]


def test_branches(store, repo):
    assert store.refs(REPO)["heads"] == {"main": repo["second"], "dev": repo["second"]}
    store.create_branch(REPO, "old", "v1")
    assert store.resolve(REPO, "old") == repo["initial"]
    with pytest.raises(Conflict, match=r"^Reference already exists: refs/heads/dev$"):
        store.create_branch(REPO, "dev", None)
    with pytest.raises(RevisionNotFound, match=r"^Invalid rev id: nowhere$"):
        store.create_branch(REPO, "new", "nowhere")
    with pytest.raises(BadRequest, match=r"^Invalid branch name 'bad\.\.name'"):
        store.create_branch(REPO, "bad..name", None)
    store.delete_branch(REPO, "dev")
    assert sorted(store.refs(REPO)["heads"]) == ["main", "old"]
    with pytest.raises(RevisionNotFound, match=r"^Branch 'dev' not found\.$"):
        store.delete_branch(REPO, "dev")
    with pytest.raises(Forbidden, match=r"^The 'main' branch cannot be deleted\.$"):
        store.delete_branch(REPO, "main")
    assert store.resolve(REPO, "main") == repo["second"]


def test_tags(store, repo):
    with pytest.raises(Conflict, match=r"^Tag 'v1' already exists\.$"):
        store.create_tag(REPO, "v1", "main")
    assert store.refs(REPO)["tags"] == {"v1": repo["initial"]}
    with pytest.raises(BadRequest, match=r"^Invalid tag name 'bad\.\.tag'"):
        store.create_tag(REPO, "bad..tag", "main")
    with pytest.raises(RevisionNotFound, match=r"^Invalid rev id: nowhere$"):
        store.create_tag(REPO, "v2", "nowhere")
    store.delete_tag(REPO, "v1")
    assert store.refs(REPO)["tags"] == {}
    with pytest.raises(RevisionNotFound, match=r"^Tag 'v1' not found\.$"):
        store.delete_tag(REPO, "v1")


# ----------------------------------------------------------------------------- commits


def test_commit_reading(store, repo):
    commit = store.commit(REPO, repo["second"])
    assert commit.id == repo["second"] and commit.parents == (repo["initial"],)
    assert (commit.title, commit.message, commit.author) == ("second", "m", "alice")
    assert sorted(commit.files) == [".gitattributes", "a.txt"]
    with pytest.raises(RevisionNotFound, match=r"^Invalid commit id 'main'\.$"):
        store.commit(REPO, "main")
    with pytest.raises(RevisionNotFound, match=rf"^Commit {'0' * 40} not found\.$"):
        store.commit(REPO, "0" * 40)
    assert [c.id for c in store.history(REPO, repo["second"])] == [repo["second"], repo["initial"]]


def test_commit_ids_hash_the_commit_content(store, repo):
    commit = store.commit(REPO, repo["second"])
    body = {"parents": list(commit.parents), "files": {p: commit.files[p].to_json() for p in sorted(commit.files)},
            "title": commit.title, "message": commit.message, "author": commit.author, "date": commit.date}
    assert commit.id == hashlib.sha1(storage_module._dumps(body)).hexdigest()
    on_disk = json.loads((store.root / "repos" / "alice" / "model" / "commits" / f"{commit.id}.json").read_text())
    assert on_disk == {**body, "id": commit.id}


def test_create_commit_adds_replaces_and_deletes(store, repo):
    a2 = _add(store, "a.txt", b"a2")
    lfs = _add(store, "w/weights.h5", b"\x00" * 10, lfs=True)
    c3 = _commit(store, [a2, lfs, _add(store, "w/other.txt", b"o"), _add(store, "w/sub/x.txt", b"x")], title="c3")
    assert c3.parents == (repo["second"],) and store.resolve(REPO, "main") == c3.id
    assert c3.files["a.txt"] == FileEntry(a2.sha256, 2, git_blob_oid(b"a2"), False)
    assert c3.files["w/weights.h5"] == FileEntry(lfs.sha256, 10, git_blob_oid(lfs_pointer(lfs.sha256, 10)), True)
    assert store.resolve(REPO, "dev") == repo["second"]  # other branches do not move
    c4 = _commit(store, [DeleteFile("a.txt"), DeleteFolder("w")])
    assert sorted(c4.files) == [".gitattributes"]
    c5 = _commit(store, [_add(store, "n/a.txt", b"1"), _add(store, "n/b.txt", b"2"), _add(store, "nn.txt", b"3"),
                         DeleteFolder("n")])
    assert sorted(c5.files) == [".gitattributes", "nn.txt"]  # the folder prefix is n/, not n*
    # folder names are taken as they are (a trailing space or letter is part of the name)
    c6 = _commit(store, [_add(store, "sp /a.txt", b"1"), _add(store, "sp/b.txt", b"2"), _add(store, "boX/c.txt", b"3"),
                         _add(store, "bo/d.txt", b"4"), DeleteFolder("sp "), DeleteFolder("boX")])
    assert sorted(c6.files) == [".gitattributes", "bo/d.txt", "nn.txt", "sp/b.txt"]
    assert [c.id for c in store.history(REPO, c5.id)][:3] == [c5.id, c4.id, c3.id]


def test_create_commit_on_a_branch_and_refs_heads(store, repo):
    on_dev = _commit(store, [_add(store, "d.txt", b"d")], revision="dev")
    assert store.resolve(REPO, "dev") == on_dev.id and store.resolve(REPO, "main") == repo["second"]
    again = _commit(store, [_add(store, "e.txt", b"e")], revision="refs/heads/dev")
    assert store.resolve(REPO, "dev") == again.id and again.parents == (on_dev.id,)


@pytest.mark.parametrize("revision", ["v1", "refs/tags/v1", "nope", "refs/heads/nope"])
def test_create_commit_needs_a_branch(store, repo, revision):
    with pytest.raises(RevisionNotFound, match=rf"^Invalid rev id: {revision} is not a branch of alice/model\.$"):
        _commit(store, [_add(store, "x.txt", b"x")], revision=revision)
    assert store.refs(REPO)["tags"] == {"v1": repo["initial"]} and store.resolve(REPO, "main") == repo["second"]


def test_create_commit_with_a_stale_parent_is_refused(store, repo):
    with pytest.raises(PreconditionFailed, match=rf"^A commit has happened since\. Please refresh and try again \(parentCommit {repo['initial']} is not the head {repo['second']} of main\)\.$"):
        _commit(store, [_add(store, "x.txt", b"x")], parent_commit=repo["initial"])
    ok = _commit(store, [_add(store, "x.txt", b"x")], parent_commit=repo["second"])
    assert store.resolve(REPO, "main") == ok.id


@pytest.mark.parametrize(
    "ops, error, message",
    [
        (lambda s: [AddFile("x.txt", "0" * 64, 1, False, "o")], BadRequest,
         rf"^The content of 'x.txt' \(sha256 {'0' * 64}\) was never uploaded to alice/model\.$"),
        (lambda s: [DeleteFile("nope.txt")], EntryNotFound, r"^Cannot delete 'nope.txt': file not found in alice/model@main\.$"),
        (lambda s: [DeleteFolder("nope")], EntryNotFound, r"^Cannot delete folder 'nope': not found in alice/model@main\.$"),
        (lambda s: [_add(s, "d/f.txt", b"f"), _add(s, "d", b"file")], BadRequest,
         r"^Cannot add file 'd': a folder of that name exists\.$"),
        (lambda s: [_add(s, "a.txt/f.txt", b"f")], BadRequest, r"^Cannot add 'a.txt/f.txt': 'a.txt' is a file\.$"),
        (lambda s: [_add(s, "p/q/r", b"q"), _add(s, "p/q/r/s.txt", b"s")], BadRequest,
         r"^Cannot add 'p/q/r/s.txt': 'p/q/r' is a file\.$"),
        (lambda s: [_add(s, "u/v/w", b"w"), _add(s, "u/v/w/x/y.txt", b"y")], BadRequest,
         r"^Cannot add 'u/v/w/x/y.txt': 'u/v/w' is a file\.$"),
        (lambda s: [_add(s, "x/y/z.txt", b"z"), DeleteFolder("x/y"), _add(s, "x", b"x"), _add(s, "x/q/r.txt", b"r")],
         BadRequest, r"^Cannot add 'x/q/r.txt': 'x' is a file\.$"),
        (lambda s: [AddFile("../evil", "0" * 64, 1, False, "o")], BadRequest, r"\.\."),
    ],
)
def test_bad_commits_change_nothing(store, repo, ops, error, message):
    commits_dir = store.root / "repos" / "alice" / "model" / "commits"
    before = (store.refs(REPO), sorted(os.listdir(commits_dir)))
    with pytest.raises(error, match=message):
        _commit(store, ops(store))
    assert (store.refs(REPO), sorted(os.listdir(commits_dir))) == before


def test_pull_requests(store, repo):
    pr_commit, number = store.create_commit(REPO, "main", [_add(store, "p.txt", b"p")], title="pr", message="",
                                            author="bob", create_pr=True)
    assert number == 1 and pr_commit.parents == (repo["second"],) and pr_commit.author == "bob"
    assert store.resolve(REPO, "main") == repo["second"]  # main does not move
    assert store.refs(REPO)["pulls"] == {"1": pr_commit.id}
    assert store.resolve(REPO, "refs/pr/1") == pr_commit.id
    _, second = store.create_commit(REPO, "v1", [], title="pr2", message="", author="bob", create_pr=True)
    assert second == 2 and store.commit(REPO, store.resolve(REPO, "refs/pr/2")).parents == (repo["initial"],)
    # a commit on the pull request's ref moves that ref only
    on_pr, none = store.create_commit(REPO, "refs/pr/1", [_add(store, "q.txt", b"q")], title="more", message="",
                                      author="bob")
    assert none is None and store.resolve(REPO, "refs/pr/1") == on_pr.id and on_pr.parents == (pr_commit.id,)
    assert store.refs(REPO)["pulls"] == {"1": on_pr.id, "2": store.resolve(REPO, "refs/pr/2")}
    with pytest.raises(RevisionNotFound, match=r"^Invalid rev id: nowhere$"):
        store.create_commit(REPO, "nowhere", [], title="t", message="", author="bob", create_pr=True)


def test_pull_request_numbers_are_numeric(store, repo):
    for _ in range(10):
        store.create_commit(REPO, "main", [], title="pr", message="", author="bob", create_pr=True)
    _, eleventh = store.create_commit(REPO, "main", [], title="pr", message="", author="bob", create_pr=True)
    assert eleventh == 11


def test_two_storages_on_one_data_dir_see_each_others_writes(store, repo, tmp_path):
    other = Storage(tmp_path / "data")
    assert other.resolve(REPO, "main") == repo["second"]
    commit, _ = other.create_commit(REPO, "main", [], title="from the other", message="", author="alice")
    assert store.resolve(REPO, "main") == commit.id


def test_blob_writer_reports_a_temp_file_collected_before_finish(store):
    from hub_publish.server.errors import Unavailable

    writer = store.blob_writer()
    writer.write(b"slow upload")
    assert writer.stored is False
    writer.close()
    writer.close()  # twice is harmless
    (tmp,) = (store.root / "tmp").iterdir()
    tmp.unlink()  # what `serve --gc` with a too short grace does
    with pytest.raises(Unavailable, match=r"^The upload's temp file was removed by a garbage collection; upload it again\.$"):
        writer.finish()
    assert writer.stored is False and not store.has_blob(hashlib.sha256(b"slow upload").hexdigest())
    ok = store.blob_writer()
    ok.write(b"fine")
    ok.finish()
    assert ok.stored is True


def test_repo_has_content_skips_unreadable_commit_files(store):
    store.create_repo(REPO, private=False, creator="alice")
    content = b"\x02" * 8
    sha = hashlib.sha256(content).hexdigest()
    store.put_blob(content)
    commits = store.root / "repos" / "alice" / "model" / "commits"
    (commits / ("0" * 40 + ".json")).write_text("{not json")  # a torn file: ValueError
    (commits / ("1" * 40 + ".json")).mkdir()  # not a file: OSError
    assert store.repo_has_content(REPO, sha) is False
    store.create_commit(REPO, "main", [AddFile("w.h5", sha, 8, False, git_blob_oid(content))], title="t", message="",
                        author="alice")
    assert store.repo_has_content(REPO, sha) is True  # found in the readable commit despite the broken ones
