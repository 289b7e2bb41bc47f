"""Author edits survive: merge a newly generated card into the one already on the Hub.

Detection rule. Every generated card carries, in its YAML, the sha256 of the Markdown body and of
the YAML metadata that hub-publish generated (``hub_publish: {card_body_sha256,
card_metadata_sha256}``). A card whose body no longer hashes to its recorded body hash was edited
by someone (on the Hub or locally); likewise for the metadata. A card without the hashes was not
written by hub-publish and counts as edited.

Merge rule (`merge_cards`), unless ``overwrite``:

* nothing edited -> the new generated card replaces the old one;
* body edited -> the author's text is kept and the generated blocks in it are regenerated
  (`model_cards.blocks.merge_bodies`): every number of the body comes from the new model, every
  author edit outside the blocks stays; an edited block is kept and reported as a conflict (a
  `CardConflictWarning`; the CLI prints it as one line). A card without blocks (hand-written, or
  from an older hub-publish) keeps its body as is, with a warning that its text is not updated;
* metadata edited -> the author's YAML is kept and the generated metadata is merged into it:
  evaluation results are updated in place (same task, dataset, split and metric: new value) or
  appended, ``base_model`` / ``base_model_relation`` take the generated value, list fields
  (tags, datasets, metrics, ...) are united, and any other field keeps the author's value when
  the author set one.

The merged card records the hashes of the *generated* card, so the next push detects the author's
edits again. huggingface_hub's `metadata_update` implements the same eval-result rule, but only as
its own commit on the Hub; here the merge must land in the push's single commit, so the rule is
applied locally with huggingface_hub's `ModelCardData` / `EvalResult`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_publish import constants
from hub_publish.errors import HubPublishWarning, warn
from hub_publish.remote_file import read_remote_text
from model_cards import blocks
from model_cards.builder import card_from_text, citation_name
from model_cards.stamps import body_sha256, metadata_sha256, stamp  # noqa: F401  (public here too)

if TYPE_CHECKING:  # pragma: no cover
    from huggingface_hub import HfApi, ModelCard

# Fields whose generated value describes the model's lineage: the push is the authority.
GENERATED_WINS = ("base_model", "base_model_relation")
_PLACEHOLDER_REPO = re.compile(re.escape(blocks.PLACEHOLDER_NAMESPACE) + r"/[A-Za-z0-9][A-Za-z0-9._-]*")

# Outcomes of `merge_cards` / `card_for_push`.
NEW = "new"  # nothing on the Hub yet: the generated card is pushed
REPLACED = "replaced"  # the Hub's card was hub-publish's own, unedited: replaced by the new one
MERGED = "merged"  # the Hub's card was edited: kept, generated metadata merged in
OVERWRITTEN = "overwritten"  # overwrite asked: the generated card replaces the edited one
NO_CARD = "no-card"  # the folder has no README.md: nothing to do


class CardConflictWarning(HubPublishWarning):
    """An author edit inside a generated block was kept: that block was not regenerated."""


NO_BLOCKS = "(whole card: no generated blocks)"  # the conflict of a card that has no generated block at all


def conflict_message(names: list[str], where: str = "the card") -> str:
    """The one line saying which generated blocks kept an author's edit, and what to do."""
    if NO_BLOCKS in names:
        return (f"{where}: README.md has no hub-publish generated blocks (hand-written or older), so its text was kept "
                "as is and its numbers were not updated; for a generated card, move README.md away and run "
                "`hub-publish card FOLDER` again, or push with --overwrite-card")
    listed = ", ".join(repr(n) for n in names)
    return (f"{where}: your edits inside generated block(s) {listed} were kept, so they may not match this model; "
            "delete the block's two 'hub-publish:begin/end' marker lines to own the text, or push with --overwrite-card")


def edits(card: "ModelCard") -> tuple[bool, bool]:
    """Whether ``card``'s body and metadata differ from what hub-publish generated.

    Args:
        card: A card, e.g. the README.md on the Hub.

    Returns:
        ``(body_edited, metadata_edited)``; both true for a card hub-publish did not write.
    """
    recorded = card.data.get(constants.CARD_META_ROOT)
    if not isinstance(recorded, Mapping):
        return True, True
    body = recorded.get(constants.CARD_BODY_SHA256) != body_sha256(card.text)
    meta = recorded.get(constants.CARD_METADATA_SHA256) != metadata_sha256(card.data.to_dict())
    return body, meta


def merge_cards(existing: "ModelCard", generated: "ModelCard", *, overwrite: bool = False) -> tuple["ModelCard", str]:
    """The card to publish, given the one already published and the newly generated one.

    Args:
        existing: The published card (e.g. the Hub's README.md).
        generated: The card hub-publish just generated (stamped, see `stamp`).
        overwrite: Publish ``generated`` even if ``existing`` was edited.

    Returns:
        The card to publish and what happened: `REPLACED`, `MERGED` or `OVERWRITTEN`.

    Warns:
        CardConflictWarning: An edited generated block was kept (named in the message), or the
            edited card has no generated blocks, so its text could not be brought up to date.
    """
    from huggingface_hub import ModelCard, ModelCardData

    body_edited, meta_edited = edits(existing)
    if overwrite:
        return generated, OVERWRITTEN
    if not (body_edited or meta_edited):
        return generated, REPLACED
    merged = ModelCard(existing.content, ignore_metadata_errors=True)
    if not body_edited:
        merged.text = generated.text
    elif blocks.parse(existing.text):
        merged.text, kept = blocks.merge_bodies(existing.text, generated.text)
        if kept:
            warn(conflict_message(kept), CardConflictWarning)
    else:
        warn(
            "the card on the Hub has no hub-publish generated blocks (hand-written or older), so its text was kept "
            "as is and its numbers were not updated; push with --overwrite-card to replace it",
            CardConflictWarning,
        )
    new_data = generated.data.to_dict()
    if meta_edited:
        new_data = merge_metadata(existing.data.to_dict(), new_data)
    merged.data = ModelCardData(**new_data, ignore_metadata_errors=True)
    return merged, MERGED


def merge_metadata(author: Mapping[str, Any], generated: Mapping[str, Any]) -> dict[str, Any]:
    """Merge generated card metadata into an author's (see the module docstring for the rule).

    Args:
        author: The author's YAML metadata (``model-index`` form).
        generated: The generated YAML metadata (``model-index`` form), with its hash object.

    Returns:
        The merged metadata (``model-index`` form), carrying ``generated``'s hash object.
    """
    from huggingface_hub import ModelCardData

    merged = {k: v for k, v in author.items() if k not in ("model-index", constants.CARD_META_ROOT)}
    for key, value in generated.items():
        if key in ("model-index", constants.CARD_META_ROOT):
            continue
        mine = merged.get(key)
        if key in GENERATED_WINS or mine is None:
            merged[key] = value
        elif isinstance(mine, list) or isinstance(value, list):
            mine_list = mine if isinstance(mine, list) else [mine]
            merged[key] = [*mine_list, *(v for v in (value if isinstance(value, list) else [value]) if v not in mine_list)]
    ours = ModelCardData(**generated, ignore_metadata_errors=True)
    theirs = ModelCardData(**author, ignore_metadata_errors=True)
    results = list(theirs.eval_results or [])
    for new in ours.eval_results or []:
        same = next((old for old in results if old.is_equal_except_value(new)), None)
        if same is None:
            results.append(new)
        else:
            same.metric_value = new.metric_value
    if results:
        index = ModelCardData(model_name=theirs.model_name or ours.model_name, eval_results=results).to_dict()
        merged["model-index"] = index["model-index"]
    if constants.CARD_META_ROOT in generated:
        merged[constants.CARD_META_ROOT] = generated[constants.CARD_META_ROOT]
    return merged


def card_for_push(
    folder: str | os.PathLike,
    *,
    api: "HfApi",
    repo_id: str,
    revision: str | None = None,
    overwrite: bool = False,
) -> tuple[str, bytes | None]:
    """The README.md to upload with ``folder``, keeping edits made to the one on the Hub.

    Called by `hub_publish.pushing.push_to_hub` right before the upload. Fills the usage snippets'
    placeholder repo id with ``repo_id`` in a generated body, downloads the Hub's README.md (if
    any) and merges (see `merge_cards`). The folder is only read: the merged card goes into the
    push's commit, never back into the user's folder (a card merged for repo A must not leak into
    the next push of the same folder to repo B).

    Args:
        folder: The model folder about to be pushed (read, never written).
        api: The `HfApi` of the push (endpoint and token).
        repo_id: The target repo.
        revision: The target branch (default: the main branch).
        overwrite: Replace an edited card on the Hub with the generated one.

    Returns:
        ``(outcome, card_bytes)``: the outcome is `NO_CARD`, `NEW`, `REPLACED`, `MERGED` or
        `OVERWRITTEN`; the bytes are the card to upload instead of the folder's README.md, or
        ``None`` when the folder's file is the card (or there is none).

    Raises:
        huggingface_hub errors: Other than "no README.md / no such branch" (the caller maps them).
    """
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    path = Path(folder) / constants.CARD_FILE
    if not path.is_file():
        return NO_CARD, None
    local = ModelCard.load(path, ignore_metadata_errors=True)
    generated = _fill_repo_id(local, repo_id)
    text = read_remote_text(api, repo_id, constants.CARD_FILE, revision=revision)
    remote = None
    if text is not None:
        try:
            remote = card_from_text(text)
        except ValueError:  # YAML that is not a mapping: the author's text, metadata unusable
            remote = card_from_text(REGEX_YAML_BLOCK.sub("", text, count=1))
    if remote is None:
        card, outcome = generated, NEW
    else:
        card, outcome = merge_cards(remote, generated, overwrite=overwrite)
    content = str(card)
    # None: the folder's README.md is the card, upload it as it is (byte for byte).
    return outcome, None if content == path.read_text(encoding="utf-8") else content.encode("utf-8")


def _fill_repo_id(card: "ModelCard", repo_id: str) -> "ModelCard":
    """Name the push's repo in the generated blocks and record it in the YAML.

    The placeholder (``your-name/...``) and the repo the card was generated for (a folder saved
    with ``repo_id="alice/a"`` and pushed to ``alice/b``) are replaced in unedited blocks only.
    """
    recorded = card.data.get(constants.CARD_META_ROOT)
    previous = recorded.get(constants.CARD_REPO_ID) if isinstance(recorded, Mapping) else None
    patterns = [_PLACEHOLDER_REPO]
    # The citation names the repo too: its key (``your_name_mnist_model_2026`` -> ``alice_b_2026``)
    # and author (``The authors`` -> ``alice``), as `build_card(repo_id=...)` would write them.
    keys = [re.escape(citation_name(blocks.PLACEHOLDER_NAMESPACE + "/")) + "[a-z0-9_]*?"]
    authors = ["The authors"]
    if isinstance(previous, str) and previous != repo_id:
        patterns.append(re.compile(rf"(?<![\w.-]){re.escape(previous)}(?![\w.-])"))
        keys.append(re.escape(citation_name(previous)))
        authors.append(re.escape(previous.split("/")[0]))
    key = re.compile(rf"(@misc\{{)(?:{'|'.join(keys)})(_\d{{4}})?,")
    author = re.compile(rf"^(\s*author\s*=\s*\{{)(?:{'|'.join(authors)})(\}},)$", re.MULTILINE)

    def fill(content: str) -> str:
        for pattern in patterns:
            content = pattern.sub(repo_id, content)
        if key.search(content):
            content = key.sub(lambda m: f"{m.group(1)}{citation_name(repo_id)}{m.group(2) or ''},", content, count=1)
            content = author.sub(lambda m: f"{m.group(1)}{repo_id.split('/')[0]}{m.group(2)}", content, count=1)
        return content

    if any(p.search(card.text) for p in (*patterns, key)):
        body_edited, _ = edits(card)
        if blocks.parse(card.text):
            text = blocks.map_unedited(card.text, fill)
        else:  # a card without blocks: only when it is still exactly as generated
            text = card.text if body_edited else fill(card.text)
        recorded_hash = body_sha256(card.text)
        card.text = text
        if isinstance(recorded, Mapping) and not body_edited and recorded.get(constants.CARD_BODY_SHA256) == recorded_hash:
            recorded = {**recorded, constants.CARD_BODY_SHA256: body_sha256(text)}
    if isinstance(recorded, Mapping):
        card.data[constants.CARD_META_ROOT] = {**recorded, constants.CARD_REPO_ID: repo_id}
    return card
