"""hub_publish.server.auth in-process: token specs, config files, who may read/write, signed grants.

Fast tests (no server) that pin each rule of the module, so that mutation testing
(scripts/mutation.sh auth) has a quick test for every line; the same rules are checked over HTTP
in test_auth_matrix.py and test_rules.py.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat

import pytest

from hub_publish.server import auth as auth_module
from hub_publish.server.auth import (
    INVALID_TOKEN_MESSAGE,
    AuthConfig,
    Authorizer,
    User,
    build_auth,
    load_config,
    load_secret,
    parse_token_specs,
)
from hub_publish.server.errors import BadRequest, Forbidden, RepoNotFound, Unauthorized

ALICE = User("alice", ("acme",))
BOB = User("bob")


def test_user_may_write_its_own_and_its_orgs_namespaces_only():
    assert ALICE.can_write("alice") and ALICE.can_write("acme")
    assert not ALICE.can_write("bob") and not ALICE.can_write("acm") and not ALICE.can_write("acme-evil")
    assert not BOB.can_write("alice") and BOB.can_write("bob")


def test_users_table_is_keyed_by_name():
    config = AuthConfig(tokens={"t1": ALICE, "t2": ALICE, "t3": BOB})
    assert config.users == {"alice": ALICE, "bob": BOB}
    assert AuthConfig().anonymous_read is True and AuthConfig().tokens == {}


def test_parse_token_specs():
    assert parse_token_specs(["alice=hf_a:acme:lab, bob=hf_b", "carol=hf_c", " , "]) == {
        "hf_a": User("alice", ("acme", "lab")),
        "hf_b": User("bob", ()),
        "hf_c": User("carol", ()),
    }
    assert parse_token_specs([]) == {}


@pytest.mark.parametrize("spec", ["alice", "=hf_a", "alice=", "alice=:acme"])
def test_malformed_token_spec(spec):
    with pytest.raises(BadRequest, match=rf"^Invalid token spec '{spec}': expected 'user=token' or 'user=token:org1:org2'\.$"):
        parse_token_specs([spec])


@pytest.mark.parametrize("spec, what", [("al ice=hf_a", "user name"), ("alice=hf_a:ac/me", "organisation name")])
def test_token_spec_names_are_validated(spec, what):
    with pytest.raises(BadRequest, match=rf"^Invalid {what} "):
        parse_token_specs([spec])


def test_load_config_json_and_yaml(tmp_path):
    json_path = tmp_path / "users.json"
    json_path.write_text(json.dumps({"users": {"alice": {"token": "hf_a", "orgs": ["acme"]},
                                               "bob": {"tokens": ["hf_b", "hf_b2"], "token": "hf_b3"}}}))
    config = load_config(json_path)
    assert config.tokens == {"hf_a": ALICE, "hf_b": BOB, "hf_b2": BOB, "hf_b3": BOB}
    assert config.anonymous_read is True
    for suffix in (".yaml", ".yml"):
        yaml_path = tmp_path / f"users{suffix}"
        yaml_path.write_text("users:\n  alice:\n    token: hf_a\n    orgs: [acme]\nanonymous_read: false\n")
        config = load_config(yaml_path)
        assert config.tokens == {"hf_a": ALICE} and config.anonymous_read is False
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty).tokens == {} and load_config(empty).anonymous_read is True


@pytest.mark.parametrize(
    "content, message",
    [
        ("[1, 2]", r"expected a mapping with a 'users' mapping\."),
        ('{"users": [1]}', r"expected a mapping with a 'users' mapping\."),
        ('{"users": {"alice": {}}}', r"user 'alice' has no 'token'\."),
        ('{"users": {"alice": null}}', r"user 'alice' has no 'token'\."),
    ],
)
def test_malformed_config(tmp_path, content, message):
    path = tmp_path / "users.json"
    path.write_text(content)
    with pytest.raises(BadRequest, match=rf"^Invalid server config {path}: {message}$"):
        load_config(path)


def test_config_names_are_validated(tmp_path):
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": {"alice": {"token": "t", "orgs": ["no/slash"]}}}))
    with pytest.raises(BadRequest, match=r"^Invalid organisation name "):
        load_config(path)
    path.write_text(json.dumps({"users": {"a b": {"token": "t"}}}))
    with pytest.raises(BadRequest, match=r"^Invalid user name "):
        load_config(path)


def test_build_auth_merges_config_and_specs_specs_win(tmp_path):
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": {"alice": {"token": "hf_a"}, "bob": {"token": "hf_b"}}, "anonymous_read": False}))
    merged = build_auth(path, ["alice=hf_a:acme", "carol=hf_c"])
    assert merged.tokens == {"hf_a": ALICE, "hf_b": BOB, "hf_c": User("carol")}
    assert merged.anonymous_read is False
    assert build_auth(None, ["bob=hf_b"]).tokens == {"hf_b": BOB}
    assert build_auth(None, []).anonymous_read is True


@pytest.fixture()
def authorizer() -> Authorizer:
    return Authorizer(AuthConfig(tokens={"hf_a": ALICE, "hf_b": BOB}), b"secret")


def test_user_for_reads_bearer_tokens(authorizer):
    assert authorizer.user_for(None) is None and authorizer.user_for("") is None
    assert authorizer.user_for("Bearer hf_a") == ALICE
    assert authorizer.user_for("bearer  hf_b ") == BOB
    for header in ("Bearer hf_unknown", "Basic hf_a", "Bearer ", "Bearer", "hf_a", "Token hf_a"):
        with pytest.raises(Unauthorized, match=rf"^{INVALID_TOKEN_MESSAGE}$"):
            authorizer.user_for(header)


def test_check_read(authorizer):
    for user in (None, ALICE, BOB):
        authorizer.check_read(user, "alice", False, "alice/m")  # public: everyone
    authorizer.check_read(ALICE, "alice", True, "alice/m")
    authorizer.check_read(ALICE, "acme", True, "acme/m")
    for user in (None, BOB):
        with pytest.raises(RepoNotFound, match=r"^Repository alice/m not found\.$"):
            authorizer.check_read(user, "alice", True, "alice/m")


def test_check_read_with_anonymous_read_off():
    closed = Authorizer(AuthConfig(tokens={"hf_a": ALICE}, anonymous_read=False), b"s")
    with pytest.raises(Unauthorized, match=r"^This server requires a token to read\.$"):
        closed.check_read(None, "alice", False, "alice/m")
    closed.check_read(BOB, "alice", False, "alice/m")  # any valid user reads public repos
    with pytest.raises(RepoNotFound, match=r"^Repository alice/m not found\.$"):
        closed.check_read(None, "alice", True, "alice/m")  # private stays a 404, not a 401


def test_check_write(authorizer):
    assert authorizer.check_write(ALICE, "alice", False, "alice/m") is ALICE
    assert authorizer.check_write(ALICE, "acme", True, "acme/m") is ALICE
    with pytest.raises(Unauthorized, match=r"^Authentication required to write to alice/m: send a token\.$"):
        authorizer.check_write(None, "alice", False, "alice/m")
    with pytest.raises(Unauthorized, match=r"^Authentication required to write to alice/m: send a token\.$"):
        authorizer.check_write(None, "alice", True, "alice/m")
    with pytest.raises(Forbidden, match=r"^You don't have the rights to write to alice/m \(namespace 'alice'\)\.$"):
        authorizer.check_write(BOB, "alice", False, "alice/m")
    with pytest.raises(RepoNotFound, match=r"^Repository alice/m not found\.$"):
        authorizer.check_write(BOB, "alice", True, "alice/m")


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_sign_and_verify_on_a_stepped_clock(monkeypatch):
    clock = _Clock(5000.7)
    monkeypatch.setattr(auth_module, "time", clock)
    signer = Authorizer(AuthConfig(), b"k1")
    grant = signer.sign({"r": "alice/m"}, 60)
    raw, dot, sig = grant.partition(".")
    assert dot == "." and "=" not in raw and len(sig) == 64
    assert json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))) == {"exp": 5060, "r": "alice/m"}
    assert signer.verify(grant) == {"exp": 5060, "r": "alice/m"}
    clock.now = 5060.0
    assert signer.verify(grant)["r"] == "alice/m"
    clock.now = 5060.5
    with pytest.raises(Unauthorized, match=r"^This signed URL or token has expired; ask for a new one\.$"):
        signer.verify(grant)
    # deterministic: same payload, same clock, same grant; another key, another signature
    clock.now = 5000.7
    assert signer.sign({"r": "alice/m"}, 60) == grant
    assert Authorizer(AuthConfig(), b"k2").sign({"r": "alice/m"}, 60).split(".")[1] != sig


def test_verify_refuses_forged_grants(monkeypatch):
    monkeypatch.setattr(auth_module, "time", _Clock(0.0))
    signer = Authorizer(AuthConfig(), b"k1")
    grant = signer.sign({"r": "alice/m"}, 60)
    raw, _, sig = grant.partition(".")
    forged_raw = base64.urlsafe_b64encode(json.dumps({"exp": 10**12, "r": "alice/m"}).encode()).decode().rstrip("=")
    for bad in (f"{forged_raw}.{sig}", raw, f"{raw}.", f"{raw}.{sig[:-1]}0" if sig[-1] != "0" else f"{raw}.{sig[:-1]}1",
                "", ".", f".{sig}"):
        with pytest.raises(Unauthorized, match=r"^Invalid or forged signature\.$"):
            signer.verify(bad)
    with pytest.raises(Unauthorized, match=r"^Invalid or forged signature\.$"):
        Authorizer(AuthConfig(), b"k2").verify(grant)


def test_grant_without_expiry_is_expired(monkeypatch):
    import hashlib
    import hmac

    monkeypatch.setattr(auth_module, "time", _Clock(1.0))
    raw = base64.urlsafe_b64encode(json.dumps({"r": "alice/m"}).encode()).decode().rstrip("=")
    sig = hmac.new(b"k", raw.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(Unauthorized, match=r"has expired"):
        Authorizer(AuthConfig(), b"k").verify(f"{raw}.{sig}")


def test_load_secret_is_created_once_private_and_stable(tmp_path):
    first = load_secret(tmp_path)
    assert len(first) == 64 and bytes.fromhex(first.decode())  # 32 random bytes, hex
    assert stat.S_IMODE(os.stat(tmp_path / "secret").st_mode) == 0o600
    assert load_secret(tmp_path) == first
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]  # no temporary file left
    other = tmp_path / "other"
    other.mkdir()
    assert load_secret(other) != first
    (other / "secret").write_bytes(b"given-key\n")
    assert load_secret(other) == b"given-key"


def test_token_specs_keep_going_after_an_empty_item_and_tokens_may_hold_equals_signs():
    assert parse_token_specs(["alice=hf_a,,bob=hf_b==:acme"]) == {"hf_a": User("alice"), "hf_b==": User("bob", ("acme",))}


def test_grants_round_trip_whatever_their_length(monkeypatch):
    """Every base64 length and final character (padding is stripped from grants and restored)."""
    monkeypatch.setattr(auth_module, "time", _Clock(100.0))
    signer = Authorizer(AuthConfig(), b"k")
    last_chars = set()
    for n in range(64):
        payload = {"r": "a" * n, "o": "X" * (n % 7)}
        grant = signer.sign(payload, 10)
        last_chars.add(grant.partition(".")[0][-1])
        assert signer.verify(grant) == {**payload, "exp": 110}
    # The JSON ends in '"}', so the encoding ends in one of three characters (none of them is
    # padding): see the accepted mutants in docs/testing.md.
    assert last_chars == {"0", "9", "Q"}


# ----------------------------------------------------------------------------- config errors and odd grants (issue 10)


@pytest.mark.parametrize(
    "text, message",
    [
        ("users:\n  bob: just-a-token\n", r"user 'bob' must map to \{token, orgs\}\."),
        ("users:\n  1: {token: t}\n", r"user 1 must map to \{token, orgs\}\."),
        ("users:\n  bob: {token: t, orgs: acme}\n", r"'orgs' of 'bob' must be a list of names\."),
        ("users:\n  bob: {token: t, orgs: [acme, 3]}\n", r"'orgs' of 'bob' must be a list of names\."),
        ("users:\n  bob: {tokens: t}\n", r"'tokens' of 'bob' must be a list\."),
        ("users:\n  bob: {tokens: [3]}\n", r"a token of 'bob' is not a non-empty string\."),
        ("users:\n  bob: {tokens: [' t']}\n", r"a token of 'bob' is not a non-empty string\."),
        ("users:\n  bob: {tokens: ['t ']}\n", r"a token of 'bob' is not a non-empty string\."),
        ("users:\n  bob: {tokens: ['  ']}\n", r"a token of 'bob' is not a non-empty string\."),
        ("users: [\n", r"not valid YAML \(while parsing a flow node expected the node content, but found '<stream end>' in \"<unicode string>\", line 2, column 1: \^\)\.$"),
    ],
)
def test_load_config_refuses_malformed_entries_with_one_line(tmp_path, text, message):
    path = tmp_path / "users.yaml"
    path.write_text(text)
    with pytest.raises(BadRequest, match=rf"^Invalid server config {re.escape(str(path))}: {message}") as info:
        auth_module.load_config(path)
    assert "\n" not in info.value.message


def test_load_config_unreadable_and_good(tmp_path):
    missing = tmp_path / "none.json"
    with pytest.raises(BadRequest, match=rf"^Cannot read server config {re.escape(str(missing))}: No such file or directory\.$"):
        auth_module.load_config(missing)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"users": {"bob": {"token": "\xe9"}}}')
    with pytest.raises(BadRequest, match=rf"^Cannot read server config {re.escape(str(latin))}: 'utf-8' codec can't decode"):
        auth_module.load_config(latin)
    good = tmp_path / "users.yaml"
    good.write_text("users:\n  bob: {tokens: ['tö-1'], token: t2, orgs: [acme]}\n", encoding="utf-8")
    config = auth_module.load_config(good)
    assert set(config.tokens) == {"tö-1", "t2"} and config.tokens["t2"].orgs == ("acme",)


def test_verify_refuses_non_ascii_and_unreadable_grants_as_forged():
    signer = Authorizer(AuthConfig(), b"k")
    good = signer.sign({"repo": "a/b"}, 3600)
    raw, _, sig = good.partition(".")
    for bad in (f"{raw}.{sig[:-1]}é", f"é{raw}.{sig}", f"{raw}\udcff.{sig}"):
        with pytest.raises(Unauthorized, match=r"^Invalid or forged signature\.$"):
            signer.verify(bad)
    import hashlib
    import hmac

    for body in (b"not json", b"[1]", b'{"exp": "soon"}'):  # correctly signed, but not a grant
        raw = base64.urlsafe_b64encode(body).decode().rstrip("=")
        signed = f"{raw}.{hmac.new(b'k', raw.encode(), hashlib.sha256).hexdigest()}"
        with pytest.raises(Unauthorized, match=r"^Invalid or forged signature\.$"):
            signer.verify(signed)
    assert signer.verify(good)["repo"] == "a/b"
