"""Who may read and write what: anonymous / other user / owner x public / private x read / write."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from server_fixtures import TOKENS, alice, hub_server, unique  # noqa: F401

from hub_publish.server import HubServer

ACTORS = {"anonymous": None, "other": TOKENS["bob"], "owner": TOKENS["alice"]}

# (actor, private, operation) -> expected HTTP status (200 = allowed)
EXPECTED = {
    ("anonymous", False, "read"): 200,
    ("anonymous", False, "write"): 401,
    ("anonymous", True, "read"): 404,
    ("anonymous", True, "write"): 404,
    ("other", False, "read"): 200,
    ("other", False, "write"): 403,
    ("other", True, "read"): 404,
    ("other", True, "write"): 404,
    ("owner", False, "read"): 200,
    ("owner", False, "write"): 200,
    ("owner", True, "read"): 200,
    ("owner", True, "write"): 200,
}


@pytest.fixture(scope="module")
def repos(alice: HfApi) -> dict[bool, str]:
    out = {}
    for private in (False, True):
        repo = f"alice/auth-{'private' if private else 'public'}-{uuid.uuid4().hex[:6]}"
        alice.create_repo(repo, private=private)
        alice.upload_file(path_or_fileobj=b"secret", path_in_repo="f.txt", repo_id=repo)
        out[private] = repo
    return out


def _status(fn) -> int:
    try:
        fn()
    except HfHubHTTPError as err:
        return err.response.status_code
    return 200


@pytest.mark.parametrize("actor,private,operation", sorted(EXPECTED))
def test_auth_matrix(
    actor: str, private: bool, operation: str, repos: dict[bool, str], hub_server: HubServer, alice: HfApi, tmp_path: Path
) -> None:
    repo = repos[private]
    token = ACTORS[actor]
    api = HfApi(endpoint=hub_server.endpoint, token=token if token else False)
    before = alice.list_repo_commits(repo)[0].commit_id
    if operation == "read":
        statuses = {
            _status(lambda: api.model_info(repo)),
            _status(lambda: api.list_repo_files(repo)),
            _status(
                lambda: hf_hub_download(
                    repo, "f.txt", endpoint=hub_server.endpoint, token=token or False, cache_dir=tmp_path
                )
            ),
        }
    else:
        statuses = {
            _status(lambda: api.upload_file(path_or_fileobj=b"new", path_in_repo="new.txt", repo_id=repo)),
            _status(lambda: api.create_branch(repo, branch=f"b-{uuid.uuid4().hex[:6]}")),
        }
    assert statuses == {EXPECTED[(actor, private, operation)]}
    if EXPECTED[(actor, private, operation)] != 200:
        assert alice.list_repo_commits(repo)[0].commit_id == before  # nothing stored
        assert [b.name for b in alice.list_repo_refs(repo).branches] == ["main"]


def test_private_repo_is_repository_not_found(repos: dict[bool, str], hub_server: HubServer) -> None:
    bob = HfApi(endpoint=hub_server.endpoint, token=TOKENS["bob"])
    with pytest.raises(RepositoryNotFoundError, match=rf"Repository {repos[True]} not found\."):
        bob.model_info(repos[True])
    assert repos[True] not in [m.id for m in bob.list_models(author="alice")]
    assert repos[True] in [m.id for m in HfApi(endpoint=hub_server.endpoint, token=TOKENS["alice"]).list_models(author="alice")]


def test_bad_token_is_401(repos: dict[bool, str], hub_server: HubServer) -> None:
    api = HfApi(endpoint=hub_server.endpoint, token="hf_not_a_token")
    # whoami() words the 401 itself; the other calls show the server's message.
    for call, message in ((lambda: api.whoami(), "Invalid user token"),
                          (lambda: api.model_info(repos[False]), "Invalid credentials in Authorization header")):
        with pytest.raises(HfHubHTTPError, match=message) as err:
            call()
        assert err.value.response.status_code == 401
        assert "Invalid credentials" in err.value.response.headers["X-Error-Message"]


def test_organisation_namespace(hub_server: HubServer) -> None:
    alice = HfApi(endpoint=hub_server.endpoint, token=TOKENS["alice"])
    carol = HfApi(endpoint=hub_server.endpoint, token=TOKENS["carol"])
    bob = HfApi(endpoint=hub_server.endpoint, token=TOKENS["bob"])
    repo = f"acme/{unique()}"
    alice.create_repo(repo)
    carol.upload_file(path_or_fileobj=b"org", path_in_repo="o.txt", repo_id=repo)  # org member writes
    with pytest.raises(HfHubHTTPError, match=r"You don't have the rights to write to acme/\S+ \(namespace 'acme'\)") as err:
        bob.create_repo(f"acme/{unique()}")
    assert err.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError, match=rf"You don't have the rights to write to {repo} \(namespace 'acme'\)") as err:
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    assert err.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError, match=r"You don't have the rights to write to alice/\S+ \(namespace 'alice'\)") as err:
        bob.create_repo(f"alice/{unique()}")  # someone else's user namespace
    assert err.value.response.status_code == 403
    assert alice.list_repo_files(repo) == [".gitattributes", "o.txt"]


def test_config_file_and_anonymous_read_off(tmp_path: Path) -> None:
    config = tmp_path / "users.yaml"
    config.write_text("users:\n  dave:\n    token: hf_dave\n    orgs: [lab]\nanonymous_read: false\n")
    with HubServer(tmp_path / "data", config=config) as server:
        dave = HfApi(endpoint=server.endpoint, token="hf_dave")
        dave.create_repo("lab/shared")
        assert dave.whoami()["orgs"][0]["name"] == "lab"
        anonymous = HfApi(endpoint=server.endpoint, token=False)
        with pytest.raises(HfHubHTTPError, match=r"This server requires a token to read\.") as err:
            anonymous.model_info("lab/shared")
        assert err.value.response.status_code == 401
