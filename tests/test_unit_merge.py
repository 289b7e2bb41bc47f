"""model_cards.merge: edit detection and the merge rule, function by function, plus the Hub sync.

Fast tests pinning each rule of the module, so that mutation testing (scripts/mutation.sh merge)
has a quick test for every line. The end-to-end push flows are in test_model_cards.py and
test_rules.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData
from server_fixtures import TOKEN_SPECS, TOKENS

from hub_publish import constants
from hub_publish.server import HubServer
from model_cards import blocks
from model_cards.merge import (
    MERGED,
    NEW,
    NO_CARD,
    OVERWRITTEN,
    REPLACED,
    CardConflictWarning,
    _fill_repo_id,
    conflict_message,
    body_sha256,
    edits,
    merge_cards,
    merge_metadata,
    metadata_sha256,
    stamp,
    card_for_push,
)

ROOT = constants.CARD_META_ROOT


def _card(body: str, value: float = 0.5, **data) -> ModelCard:
    results = [EvalResult(task_type="image-classification", dataset_type="digits", dataset_name="Digits",
                          metric_type="accuracy", metric_value=value)]
    card_data = ModelCardData(library_name="keras", tags=["keras"], model_name="m", eval_results=results, **data)
    return stamp(ModelCard(f"---\n{card_data.to_yaml()}\n---\n{body}"))


def test_body_sha256_ignores_line_endings_and_surrounding_blank_lines():
    expected = hashlib.sha256(b"# T\n\ntext").hexdigest()
    for text in ("# T\n\ntext", "\n\n# T\n\ntext\n\n", "# T\r\n\r\ntext\r\n", "# T\r\rtext", "  # T\n\ntext  "):
        assert body_sha256(text) == expected, repr(text)
    assert body_sha256("# T\n\ntext!") != expected
    assert body_sha256("é") == hashlib.sha256("é".encode()).hexdigest()


def test_metadata_sha256_ignores_key_order_and_the_hash_object():
    plain = {"license": "mit", "tags": ["a", "b"]}
    expected = hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()
    assert metadata_sha256({"tags": ["a", "b"], "license": "mit"}) == expected
    assert metadata_sha256({**plain, ROOT: {"x": 1}}) == expected
    assert metadata_sha256({**plain, "date": __import__("datetime").date(2026, 1, 2)}) == hashlib.sha256(
        json.dumps({**plain, "date": "2026-01-02"}, sort_keys=True).encode()).hexdigest()
    assert metadata_sha256({"tags": ["b", "a"], "license": "mit"}) != expected  # list order counts


def test_stamp_records_both_hashes():
    card = _card("\n# Body\n")
    recorded = card.data.get(ROOT)
    assert recorded == {constants.CARD_BODY_SHA256: body_sha256("\n# Body\n"),
                        constants.CARD_METADATA_SHA256: metadata_sha256(card.data.to_dict())}
    assert edits(ModelCard(str(card))) == (False, False)  # survives a save/load


def test_edits_detects_each_kind_of_edit():
    card = _card("\n# Body\n")
    body = ModelCard(str(card))
    body.text = "\n# Edited\n"
    assert edits(ModelCard(str(body))) == (True, False)
    meta = ModelCard(str(card))
    meta.data.license = "mit"
    assert edits(ModelCard(str(meta))) == (False, True)
    assert edits(ModelCard("---\nlicense: mit\n---\n# hand written\n")) == (True, True)
    assert edits(ModelCard(f"---\n{ROOT}: not-a-mapping\n---\n# x\n")) == (True, True)


def test_merge_cards_unedited_is_replaced():
    old, new = _card("\n# old\n"), _card("\n# new\n", 0.9)
    card, outcome = merge_cards(ModelCard(str(old)), new)
    assert outcome == REPLACED and card is new


def test_merge_cards_overwrite_wins_over_edits():
    old, new = _card("\n# old\n"), _card("\n# new\n", 0.9)
    edited = ModelCard(str(old))
    edited.text = "mine"
    card, outcome = merge_cards(ModelCard(str(edited)), new, overwrite=True)
    assert outcome == OVERWRITTEN and card is new


def test_merge_cards_body_edited_only_keeps_body_and_takes_generated_metadata():
    old, new = _card("\n# old\n"), _card("\n# new\n", 0.9, license="apache-2.0")
    edited = ModelCard(str(old))
    edited.text = "\n# Mine\n"
    card, outcome = merge_cards(ModelCard(str(edited)), new)
    assert outcome == MERGED
    assert card.text == "\n# Mine\n"
    assert card.data.to_dict() == new.data.to_dict()
    assert edits(ModelCard(str(card))) == (True, False)


def test_merge_cards_metadata_edited_only_takes_generated_body_and_merges_metadata():
    old, new = _card("\n# old\n"), _card("\n# new\n", 0.9, license="apache-2.0")
    edited = ModelCard(str(old))
    edited.data.license = "mit"
    card, outcome = merge_cards(ModelCard(str(edited)), new)
    assert outcome == MERGED
    assert card.text == new.text
    assert card.data.license == "mit"
    assert [r.metric_value for r in card.data.eval_results] == [0.9]
    assert card.data.get(ROOT) == new.data.get(ROOT)
    assert edits(ModelCard(str(card))) == (False, True)


def test_merge_metadata_rule():
    author = {"license": "mit", "library_name": "my-lib", "tags": ["mine", "keras"], "datasets": "mnist",
              "base_model": "old/base", "base_model_relation": "adapter", "language": ["en"], "pipeline_tag": None,
              ROOT: {"old": "hashes"}}
    generated = {"license": "apache-2.0", "library_name": "keras", "tags": ["keras", "hub-publish"],
                 "datasets": ["digits"], "base_model": "new/base", "base_model_relation": "finetune", "language": "fr",
                 "pipeline_tag": "image-classification", "metrics": ["accuracy"], ROOT: {"new": "hashes"}}
    assert merge_metadata(author, generated) == {
        "license": "mit",
        "library_name": "my-lib",
        "tags": ["mine", "keras", "hub-publish"],
        "datasets": ["mnist", "digits"],
        "base_model": "new/base",
        "base_model_relation": "finetune",
        "language": ["en", "fr"],
        "pipeline_tag": "image-classification",
        "metrics": ["accuracy"],
        ROOT: {"new": "hashes"},
    }
    assert ROOT not in merge_metadata({"license": "mit", ROOT: {"old": 1}}, {"license": "x"})
    # the generated model-index (listed first) does not stop the other fields from merging
    index = ModelCardData(model_name="m", eval_results=[EvalResult(
        task_type="t", dataset_type="d", dataset_name="D", metric_type="acc", metric_value=0.5)]).to_dict()
    merged = merge_metadata({"license": "mit"}, {**index, "tags": ["keras"], "license": "apache-2.0"})
    assert merged["tags"] == ["keras"] and merged["license"] == "mit" and merged["model-index"] == index["model-index"]


def test_merge_metadata_eval_results_updated_in_place_or_appended():
    def index(name: str, *results: tuple[str, float]) -> dict:
        return ModelCardData(model_name=name, eval_results=[
            EvalResult(task_type="image-classification", dataset_type=d, dataset_name=d.upper(), metric_type="accuracy",
                       metric_value=v) for d, v in results]).to_dict()

    merged = merge_metadata(index("authors-name", ("digits", 0.5), ("usps", 0.7)), index("generated", ("digits", 0.9), ("mnist", 0.8)))
    data = ModelCardData(**merged)
    assert data.model_name == "authors-name"
    assert [(r.dataset_type, r.metric_value) for r in data.eval_results] == [("digits", 0.9), ("usps", 0.7), ("mnist", 0.8)]
    only_generated = ModelCardData(**merge_metadata({"license": "mit"}, index("generated", ("digits", 0.9))))
    assert only_generated.model_name == "generated" and [r.metric_value for r in only_generated.eval_results] == [0.9]
    assert "model-index" not in merge_metadata({"license": "mit"}, {"license": "x"})


BROKEN_INDEX = "model-index:\n- name: m\n  results:\n  - task: {type: image-classification}\n"


def test_merge_tolerates_malformed_author_metadata():
    """An author's model-index that huggingface_hub cannot parse does not stop the merge."""
    author = ModelCard(f"---\nlicense: mit\n{BROKEN_INDEX}---\n# Mine\n", ignore_metadata_errors=True)
    new = _card("\n# new\n", 0.9, license="apache-2.0")
    card, outcome = merge_cards(author, new)
    assert outcome == MERGED and card.text.strip() == "# Mine" and card.data.license == "mit"
    assert [r.metric_value for r in card.data.eval_results] == [0.9]


def test_fill_repo_id_only_in_an_unedited_generated_body():
    generated = _card("\nload it: hub_publish.from_pretrained(\"your-name/my-model\") or your-name/other.v2\n")
    filled = _fill_repo_id(ModelCard(str(generated)), "alice/real")
    assert "your-name/" not in filled.text and filled.text.count("alice/real") == 2
    assert edits(ModelCard(str(filled))) == (False, False)  # the recorded body hash follows
    edited = ModelCard(str(generated))
    edited.text += "\nmine: your-name/x\n"
    before = edited.text
    assert _fill_repo_id(edited, "alice/real").text == before  # the author's words are not touched
    plain = _card("\nno placeholder here\n")
    assert _fill_repo_id(plain, "alice/real") is plain and edits(plain) == (False, False)


# ----------------------------------------------------------------------------- sync with a real Hub server


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    # A thread of this process under mutmut (it records coverage in-process only), else a process.
    in_thread = bool(os.environ.get("MUTANT_UNDER_TEST"))
    with HubServer(tmp_path_factory.mktemp("merge-hub"), tokens=TOKEN_SPECS, in_thread=in_thread) as server:
        yield server


def _folder(tmp_path: Path, card: ModelCard | None) -> Path:
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    if card is not None:
        (folder / constants.CARD_FILE).write_text(str(card))
    return folder


def _sync(folder: Path, **kwargs) -> str:
    """`card_for_push`, checking that the folder is never written; returns the outcome, leaves the
    card to upload in ``folder/pushed.md`` (the folder's own card when nothing replaces it)."""
    card = folder / constants.CARD_FILE
    before = (card.read_bytes(), card.stat().st_mtime_ns) if card.is_file() else None
    outcome, content = card_for_push(folder, **kwargs)
    after = (card.read_bytes(), card.stat().st_mtime_ns) if card.is_file() else None
    assert after == before  # the user's folder is only read
    if before is not None:
        (folder / "pushed.md").write_bytes(content if content is not None else before[0])
    else:
        assert content is None
    return outcome


def test_card_for_push(hub, tmp_path):
    api = HfApi(endpoint=hub.endpoint, token=TOKENS["alice"])
    repo = f"alice/sync-{os.urandom(4).hex()}"
    api.create_repo(repo)
    assert _sync(_folder(tmp_path, None), api=api, repo_id=repo) == NO_CARD

    generated = _card("\nuse your-name/my-model\n", license="apache-2.0")
    folder = _folder(tmp_path, generated)
    assert _sync(folder, api=api, repo_id=repo) == NEW
    first = (folder / "pushed.md").read_text()
    assert f"use {repo}" in first and "your-name" not in first
    api.upload_file(path_or_fileobj=first.encode(), path_in_repo=constants.CARD_FILE, repo_id=repo)

    (folder / constants.CARD_FILE).write_text(first)
    assert card_for_push(folder, api=api, repo_id=repo) == (REPLACED, None)  # unchanged: the folder's file as is

    edited = ModelCard(first)
    edited.data.license = "mit"
    api.upload_file(path_or_fileobj=str(edited).encode(), path_in_repo=constants.CARD_FILE, repo_id=repo)
    assert _sync(_folder(tmp_path, generated), api=api, repo_id=repo) == MERGED
    merged = ModelCard.load(folder / "pushed.md")
    assert merged.data.license == "mit" and f"use {repo}" in merged.text
    assert _sync(_folder(tmp_path, generated), api=api, repo_id=repo, overwrite=True) == OVERWRITTEN
    assert ModelCard.load(folder / "pushed.md").data.license == "apache-2.0"

    # a branch without a README yet, and a branch that does not exist: both NEW
    api.create_branch(repo, branch="empty", revision=api.list_repo_commits(repo)[-1].commit_id)
    assert _sync(_folder(tmp_path, generated), api=api, repo_id=repo, revision="empty") == NEW
    assert _sync(_folder(tmp_path, generated), api=api, repo_id=repo, revision="nowhere") == NEW


def test_sync_with_a_private_repo_uses_the_token_and_leaves_no_cache(hub, tmp_path):
    from huggingface_hub import constants as hf_constants

    api = HfApi(endpoint=hub.endpoint, token=TOKENS["alice"])
    repo = f"alice/private-sync-{os.urandom(4).hex()}"
    api.create_repo(repo, private=True)
    edited = _card("\n# generated\n", license="apache-2.0")
    edited.data.license = "mit"
    api.upload_file(path_or_fileobj=str(edited).encode(), path_in_repo=constants.CARD_FILE, repo_id=repo)
    cache = Path(hf_constants.HF_HUB_CACHE)
    before = sorted(p.name for p in cache.iterdir()) if cache.is_dir() else []
    folder = _folder(tmp_path, _card("\n# generated\n", license="apache-2.0"))
    assert _sync(folder, api=api, repo_id=repo) == MERGED
    assert ModelCard.load(folder / "pushed.md").data.license == "mit"
    after = sorted(p.name for p in cache.iterdir()) if cache.is_dir() else []
    assert after == before  # the Hub's card was read through a throw-away cache


def test_sync_with_malformed_metadata_on_both_sides(hub, tmp_path):
    api = HfApi(endpoint=hub.endpoint, token=TOKENS["alice"])
    repo = f"alice/broken-{os.urandom(4).hex()}"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=f"---\nlicense: mit\n{BROKEN_INDEX}---\n# Mine\n".encode(),
                    path_in_repo=constants.CARD_FILE, repo_id=repo)
    folder = _folder(tmp_path, None)
    (folder / constants.CARD_FILE).write_text(f"---\nlicense: apache-2.0\n{BROKEN_INDEX}---\n# generated\n")
    assert _sync(folder, api=api, repo_id=repo) == MERGED
    merged = (folder / "pushed.md").read_text()
    assert "license: mit" in merged and merged.rstrip().endswith("# Mine")


def test_sync_keeps_an_authors_card_whose_yaml_is_not_a_mapping(hub, tmp_path):
    api = HfApi(endpoint=hub.endpoint, token=TOKENS["alice"])
    repo = f"alice/sync-{os.urandom(4).hex()}"
    api.create_repo(repo)
    # The stock client validates README YAML before uploading; a card made elsewhere may not be
    # valid, so it is committed here through the raw commit route.
    import base64

    import httpx2

    lines = [{"key": "header", "value": {"summary": "card"}},
             {"key": "file", "value": {"path": constants.CARD_FILE, "encoding": "base64",
                                       "content": base64.b64encode("\ufeff---\n- just\n- a list\n---\n# Author's words\n".encode()).decode()}}]
    r = httpx2.post(f"{hub.endpoint}/api/models/{repo}/commit/main", content="\n".join(json.dumps(x) for x in lines),
                    headers={"authorization": f"Bearer {TOKENS['alice']}", "content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    folder = _folder(tmp_path, _card("\n# generated\n", license="apache-2.0"))
    assert _sync(folder, api=api, repo_id=repo) == MERGED
    merged = ModelCard.load(folder / "pushed.md")
    assert merged.text.strip() == "# Author's words"  # the byte-order mark and the list YAML are gone
    assert merged.data.license == "apache-2.0" and merged.data.library_name == "keras"


def test_merge_metadata_tolerates_malformed_eval_results_on_either_side():
    """merge_metadata is public: raw dicts with a model-index huggingface_hub cannot parse still merge."""
    import yaml

    broken = yaml.safe_load(BROKEN_INDEX)["model-index"]
    good = ModelCardData(model_name="m", eval_results=[EvalResult(
        task_type="t", dataset_type="d", dataset_name="D", metric_type="acc", metric_value=0.5)]).to_dict()
    from_author = merge_metadata({"license": "mit", "model-index": broken}, {**good, "license": "x"})
    assert from_author["license"] == "mit" and from_author["model-index"] == good["model-index"]
    from_generated = merge_metadata({**good, "license": "mit"}, {"license": "x", "model-index": broken})
    assert from_generated["license"] == "mit" and from_generated["model-index"] == good["model-index"]


# ----------------------------------------------------------------------------- generated blocks (issue 11)


def _blocks_body(intro: str, evaluation: str, usage: str) -> str:
    return (f"\n# Title\n\n{intro}\n\n{blocks.render('evaluation', evaluation)}\n\n"
            f"{blocks.render('usage', usage)}\n")


def test_conflict_message_names_each_block_and_the_way_out():
    assert conflict_message(["usage", "evaluation"], "README.md") == (
        "README.md: your edits inside generated block(s) 'usage', 'evaluation' were kept, so they may not match this "
        "model; delete the block's two 'hub-publish:begin/end' marker lines to own the text, or push with "
        "--overwrite-card")
    assert conflict_message(["x"]).startswith("the card: your edits inside generated block(s) 'x' were kept")


def test_merge_cards_regenerates_unedited_blocks_and_keeps_edited_ones_with_a_warning():
    old = _card(_blocks_body("intro", "accuracy 0.5", "load it"))
    new = _card(_blocks_body("intro", "accuracy 0.9", "load it v2"), 0.9)
    edited = ModelCard(str(old))
    mine_usage = "load it MY way"
    edited.text = edited.text.replace("\nintro\n", "\nmy own intro\n").replace("\nload it\n", f"\n{mine_usage}\n")
    assert blocks.conflicts(edited.text) == ["usage"]
    with pytest.warns(CardConflictWarning) as caught:
        card, outcome = merge_cards(ModelCard(str(edited)), new)
    assert [str(w.message) for w in caught] == [conflict_message(["usage"])]
    assert "model_cards" not in caught[0].filename  # points at the caller, not at merge.py (mutmut-proof)
    assert outcome == MERGED
    usage_block = edited.text[edited.text.index("<!-- hub-publish:begin usage"):].rstrip("\n")
    assert card.text == (f"\n# Title\n\nmy own intro\n\n{blocks.render('evaluation', 'accuracy 0.9')}\n\n"
                         f"{usage_block}\n")
    assert card.data.to_dict() == new.data.to_dict()


def test_merge_cards_with_only_unedited_blocks_warns_nothing():
    old = _card(_blocks_body("intro", "accuracy 0.5", "load it"))
    new = _card(_blocks_body("intro", "accuracy 0.9", "load it v2"), 0.9)
    edited = ModelCard(str(old))
    edited.text = edited.text.replace("\nintro\n", "\nmy own intro\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        card, outcome = merge_cards(ModelCard(str(edited)), new)
    assert outcome == MERGED
    assert card.text == _blocks_body("my own intro", "accuracy 0.9", "load it v2")


def test_merge_cards_without_blocks_warns_that_the_text_is_not_updated():
    old, new = _card("\n# old 0.5\n"), _card(_blocks_body("intro", "accuracy 0.9", "x"), 0.9)
    edited = ModelCard(str(old))
    edited.text = "\n# Mine 0.5\n"
    with pytest.warns(CardConflictWarning) as caught:
        card, outcome = merge_cards(ModelCard(str(edited)), new)
    assert [str(w.message) for w in caught] == [
        "the card on the Hub has no hub-publish generated blocks (hand-written or older), so its text was kept as is "
        "and its numbers were not updated; push with --overwrite-card to replace it"]
    assert "model_cards" not in caught[0].filename
    assert outcome == MERGED and card.text == "\n# Mine 0.5\n"


def _for_repo(card: ModelCard, repo_id: str) -> ModelCard:
    card.data[ROOT] = {**card.data.get(ROOT), constants.CARD_REPO_ID: repo_id}
    return ModelCard(str(card))


def test_fill_repo_id_renames_the_repo_a_folder_was_saved_for_in_unedited_blocks_only():
    body = _blocks_body('see alice/a here', 'accuracy', 'from_pretrained("alice/a") not alice/a-2 nor bob.alice/a')
    card = _for_repo(_card(body), "alice/a")
    filled = _fill_repo_id(card, "alice/b")
    assert filled.text == _blocks_body('see alice/a here', 'accuracy',
                                       'from_pretrained("alice/b") not alice/a-2 nor bob.alice/a')
    assert filled.data.get(ROOT)[constants.CARD_REPO_ID] == "alice/b"
    assert edits(ModelCard(str(filled))) == (False, False)  # the recorded body hash follows the filled body
    # an edited block keeps the author's words (and the old name)
    edited = _for_repo(_card(body), "alice/a")  # a fresh one: _fill_repo_id changed `card` in place
    edited.text = edited.text.replace('from_pretrained("alice/a")', 'from_pretrained("alice/a")  # mine')
    assert blocks.conflicts(edited.text) == ["usage"]
    kept = _fill_repo_id(ModelCard(str(edited)), "alice/b")
    assert kept.text == edited.text
    assert edits(ModelCard(str(kept)))[0] is True  # still seen as edited by the next push
    assert kept.data.get(ROOT)[constants.CARD_REPO_ID] == "alice/b"
    # pushed to the repo it was saved for: nothing to rename, the record stays
    same = _fill_repo_id(_for_repo(_card(body), "alice/a"), "alice/a")
    assert same.text == body and same.data.get(ROOT)[constants.CARD_REPO_ID] == "alice/a"
    assert edits(ModelCard(str(same))) == (False, False)


def test_fill_repo_id_without_blocks_and_without_a_record():
    body = '\nfrom_pretrained("alice/a") and your-name/m\n'
    card = _for_repo(_card(body), "alice/a")
    filled = _fill_repo_id(card, "alice/b")
    assert filled.text == '\nfrom_pretrained("alice/b") and alice/b\n'
    assert edits(ModelCard(str(filled))) == (False, False)
    no_record = _card(body)  # no repo recorded: only the placeholder is filled, and the repo id is recorded
    filled = _fill_repo_id(no_record, "alice/b")
    assert filled.text == '\nfrom_pretrained("alice/a") and alice/b\n'
    assert filled.data.get(ROOT)[constants.CARD_REPO_ID] == "alice/b"
    hand_written = ModelCard("---\nlicense: mit\n---\nyour-name/m\n")  # no hash object at all
    out = _fill_repo_id(hand_written, "alice/b")
    assert out.text == "your-name/m\n" and out.data.get(ROOT) is None
