"""One regression test per promised rule that a one-line break of the code once left unnoticed (issue 14).

Each test names its rule; docs/testing.md lists rule -> test -> the one-line mutation that was
applied to the code to see the test fail. Server rules are checked over HTTP against a real server
process with the stock huggingface_hub client; loading, card and push rules through the public API.
No test sleeps: rules that depend on the clock step a fake clock.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import httpx2
import keras
import numpy as np
import pytest
from huggingface_hub import HfApi, ModelCard
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from server_fixtures import TOKEN_SPECS, TOKENS, alice, hub_server, unique  # noqa: F401

import hub_publish
from hub_publish import constants
from hub_publish.errors import IntegrityError, UnknownLayersError
from hub_publish.loading import HubPublishWarning
from hub_publish.server import HubServer
from hub_publish.server.auth import AuthConfig, Authorizer, load_secret

CAROL = TOKENS["carol"]  # member of the "acme" organisation, not alice


def _api(server: HubServer, token: str | bool) -> HfApi:
    return HfApi(endpoint=server.endpoint, token=token)


def _status(call) -> int:
    try:
        call()
    except HfHubHTTPError as err:
        return err.response.status_code
    return 200


def _tiny_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,), name="x")
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden), name="tiny")


# ============================================================================ server: who may see and do what


def test_non_member_cannot_list_a_private_repos_branches_tags_or_commits(hub_server, alice):
    repo = f"alice/{unique('private-refs')}"
    alice.create_repo(repo, private=True)
    alice.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    alice.create_branch(repo, branch="dev")
    alice.create_tag(repo, tag="v1")
    # positive control: the owner lists them
    refs = alice.list_repo_refs(repo)
    assert sorted(b.name for b in refs.branches) == ["dev", "main"] and [t.name for t in refs.tags] == ["v1"]
    assert len(alice.list_repo_commits(repo)) == 2
    for token in (TOKENS["bob"], CAROL, False):  # another user, a member of another org, anonymous
        api = _api(hub_server, token)
        for call in (lambda: api.list_repo_refs(repo), lambda: api.list_repo_commits(repo),
                     lambda: api.list_repo_commits(repo, revision="dev"), lambda: api.list_repo_refs(repo, include_pull_requests=True)):
            with pytest.raises(RepositoryNotFoundError, match=r"404"):
                call()
        # the raw HTTP routes too: 404, and no branch or tag name leaks in the body
        headers = {"authorization": f"Bearer {token}"} if token else {}
        for path in ("refs", "commits/main", "commits/v1"):
            r = httpx2.get(f"{hub_server.endpoint}/api/models/{repo}/{path}", headers=headers)
            assert r.status_code == 404, (path, r.text)
            assert "dev" not in r.text and "v1" not in r.text.replace(repo, "")


def test_anonymous_cannot_list_repos_when_anonymous_read_is_off(tmp_path):
    config = tmp_path / "users.json"
    config.write_text(json.dumps({"users": {"dave": {"token": "hf_dave"}}, "anonymous_read": False}))
    with HubServer(tmp_path / "data", config=config) as server:
        dave = _api(server, "hf_dave")
        dave.create_repo("dave/public-model")  # public: but on this server, reading needs a token
        assert [m.id for m in dave.list_models()] == ["dave/public-model"]  # positive control
        r = httpx2.get(f"{server.endpoint}/api/models")
        assert r.status_code == 401 and r.headers["X-Error-Message"] == "This server requires a token to read."
        assert "dave/public-model" not in r.text
        with pytest.raises(HfHubHTTPError, match=r"401"):
            list(_api(server, False).list_models())
        with pytest.raises(HfHubHTTPError, match=r"401"):
            list(_api(server, False).list_models(author="dave", search="public"))


def test_anonymous_can_list_public_repos_when_anonymous_read_is_on(hub_server, alice):
    """The positive control of the rule above, on the default server."""
    repo = f"alice/{unique('listed')}"
    alice.create_repo(repo)
    assert repo in [m.id for m in _api(hub_server, False).list_models(author="alice")]


def test_a_user_cannot_move_a_repo_into_another_users_namespace(hub_server, alice):
    repo = f"alice/{unique('move')}"
    alice.create_repo(repo)
    alice.upload_file(path_or_fileobj=b"mine", path_in_repo="m.txt", repo_id=repo)
    target = f"bob/{repo.split('/')[1]}"
    with pytest.raises(HfHubHTTPError, match=r"403") as err:
        alice.move_repo(repo, target)
    assert "namespace 'bob'" in err.value.response.headers["X-Error-Message"]
    assert alice.list_repo_files(repo) == [".gitattributes", "m.txt"]  # still where it was
    with pytest.raises(RepositoryNotFoundError, match=r"404"):
        _api(hub_server, TOKENS["bob"]).model_info(target)
    # positive control: into a namespace she may write (her org), the move works
    org_target = f"acme/{repo.split('/')[1]}"
    alice.move_repo(repo, org_target)
    assert alice.list_repo_files(org_target) == [".gitattributes", "m.txt"]
    with pytest.raises(RepositoryNotFoundError, match=r"404"):
        alice.model_info(repo)


def test_a_user_cannot_move_someone_elses_repo_into_their_own_namespace(hub_server, alice):
    repo = f"alice/{unique('steal')}"
    alice.create_repo(repo)
    bob = _api(hub_server, TOKENS["bob"])
    with pytest.raises(HfHubHTTPError, match=r"403"):
        bob.move_repo(repo, f"bob/{repo.split('/')[1]}")
    assert alice.model_info(repo).id == repo


@pytest.mark.parametrize("reader", ["bob", "carol"])
def test_read_access_does_not_allow_deleting_a_repo(hub_server, alice, reader):
    repo = f"alice/{unique('keep')}"
    alice.create_repo(repo)
    alice.upload_file(path_or_fileobj=b"keep", path_in_repo="k.txt", repo_id=repo)
    api = _api(hub_server, TOKENS[reader])
    assert api.model_info(repo).id == repo  # the reader does see it
    with pytest.raises(HfHubHTTPError, match=r"403"):
        api.delete_repo(repo)
    with pytest.raises(HfHubHTTPError, match=r"401"):
        _api(hub_server, False).delete_repo(repo)
    assert alice.list_repo_files(repo) == [".gitattributes", "k.txt"]
    alice.delete_repo(repo)  # positive control: the owner may
    with pytest.raises(RepositoryNotFoundError, match=r"404"):
        alice.model_info(repo)


# ============================================================================ server: signed grants expire


class _SteppedClock:
    """A stand-in for the ``time`` module of hub_publish.server.auth: ``time()`` returns ``now``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_signed_grants_expire_on_a_stepped_clock(monkeypatch):
    from hub_publish.server import auth as auth_module
    from hub_publish.server.errors import Unauthorized

    clock = _SteppedClock(1_000_000.0)
    monkeypatch.setattr(auth_module, "time", clock)
    signer = Authorizer(AuthConfig(), b"k" * 32)
    grant = signer.sign({"r": "alice/m", "o": "0" * 64}, ttl_s=3600)
    assert signer.verify(grant) == {"r": "alice/m", "o": "0" * 64, "exp": 1_003_600}
    clock.now = 1_003_600.0  # the last valid second
    assert signer.verify(grant)["r"] == "alice/m"
    clock.now = 1_003_601.0  # one second later
    with pytest.raises(Unauthorized, match=r"^This signed URL or token has expired; ask for a new one\.$"):
        signer.verify(grant)
    # forged or tampered grants are refused whatever the clock says
    clock.now = 0.0
    with pytest.raises(Unauthorized, match=r"^Invalid or forged signature\.$"):
        Authorizer(AuthConfig(), b"other-secret").verify(grant)
    raw, _, sig = grant.partition(".")
    with pytest.raises(Unauthorized, match=r"^Invalid or forged signature\.$"):
        signer.verify(f"{raw}x.{sig}")
    with pytest.raises(Unauthorized, match=r"^Invalid or forged signature\.$"):
        signer.verify(raw)


def test_expired_lfs_upload_url_and_xet_token_are_refused_over_http(hub_server, alice):
    """A grant signed with the server's own key (read from its data dir) but already expired."""
    repo = f"alice/{unique('grant')}"
    alice.create_repo(repo)
    signer = Authorizer(AuthConfig(), load_secret(hub_server.data_dir))
    data = b"expired upload"
    import hashlib

    oid = hashlib.sha256(data).hexdigest()
    payload = {"r": repo, "o": oid, "s": len(data)}
    url = f"{hub_server.endpoint}/{repo}.git/info/lfs/objects/{oid}"
    expired = signer.sign(payload, ttl_s=-1)
    r = httpx2.put(url, params={"grant": expired}, content=data)
    assert r.status_code == 401, r.text
    assert r.headers["X-Error-Message"] == "This signed URL or token has expired; ask for a new one."
    # positive control: the same grant, still valid, is accepted
    assert httpx2.put(url, params={"grant": signer.sign(payload, ttl_s=60)}, content=data).status_code == 200
    xet_expired = signer.sign({"x": "write", "r": repo, "u": "alice"}, ttl_s=-1)
    r = httpx2.post(f"{hub_server.endpoint}/xet-cas/v1/shards", headers={"authorization": f"Bearer {xet_expired}"},
                    content=b"")
    assert r.status_code == 401 and "expired" in r.headers["X-Error-Message"]


def test_issued_grants_carry_the_configured_lifetime(hub_server, alice):
    """The URLs the server hands out expire SERVER_SIGNED_URL_TTL_S after issue (not never)."""
    import base64
    import time

    repo = f"alice/{unique('ttl')}"
    alice.create_repo(repo)
    before = int(time.time())
    r = httpx2.post(
        f"{hub_server.endpoint}/{repo}.git/info/lfs/objects/batch",
        headers={"authorization": f"Bearer {TOKENS['alice']}"},
        json={"operation": "upload", "objects": [{"oid": "a" * 64, "size": 5}]},
    )
    assert r.status_code == 200, r.text
    href = r.json()["objects"][0]["actions"]["upload"]["href"]
    raw = href.split("grant=")[1].split(".")[0]
    body = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    token = httpx2.get(f"{hub_server.endpoint}/api/models/{repo}/xet-write-token/main",
                       headers={"authorization": f"Bearer {TOKENS['alice']}"}).json()
    after = int(time.time()) + 1  # both calls done; + 1: the server rounds its clock down, ours too
    assert before + constants.SERVER_SIGNED_URL_TTL_S <= body["exp"] <= after + constants.SERVER_SIGNED_URL_TTL_S
    assert before + constants.SERVER_SIGNED_URL_TTL_S <= token["exp"] <= after + constants.SERVER_SIGNED_URL_TTL_S


# ============================================================================ loading: trust policy, class-free fallback


def _edit_json(path: Path, edit) -> None:
    """Edit a file of a saved folder as its author would have saved it (the manifest restamped)."""
    from folder_tools import restamp

    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    restamp(path.parent, path.name)


@pytest.fixture()
def tiny_folder(tmp_path) -> Path:
    return hub_publish.save_pretrained(_tiny_model(), tmp_path / "tiny", card=False)


EVIL_MODULE = 'from pathlib import Path\nPath(__file__).with_suffix(".imported").write_text("ran")\n'


def _fresh_modules(monkeypatch, *packages: str) -> None:
    """Forget the test's throw-away packages before and after it: an import cached by an earlier
    test in the same process would hide whether this load imported them."""
    for name in list(sys.modules):
        if name.split(".")[0] in packages:
            monkeypatch.delitem(sys.modules, name)
    import importlib

    importlib.invalidate_caches()


@pytest.mark.parametrize("module", ["keras_contrib_evil", "hub_publish_evil", "kerasevil.models", "my_trusted_pkg_evil"])
def test_trusted_module_check_matches_whole_module_names(tiny_folder, tmp_path, monkeypatch, module):
    """``keras_contrib_evil`` is not ``keras``: a config naming it must not get it imported."""
    package = module.split(".")[0]
    if "." in module:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(EVIL_MODULE)
        marker = tmp_path / package / "__init__.imported"
    else:
        (tmp_path / f"{package}.py").write_text(EVIL_MODULE)
        marker = tmp_path / f"{package}.imported"
    monkeypatch.syspath_prepend(str(tmp_path))
    _fresh_modules(monkeypatch, package)

    def point_at_module(config):
        config["module"] = module
        config["class_name"] = "Evil"
        config["registered_name"] = f"{package}>Evil"

    _edit_json(tiny_folder / constants.CONFIG_FILE, point_at_module)
    try:
        with pytest.warns(HubPublishWarning, match=rf"class 'Evil' comes from module '{module}', which is not trusted and was not imported"):
            model = hub_publish.from_pretrained(tiny_folder, trusted_modules=["my_trusted_pkg"])
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] == package]:
            del sys.modules[name]
    assert not marker.exists()
    assert type(model).__name__ == "Functional"  # the class-free graph, same layers
    assert [layer.name for layer in model.layers] == ["x", "hidden", "head"]


def test_trusted_module_names_may_be_packages(tiny_folder, tmp_path, monkeypatch):
    """The positive control: a module *inside* a trusted package is imported (and would register the class)."""
    (tmp_path / "my_trusted_pkg").mkdir()
    (tmp_path / "my_trusted_pkg" / "__init__.py").write_text("")
    (tmp_path / "my_trusted_pkg" / "models.py").write_text(EVIL_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    _fresh_modules(monkeypatch, "my_trusted_pkg")

    def point_at_module(config):
        config.update(module="my_trusted_pkg.models", class_name="Nothing", registered_name="my_trusted_pkg>Nothing")

    _edit_json(tiny_folder / constants.CONFIG_FILE, point_at_module)
    try:
        with pytest.warns(HubPublishWarning, match=r"module 'my_trusted_pkg.models' does not register class 'my_trusted_pkg>Nothing'"):
            hub_publish.from_pretrained(tiny_folder, trusted_modules=["my_trusted_pkg"])
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] == "my_trusted_pkg"]:
            del sys.modules[name]
    assert (tmp_path / "my_trusted_pkg" / "models.imported").read_text() == "ran"


def test_class_free_fallback_raises_unknown_layers_error_naming_the_missing_layer(tiny_folder):
    def untrusted_class(config):
        config.update(module="gone_models", class_name="Net", registered_name="gone_models>Net")

    def unknown_layer(graph):
        hidden = next(layer for layer in graph["config"]["layers"] if layer["config"]["name"] == "hidden")
        hidden.update(module="gone_layers", class_name="Doubler", registered_name="gone_layers>Doubler")

    _edit_json(tiny_folder / constants.CONFIG_FILE, untrusted_class)
    _edit_json(tiny_folder / constants.GRAPH_FILE, unknown_layer)
    with pytest.raises(
        UnknownLayersError,
        match=r"^the model's graph needs custom layers that are not available: gone_layers>Doubler \(module gone_layers\); ",
    ):
        hub_publish.from_pretrained(tiny_folder)


# ============================================================================ cards: the author's scalar fields survive a push


def test_card_merge_keeps_the_authors_scalar_fields_through_a_push(hub_server, alice, tmp_path):
    repo = f"alice/{unique('license')}"
    push = dict(token=TOKENS["alice"], endpoint=hub_server.endpoint, card_data={"license": "apache-2.0", "language": "en"})
    hub_publish.push_to_hub(_tiny_model(1), repo, **push)

    def hub_card() -> ModelCard:
        return ModelCard(Path(alice.hf_hub_download(repo, constants.CARD_FILE, cache_dir=tmp_path / uuid.uuid4().hex)).read_text())

    card = hub_card()
    assert card.data.license == "apache-2.0"  # the generated value, first push
    card.data.license = "mit"  # the author edits the metadata on the Hub
    card.data.language = "fr"
    alice.upload_file(path_or_fileobj=str(card).encode(), path_in_repo=constants.CARD_FILE, repo_id=repo,
                      commit_message="Author edits the card metadata")
    result = hub_publish.push_to_hub(_tiny_model(2), repo, **push)  # a new version, generating apache-2.0 again
    assert result.changed
    merged = hub_card()
    assert merged.data.license == "mit"
    assert merged.data.language == "fr"
    assert alice.model_info(repo).card_data["license"] == "mit"


def test_merge_metadata_keeps_author_scalars_and_takes_generated_lineage():
    from model_cards.merge import merge_metadata

    merged = merge_metadata(
        {"license": "mit", "library_name": "my-lib", "tags": ["mine"], "base_model": "old/base"},
        {"license": "apache-2.0", "library_name": "keras", "tags": ["keras"], "base_model": "new/base",
         "pipeline_tag": "image-classification"},
    )
    assert merged == {"license": "mit", "library_name": "my-lib", "tags": ["mine", "keras"], "base_model": "new/base",
                      "pipeline_tag": "image-classification"}


# ============================================================================ model page: sidebar values escaped


HOSTILE_YAML_CARD = """---
library_name: "<b>keras</b>"
tags:
- "<img src=x onerror=alert(1)>"
- "<script>alert(2)</script>"
datasets: ["\\"><svg onload=alert(3)>"]
---
# Hello
"""


def test_yaml_values_in_the_model_page_sidebar_are_escaped(hub_server, alice):
    repo = f"alice/{unique('sidebar')}"
    alice.create_repo(repo)
    alice.upload_file(path_or_fileobj=HOSTILE_YAML_CARD.encode(), path_in_repo=constants.CARD_FILE, repo_id=repo)
    r = httpx2.get(f"{hub_server.endpoint}/{repo}")
    assert r.status_code == 200
    page = r.text
    for raw in ("<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "<svg onload=alert(3)>", "<b>keras</b>"):
        assert raw not in page
        assert html.escape(raw, quote=True) in page or html.escape(raw, quote=False) in page, raw
    assert '<span class="badge">&lt;img src=x onerror=alert(1)&gt;</span>' in page
    assert "<img" not in page.lower() and "<script" not in page.lower() and "<svg" not in page.lower()


# ============================================================================ push: integrity and the no-op re-push


def test_push_refuses_a_tampered_folder_and_publishes_nothing(hub_server, alice, tmp_path):
    folder = hub_publish.save_pretrained(_tiny_model(3), tmp_path / "m", card=False)
    weights = folder / constants.WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-64] ^= 0xFF  # same size, one byte altered
    weights.write_bytes(bytes(data))
    repo = f"alice/{unique('tampered')}"
    with pytest.raises(IntegrityError, match=rf"^{constants.WEIGHTS_FILE} in .* does not match its sha256 in metadata\.json"):
        hub_publish.push_to_hub(folder, repo, token=TOKENS["alice"], endpoint=hub_server.endpoint)
    files = alice.list_repo_files(repo) if alice.repo_exists(repo) else []
    assert constants.WEIGHTS_FILE not in files and constants.METADATA_FILE not in files


class _FakeDatetime(_dt.datetime):
    """``datetime.datetime`` whose ``now()`` returns the next time from a list (a stepped clock)."""

    times: list[_dt.datetime] = []

    @classmethod
    def now(cls, tz=None):  # noqa: ARG003
        return cls.times.pop(0)


def test_unchanged_repush_makes_no_commit_even_across_seconds(hub_server, alice, tmp_path, monkeypatch):
    from hub_publish import packaging

    _FakeDatetime.times = [_dt.datetime(2026, 1, 1, 12, 0, 0), _dt.datetime(2026, 1, 1, 13, 30, 59)]
    monkeypatch.setattr(packaging, "datetime", SimpleNamespace(datetime=_FakeDatetime))
    model = _tiny_model(4)
    repo = f"alice/{unique('repush')}"
    first_folder = hub_publish.save_pretrained(model, tmp_path / "first")
    first = hub_publish.push_to_hub(first_folder, repo, token=TOKENS["alice"], endpoint=hub_server.endpoint)
    commits = [c.commit_id for c in alice.list_repo_commits(repo)]
    second_folder = hub_publish.save_pretrained(model, tmp_path / "second")
    saved = [json.loads((f / constants.METADATA_FILE).read_text())[constants.META_DATE_SAVED]
             for f in (first_folder, second_folder)]
    assert saved == ["2026-01-01@12:00:00", "2026-01-01@13:30:59"]  # the two saves are 90 minutes apart
    second = hub_publish.push_to_hub(second_folder, repo, token=TOKENS["alice"], endpoint=hub_server.endpoint)
    assert not second.changed and second.commit_id == first.commit_id
    assert [c.commit_id for c in alice.list_repo_commits(repo)] == commits
    # the pushed folder is left as saved (a push never writes to the user's folder)
    assert json.loads((second_folder / constants.METADATA_FILE).read_text())[constants.META_DATE_SAVED] == saved[1]
    # positive control: other weights at another time do make a commit
    _FakeDatetime.times = [_dt.datetime(2026, 1, 2, 9, 0, 0)]
    third = hub_publish.push_to_hub(_tiny_model(5), repo, token=TOKENS["alice"], endpoint=hub_server.endpoint)
    assert third.changed and len(alice.list_repo_commits(repo)) == len(commits) + 1
    np.testing.assert_array_equal(
        hub_publish.from_pretrained(repo, endpoint=hub_server.endpoint, token=TOKENS["alice"],
                                    cache_dir=tmp_path / "cache").get_layer("head").get_weights()[0],
        _tiny_model(5).get_layer("head").get_weights()[0],
    )
