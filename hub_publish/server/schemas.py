"""Typed request bodies of the server (pydantic): malformed input is a 400 with a message, never a 500.

Field names are the ones huggingface_hub 2.4.0 sends (hf_api.py, lfs.py, _commit_api.py).
Unknown extra fields are accepted and ignored, as the Hub does, so newer clients keep working.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub_publish import constants

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
NonNegative = Annotated[int, Field(ge=0)]


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")


class CreateRepo(Body):
    name: str = ""
    organization: str | None = None
    private: bool | None = None
    visibility: Literal["public", "private"] | None = None
    type: str | None = None


class DeleteRepo(Body):
    name: str = ""
    organization: str | None = None
    type: str | None = None


class MoveRepo(Body):
    fromRepo: str = ""
    toRepo: str = ""
    type: str | None = None


class Settings(Body):
    private: bool | None = None
    visibility: Literal["public", "private"] | None = None
    gated: bool | str | None = None


class ValidateYaml(Body):
    content: str = ""
    repoType: str | None = None


class PreuploadFile(Body):
    path: str
    size: NonNegative
    sample: str | None = None


class Preupload(Body):
    files: list[PreuploadFile]
    gitIgnore: str | None = None


class CreateBranch(Body):
    startingPoint: str | None = None


class CreateTag(Body):
    tag: str
    message: str | None = None


class LfsObject(Body):
    oid: Sha256
    size: NonNegative


class LfsBatch(Body):
    operation: Literal["upload", "download"]
    objects: list[LfsObject] = []
    transfers: list[str] | None = None
    hash_algo: Literal["sha256"] | None = None


class LfsVerify(Body):
    oid: Sha256
    size: NonNegative


class PathsInfo(Body):
    paths: list[str] | str = []
    expand: bool = False


# ---------------------------------------------------------------- commit payload (NDJSON lines)
class CommitHeader(Body):
    summary: str = ""
    description: str = ""
    parentCommit: Annotated[str, StringConstraints(pattern=f"^{constants.COMMIT_SHA_PATTERN}$")] | None = None


class FileOp(Body):
    path: str
    content: str = ""
    encoding: Literal["base64"] = "base64"


class LfsFileOp(Body):
    path: str
    oid: Sha256
    algo: Literal["sha256"] = "sha256"
    size: NonNegative | None = None


class DeleteOp(Body):
    path: str


class _Line(BaseModel):
    model_config = ConfigDict(extra="ignore")


class HeaderLine(_Line):
    key: Literal["header"]
    value: CommitHeader


class FileLine(_Line):
    key: Literal["file"]
    value: FileOp


class LfsFileLine(_Line):
    key: Literal["lfsFile"]
    value: LfsFileOp


class DeletedFileLine(_Line):
    key: Literal["deletedFile"]
    value: DeleteOp


class DeletedFolderLine(_Line):
    key: Literal["deletedFolder"]
    value: DeleteOp


CommitLine = Annotated[
    HeaderLine | FileLine | LfsFileLine | DeletedFileLine | DeletedFolderLine, Field(discriminator="key")
]
COMMIT_KEYS = ("header", "file", "lfsFile", "deletedFile", "deletedFolder")


def describe(errors: list[Any]) -> str:
    """One line out of pydantic's errors: ``field: problem; field: problem``."""
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body",))
        parts.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
    return "; ".join(parts)
