"""Users, tokens, organisations and permission checks of the Hub-compatible server.

Two sources, merged (a token spec wins over the config file for the same user):

* token specs (CLI ``--token`` / ``HUB_PUBLISH_SERVER_TOKENS``, comma-separated):
  ``user=token`` or ``user=token:org1:org2``;
* a config file (JSON, or YAML when it ends in .yaml/.yml)::

      {"users": {"alice": {"token": "hf_alice", "orgs": ["acme"]},
                 "bob": {"tokens": ["hf_bob", "hf_bob_ci"]}},
       "anonymous_read": true}

Rules (the Hub's): anyone reads public repos (unless ``anonymous_read`` is false, then any valid
token does); private repos are visible only to their namespace's user or org members, and are a
404 to everyone else; writes need the namespace's user or an org member; a token that matches no
user is a 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hub_publish.server.errors import BadRequest, Forbidden, RepoNotFound, Unauthorized
from hub_publish.server.validation import validate_name

INVALID_TOKEN_MESSAGE = "Invalid credentials in Authorization header"


@dataclass(frozen=True)
class User:
    """A user known to the server."""

    name: str
    orgs: tuple[str, ...] = ()

    def can_write(self, namespace: str) -> bool:
        return namespace == self.name or namespace in self.orgs


@dataclass
class AuthConfig:
    """Token -> user table plus the anonymous-read switch."""

    tokens: dict[str, User] = field(default_factory=dict)
    anonymous_read: bool = True

    @property
    def users(self) -> dict[str, User]:
        return {u.name: u for u in self.tokens.values()}


def parse_token_specs(specs: Iterable[str]) -> dict[str, User]:
    """Parse ``user=token[:org...]`` specs (each may hold several, comma-separated).

    Args:
        specs: Token specs, e.g. ``["alice=hf_a", "bob=hf_b:acme,carol=hf_c"]``.

    Returns:
        token -> user.

    Raises:
        BadRequest: On a malformed spec.
    """
    out: dict[str, User] = {}
    for spec in specs:
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            user, sep, rest = item.partition("=")
            token, *orgs = rest.split(":")
            if not sep or not user or not token:
                raise BadRequest(f"Invalid token spec {item!r}: expected 'user=token' or 'user=token:org1:org2'.")
            validate_name(user, what="user name")
            for org in orgs:
                validate_name(org, what="organisation name")
            out[token] = User(name=user, orgs=tuple(orgs))
    return out


def load_config(path: str | os.PathLike[str]) -> AuthConfig:
    """Read a users config file (JSON, or YAML for .yaml/.yml).

    Args:
        path: The config file.

    Returns:
        The parsed config.

    Raises:
        BadRequest: When the file is malformed.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Cannot read server config {path}: {getattr(exc, 'strerror', None) or exc}.") from None
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise BadRequest(f"Invalid server config {path}: not valid YAML ({' '.join(str(exc).split())}).") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"Invalid server config {path}: not valid JSON ({exc}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("users", {}), dict):
        raise BadRequest(f"Invalid server config {path}: expected a mapping with a 'users' mapping.")
    tokens: dict[str, User] = {}
    for name, spec in (data.get("users") or {}).items():
        spec = spec or {}
        if not isinstance(name, str) or not isinstance(spec, dict):
            raise BadRequest(f"Invalid server config {path}: user {name!r} must map to {{token, orgs}}.")
        validate_name(name, what="user name")
        orgs = spec.get("orgs") or ()
        if not isinstance(orgs, (list, tuple)) or not all(isinstance(o, str) for o in orgs):
            raise BadRequest(f"Invalid server config {path}: 'orgs' of {name!r} must be a list of names.")
        orgs = tuple(orgs)
        for org in orgs:
            validate_name(org, what="organisation name")
        listed = spec.get("tokens") or ()
        if not isinstance(listed, (list, tuple)):
            raise BadRequest(f"Invalid server config {path}: 'tokens' of {name!r} must be a list.")
        user_tokens = list(listed) + ([spec["token"]] if spec.get("token") else [])
        if not user_tokens:
            raise BadRequest(f"Invalid server config {path}: user {name!r} has no 'token'.")
        for token in user_tokens:
            if not isinstance(token, str) or not token.strip() or token != token.strip():
                raise BadRequest(f"Invalid server config {path}: a token of {name!r} is not a non-empty string.")
            tokens[token] = User(name=name, orgs=orgs)
    return AuthConfig(tokens=tokens, anonymous_read=bool(data.get("anonymous_read", True)))


def build_auth(config: str | os.PathLike[str] | None, token_specs: Iterable[str]) -> AuthConfig:
    """Merge a config file and token specs into one table (specs win)."""
    auth = load_config(config) if config else AuthConfig()
    auth.tokens.update(parse_token_specs(token_specs))
    return auth


class Authorizer:
    """Answers who a request is and what it may do."""

    def __init__(self, config: AuthConfig, secret: bytes) -> None:
        self.config = config
        self._secret = secret

    def user_for(self, authorization: str | None) -> User | None:
        """The user of an ``Authorization: Bearer <token>`` header; None when anonymous.

        Raises:
            Unauthorized: When a token is sent but matches no user.
        """
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(INVALID_TOKEN_MESSAGE)
        user = self.config.tokens.get(token.strip())
        if user is None:
            raise Unauthorized(INVALID_TOKEN_MESSAGE)
        return user

    def check_read(self, user: User | None, namespace: str, private: bool, repo_id: str) -> None:
        """Allow reading a repo, or raise like the Hub (404 for hidden private repos)."""
        if private and (user is None or not user.can_write(namespace)):
            raise RepoNotFound(f"Repository {repo_id} not found.")
        if user is None and not self.config.anonymous_read:
            raise Unauthorized("This server requires a token to read.")

    def check_write(self, user: User | None, namespace: str, private: bool, repo_id: str) -> User:
        """Allow writing to a repo (or creating one in ``namespace``); returns the user."""
        if user is None:
            raise Unauthorized(f"Authentication required to write to {repo_id}: send a token.")
        if not user.can_write(namespace):
            if private:
                raise RepoNotFound(f"Repository {repo_id} not found.")
            raise Forbidden(f"You don't have the rights to write to {repo_id} (namespace {namespace!r}).")
        return user

    # Signed, self-contained grants: LFS upload URLs (the client PUTs to them without any
    # Authorization header) and Xet CAS tokens. The secret lives in data_dir, so they survive
    # a restart.
    def sign(self, payload: dict[str, object], ttl_s: int) -> str:
        body = dict(payload, exp=int(time.time()) + ttl_s)
        raw = base64.urlsafe_b64encode(json.dumps(body, sort_keys=True).encode()).decode().rstrip("=")
        sig = hmac.new(self._secret, raw.encode(), hashlib.sha256).hexdigest()
        return f"{raw}.{sig}"

    def verify(self, signed: str) -> dict[str, object]:
        """Check a grant made by :meth:`sign`; returns its payload.

        Raises:
            Unauthorized: When it is forged, malformed or expired.
        """
        raw, _, sig = signed.partition(".")
        good = hmac.new(self._secret, raw.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()
        # Compared as bytes: compare_digest refuses non-ASCII str (a TypeError, i.e. a 500, before).
        if not sig or not hmac.compare_digest(sig.encode("utf-8", "surrogateescape"), good.encode()):
            raise Unauthorized("Invalid or forged signature.")
        try:
            body = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            expires = int(body.get("exp", 0))
        except (ValueError, TypeError, AttributeError):  # only our own key signs, so never expected
            raise Unauthorized("Invalid or forged signature.") from None
        if expires < time.time():
            raise Unauthorized("This signed URL or token has expired; ask for a new one.")
        return body


def load_secret(data_dir: Path) -> bytes:
    """The server's signing key, created once in ``data_dir/secret``."""
    path = data_dir / "secret"
    if not path.is_file():
        tmp = data_dir / f".secret.{os.getpid()}.tmp"
        tmp.write_bytes(os.urandom(32).hex().encode())
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # first writer wins, a concurrent one reads its key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes().strip()
