"""Model cards (issue 4, items 1-5): metadata, body, images, fine-tuned lineage, CLI validation,
author edits surviving a push to the embedded Hub server.

One real (2-epoch) training on digits feeds every test, so evaluation values are checked against
a real training record.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData

from hub_publish import constants
from hub_publish.cli import main

from conftest import subprocess_env
from model_cards import build_card, merge_cards, validate_card, write_card
from model_cards.merge import CardConflictWarning, MERGED, OVERWRITTEN, REPLACED, edits, merge_metadata, stamp

BASE_SHA = "0123456789abcdef0123456789abcdef01234567"
# A generated card carries no license until its author picks one (issue 11: the check asks for it).
NO_LICENSE = ("'license' is missing: set it to a Hub license id (e.g. apache-2.0, mit), or to 'other' with "
              "'license_name' and 'license_link'")
TAGS = ["keras", "functional-subclassing", "MnistModel", "hub-publish"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    from hub_publish.training import train_and_package

    folder, record = train_and_package("MnistModel", tmp_path_factory.mktemp("cards") / "digits", epochs=2, verbose=0)
    return folder, record


@pytest.fixture(scope="module")
def model(trained):
    from hub_publish.loading import from_pretrained

    return from_pretrained(trained[0])


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory, model, trained) -> Path:
    """The guide's surgery (binary head) saved as a fine-tune of a pinned base revision."""
    import keras

    from hub_publish.packaging import save_pretrained

    features = model.get_layer(constants.DEFAULT_HEAD_LAYER).input
    outputs = keras.layers.Dense(1, activation="sigmoid", name="binary_classification_head")(features)
    binary = keras.Model(model.input, outputs, name="zero_or_not")
    return save_pretrained(
        binary,
        tmp_path_factory.mktemp("cards") / "binary",
        base_model={"repo_id": "alice/base", "revision": BASE_SHA, "relation": "finetune"},
        repo_id="alice/zero-or-not",
        card_data={"license": "apache-2.0", "language": "en"},
        card_sections={"Acknowledgements": "Thanks to the **Keras** team."},
    )


def _card(folder: Path) -> ModelCard:
    return ModelCard.load(folder / constants.CARD_FILE)


def _metadata(folder: Path) -> dict[str, Any]:
    return json.loads((folder / constants.METADATA_FILE).read_text())[constants.META_ROOT]


def test_importing_model_cards_is_light(python):
    import subprocess

    from conftest import subprocess_env

    code = "import sys, model_cards; print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib', 'jax', 'torch') if m in sys.modules))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=subprocess_env(), check=True)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- metadata (YAML)


def test_card_parses_with_the_hub_parser_and_has_the_metadata_fields(trained):
    folder, _ = trained
    card = _card(folder)
    data = card.data
    assert data.library_name == "keras"
    assert set(TAGS) <= set(data.tags)
    assert data.pipeline_tag == "image-classification"
    assert data.metrics == ["accuracy"]
    assert data.model_name == "MnistModel"
    assert data.get("datasets") is None  # scikit-learn digits has no Hub dataset id
    assert data.get("base_model") is None and data.get("base_model_relation") is None
    assert validate_card(folder / constants.CARD_FILE) == [NO_LICENSE]
    assert edits(card) == (False, False)  # carries the hashes of what was generated


def test_evaluation_results_equal_the_training_record(trained):
    folder, record = trained
    stored = _metadata(folder)[constants.META_TRAINING]
    assert stored[constants.TRAIN_TEST_METRICS] == record[constants.TRAIN_TEST_METRICS]
    results = _card(folder).data.eval_results
    by_keras_name = {r.metric_name: r for r in results}
    assert set(by_keras_name) == set(record[constants.TRAIN_TEST_METRICS])
    for name, value in record[constants.TRAIN_TEST_METRICS].items():
        result = by_keras_name[name]
        assert result.metric_value == value  # exactly, not rounded
        assert result.task_type == "image-classification"
        assert result.dataset_type == "digits"
        assert result.dataset_split == record[constants.TRAIN_TEST_SPLIT]
    assert by_keras_name["sparse_categorical_accuracy"].metric_type == "accuracy"
    assert by_keras_name["sparse_categorical_accuracy"].metric_value > 0.5


def test_known_datasets_get_their_hub_id_and_card_data_overrides(model, trained, tmp_path):
    metadata = json.loads((trained[0] / constants.METADATA_FILE).read_text())
    training = metadata[constants.META_ROOT][constants.META_TRAINING]
    training[constants.TRAIN_DATASET] = {**training[constants.TRAIN_DATASET], "name": "mnist"}
    card = build_card(model=model, metadata=metadata, card_data={"license": "mit", "tags": ["digits", "keras"]})
    data = ModelCard(str(card)).data
    assert data.datasets == ["ylecun/mnist"]
    assert data.eval_results[0].dataset_type == "ylecun/mnist"
    assert data.license == "mit"
    assert data.tags == ["digits", "keras"]


# ----------------------------------------------------------------------------- body


def test_body_documents_the_model(trained, model):
    folder, record = trained
    text = _card(folder).text
    for heading in ("## How to load", "## Inputs and outputs", "## Architecture", "## Model surgery: a new head",
                    "## Training details", "### Training curves", "## Evaluation", "## Intended use",
                    "## Limitations", "## Citation"):
        assert heading in text, heading
    # the four ways to load
    assert 'hub_publish.from_pretrained("your-name/' in text
    assert "from hub_publish.models.mnist import MnistModel" in text and "MnistModel.from_pretrained(" in text
    assert 'keras.saving.load_model("hf://your-name/' in text
    assert "graph.json" in text and "deserialize_keras_object" in text
    # architecture table from the model itself
    for layer in model.layers:
        assert f"| `{layer.name}` | {type(layer).__name__} |" in text
    assert "| `conv_2` | Conv2D | (None, None, None, 32) | 18,464 |" in text
    assert "**76,810**" in text and "300.0 KiB" in text
    # input spec and the surgery recipe with the real head layer
    assert "| `image` | (batch, height, width, 1) | `uint8` | any height and width |" in text
    assert 'model.get_layer("classification_head").input' in text
    # training details from the record
    for fragment in (f"| Epochs | {record['epochs']} |", f"| Batch size | {record['batch_size']} |",
                     f"| Steps per epoch | {record['steps_per_epoch']} |", "| Optimizer | Adam (learning_rate=0.002",
                     "`sparse_categorical_crossentropy`", "| Wall time |", "| Keras backend |", "keras 3."):
        assert fragment in text, fragment
    accuracy = record["test_metrics"]["sparse_categorical_accuracy"]
    assert f"| test | sparse_categorical_accuracy | {accuracy:.4f} |" in text
    assert "@misc{" in text and "gorner2023functionalsubclassing" in text


def test_images_live_in_the_folder(trained):
    folder, _ = trained
    curves = folder / constants.TRAINING_CURVES_FILE
    assert curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = _card(folder).text
    assert f"]({constants.TRAINING_CURVES_FILE})" in text
    if shutil.which("dot") and importlib.util.find_spec("pydot"):  # graphviz + pydot installed (CI): really drawn
        assert (folder / constants.MODEL_PLOT_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({constants.MODEL_PLOT_FILE})" in text
    else:
        assert "The layer graph was not drawn" in text


def test_graph_plot_is_referenced_when_drawn_and_a_note_otherwise(model, trained, tmp_path, monkeypatch):
    import keras

    metadata = json.loads((trained[0] / constants.METADATA_FILE).read_text())
    png = (trained[0] / constants.TRAINING_CURVES_FILE).read_bytes()

    def fake_plot(model, to_file, **kwargs):
        Path(to_file).write_bytes(png)

    monkeypatch.setattr(keras.utils, "plot_model", fake_plot)
    (tmp_path / "drawn").mkdir()
    drawn = write_card(tmp_path / "drawn", model=model, metadata=metadata)
    assert f"![Layer graph of MnistModel]({constants.MODEL_PLOT_FILE})" in drawn.read_text()
    assert validate_card(drawn) == [NO_LICENSE]

    def no_graphviz(*args, **kwargs):
        raise ImportError("You must install graphviz for `plot_model` to work.")

    monkeypatch.setattr(keras.utils, "plot_model", no_graphviz)
    (tmp_path / "note").mkdir()
    noted = write_card(tmp_path / "note", model=model, metadata=metadata)
    assert "The layer graph was not drawn: You must install graphviz" in noted.read_text()
    assert not (tmp_path / "note" / constants.MODEL_PLOT_FILE).exists()
    assert validate_card(noted) == [NO_LICENSE]


def test_class_free_snippet_of_the_card_loads_the_model(trained, model):
    import keras

    folder, _ = trained
    assert 'model.load_weights(f"{folder}/model.weights.h5")' in _card(folder).text
    with open(folder / constants.GRAPH_FILE) as f:  # the card's snippet, on the local folder
        plain = keras.saving.deserialize_keras_object(json.load(f))
    plain.load_weights(str(folder / constants.WEIGHTS_FILE))
    images = np.random.default_rng(0).integers(0, 256, (2, 13, 9, 1), dtype=np.uint8)
    np.testing.assert_allclose(plain.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- fine-tuned lineage


def test_finetuned_card_names_its_pinned_base_model(finetuned):
    data = _card(finetuned).data
    assert data.base_model == "alice/base"
    assert data.base_model_relation == "finetune"
    assert data.license == "apache-2.0" and data.language == "en"
    assert data.pipeline_tag == "image-classification"
    assert data.tags == ["keras", "hub-publish"]  # a plain functional model: no subclass tags
    text = _card(finetuned).text
    assert "returns the probability of the positive class (sigmoid)" in text
    assert f"Fine-tuned from [alice/base](https://huggingface.co/alice/base/tree/{BASE_SHA}) at revision `{BASE_SHA}`" in text
    assert f'revision="{BASE_SHA}"' in text
    assert re.search(r"## Acknowledgements\n\n<!-- hub-publish:begin section:acknowledgements sha256:\w+ -->\n\n"
                     r"Thanks to the \*\*Keras\*\* team\.\n", text)
    assert 'model.get_layer("binary_classification_head").input' in text
    assert 'hub_publish.from_pretrained("alice/zero-or-not")' in text
    assert _metadata(finetuned)[constants.META_BASE_MODEL] == {"repo_id": "alice/base", "revision": BASE_SHA, "relation": "finetune"}
    assert validate_card(finetuned / constants.CARD_FILE) == []


def test_unknown_base_model_relation_is_refused(model, trained):
    metadata = json.loads((trained[0] / constants.METADATA_FILE).read_text())
    metadata[constants.META_ROOT][constants.META_BASE_MODEL] = {"repo_id": "alice/base", "relation": "distilled"}
    with pytest.raises(ValueError, match="finetune"):
        build_card(model=model, metadata=metadata)


# ----------------------------------------------------------------------------- templates


def test_authors_templates_extend_or_replace_the_built_in_ones(model, trained, tmp_path):
    metadata = json.loads((trained[0] / constants.METADATA_FILE).read_text())
    extending = tmp_path / "mine.md.j2"
    extending.write_text('{% extends "image_classifier.md.j2" %}\n{% block intended_use %}Reading postcodes.\n{% endblock %}\n')
    card = build_card(model=model, metadata=metadata, template=extending)
    assert re.search(r"## Intended use\n\n<!-- hub-publish:begin intended_use sha256:\w+ -->\n\nReading postcodes\.\n",
                     card.text) and "## Architecture" in card.text
    standalone = tmp_path / "short.md.j2"
    standalone.write_text("---\n{{ card_data }}\n---\n\n# {{ class_name }} by me\n\n{{ parameter_count|num }} parameters\n")
    card = ModelCard(str(build_card(model=model, metadata=metadata, template=standalone)))
    assert card.text.strip() == "# MnistModel by me\n\n76,810 parameters"
    assert card.data.library_name == "keras" and card.data.eval_results
    generic = ModelCard(str(build_card(model=model, metadata=metadata, template="generic")))
    assert "_Not documented yet by the author._" in generic.text
    with pytest.raises(FileNotFoundError, match=rf"^card template {re.escape(str(tmp_path / 'missing.md.j2'))} not found \(built-in ones: "):
        build_card(model=model, metadata=metadata, template=tmp_path / "missing.md.j2")


# ----------------------------------------------------------------------------- validation + CLI


def test_validation_reports_each_problem(trained, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(trained[0], folder)
    readme = folder / constants.CARD_FILE
    (folder / constants.TRAINING_CURVES_FILE).unlink()
    assert validate_card(readme) == [NO_LICENSE, f"referenced image '{constants.TRAINING_CURVES_FILE}' is not in the folder"]
    readme.write_text("---\nlibrary_name: keras\ntags: [keras]\nbase_model: alice/base@main\nbase_model_relation: distilled\n"
                      "model-index:\n- name: x\n  results:\n  - task: {type: image-classification}\n"
                      "    dataset: {type: digits, name: digits}\n    metrics: [{type: accuracy, value: high}]\n---\n"
                      "![a](../outside.png) ![b](https://example.com/b.png)\n```\n![c](in_code.png)\n```\n")
    problems = validate_card(readme)
    assert "an image classifier needs 'pipeline_tag: image-classification'" in problems
    assert any("'base_model' must be a Hub repo id" in p for p in problems)
    assert any("'base_model_relation' must be one of" in p for p in problems)
    assert any("needs a type and a numeric value" in p for p in problems)
    assert "referenced image '../outside.png' is outside the folder" in problems
    assert NO_LICENSE in problems
    assert len(problems) == 6
    readme.write_text("---\n- not\n- a mapping\n---\nbody\n")
    assert validate_card(readme)[0].startswith("YAML metadata does not parse")
    readme.write_text("# no metadata\n")
    assert validate_card(readme) == ["the card has no YAML metadata block"]


def test_cli_card_validate_is_check_and_card_regenerates(trained, tmp_path):
    """`card FOLDER` writes the generated blocks; `--check` / `--validate` only read (issue 11 changed --validate)."""
    folder = tmp_path / "cli"
    shutil.copytree(trained[0], folder)
    before = _card(folder).data.to_dict()
    runner = CliRunner()
    result = runner.invoke(main, ["card", str(folder), "--repo-id", "alice/digits", "--license", "mit", "--tag", "digits"])
    assert result.exit_code == 0, result.output
    assert "card written" in result.output
    card = _card(folder)
    assert card.data.eval_results == ModelCard(f"---\n{ModelCardData(**before).to_yaml()}\n---\n").data.eval_results
    assert card.data.license == "mit" and "digits" in card.data.tags and set(TAGS) <= set(card.data.tags)
    assert 'from_pretrained("alice/digits")' in card.text and edits(card) == (False, False)
    for flag in ("--check", "--validate"):
        result = runner.invoke(main, ["card", str(folder), flag])
        assert result.exit_code == 0, result.output
        assert "card is valid" in result.output

    bad = tmp_path / "bad.md.j2"
    bad.write_text("---\n{{ card_data }}\n---\n\n![curves](missing_curves.png)\n")
    (folder / constants.CARD_FILE).unlink()
    assert runner.invoke(main, ["card", str(folder), "--template", str(bad), "--license", "mit"]).exit_code == 0
    written = (folder / constants.CARD_FILE).read_bytes()
    result = runner.invoke(main, ["card", str(folder), "--validate"])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "referenced image 'missing_curves.png' is not in the folder" in result.stderr
    assert (folder / constants.CARD_FILE).read_bytes() == written  # never written by a check
    result = runner.invoke(main, ["card", str(folder), "--check", "--license", "mit"])
    assert result.exit_code == 1 and "--check never writes" in result.stderr


def test_rerender_keeps_author_metadata(trained, model, tmp_path):
    from model_cards.render import render_folder_card

    folder = tmp_path / "rerender"
    shutil.copytree(trained[0], folder)
    readme = folder / constants.CARD_FILE
    card = _card(folder)
    card.data.license = "cc-by-4.0"
    card.data.tags = [*card.data.tags, "digits"]
    card.save(readme)
    render_folder_card(folder, model=model)
    data = _card(folder).data
    assert data.license == "cc-by-4.0" and "digits" in data.tags and set(TAGS) <= set(data.tags)
    assert len(data.eval_results) == 2


# ----------------------------------------------------------------------------- merge rule (item 4)


def _results(value: float) -> list[EvalResult]:
    return [EvalResult(task_type="image-classification", dataset_type="digits", dataset_name="digits", dataset_split="test",
                       metric_type="accuracy", metric_name="sparse_categorical_accuracy", metric_value=value)]


def _generated(body: str, value: float, **extra: Any) -> ModelCard:
    data = ModelCardData(library_name="keras", tags=["keras", "hub-publish"], model_name="m", eval_results=_results(value), **extra)
    return stamp(ModelCard(f"---\n{data.to_yaml()}\n---\n{body}"))


def test_merge_rule():
    old = _generated("\n# old generated body\n", 0.5)
    new = _generated("\n# new generated body\n", 0.9, base_model="alice/base", base_model_relation="finetune")
    # unedited: replaced by the new card
    card, outcome = merge_cards(ModelCard(str(old)), new)
    assert outcome == REPLACED and card is new
    # author edited the body and the YAML
    edited = ModelCard(str(old))
    edited.text = "\n# My own words\n"
    edited.data.license = "mit"
    edited.data.tags = ["keras", "digits"]
    edited.data.eval_results.append(
        EvalResult(task_type="image-classification", dataset_type="usps", dataset_name="USPS", metric_type="accuracy", metric_value=0.7))
    card, outcome = merge_cards(ModelCard(str(edited)), new)
    assert outcome == MERGED
    assert card.text == "\n# My own words\n"
    assert card.data.license == "mit"
    assert card.data.tags == ["keras", "digits", "hub-publish"]
    assert card.data.base_model == "alice/base" and card.data.base_model_relation == "finetune"
    values = {(r.dataset_type, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert values == {("digits", "accuracy"): 0.9, ("usps", "accuracy"): 0.7}
    assert edits(ModelCard(str(card))) == (True, True)  # still detected as edited next time
    # only the YAML edited: the new generated body, merged YAML
    yaml_only = ModelCard(str(old))
    yaml_only.data.license = "mit"
    card, outcome = merge_cards(ModelCard(str(yaml_only)), new)
    assert outcome == MERGED and card.text == new.text and card.data.license == "mit"
    # overwrite
    card, outcome = merge_cards(ModelCard(str(edited)), new, overwrite=True)
    assert outcome == OVERWRITTEN and card is new
    # a card hub-publish did not write counts as edited
    assert edits(ModelCard("---\nlicense: mit\n---\n# hand written\n")) == (True, True)
    assert merge_metadata({"license": "mit"}, new.data.to_dict())["license"] == "mit"


# ----------------------------------------------------------------------------- push to the embedded Hub (item 4)


def test_author_edits_on_the_hub_survive_a_push(trained, model, tmp_path):
    from hub_publish.pushing import push_to_hub
    from hub_publish.packaging import save_pretrained
    from hub_publish.server import HubServer

    folder, record = trained
    repo = f"alice/cards-{uuid.uuid4().hex[:8]}"
    with HubServer(tmp_path / "hub", tokens=["alice=hf_alice"]) as server:
        api = HfApi(endpoint=server.url, token="hf_alice")

        def remote_card() -> ModelCard:
            return ModelCard(Path(api.hf_hub_download(repo, constants.CARD_FILE, cache_dir=tmp_path / f"c{uuid.uuid4().hex}")).read_text())

        # 1. first push: the generated card, with the placeholder repo id filled in
        v1 = tmp_path / "v1"
        shutil.copytree(folder, v1)
        push_to_hub(v1, repo, endpoint=server.url, token="hf_alice")
        card = remote_card()
        assert f'hub_publish.from_pretrained("{repo}")' in card.text and "your-name/" not in card.text
        assert edits(card) == (False, False)

        # 2. the author edits the card on the Hub: outside the blocks, and inside the summary block
        card.text = card.text.replace("## Intended use\n", "## Intended use\n\nSorting my handwritten notes.\n", 1)
        summary = _block(card.text, "summary")
        card.text = card.text.replace(summary, summary.rstrip("\n") + "\n\nAlice's own summary line.\n", 1)
        card.data.license = "apache-2.0"
        edited = tmp_path / "edited.md"
        card.save(edited)
        api.upload_file(path_or_fileobj=str(edited), path_in_repo=constants.CARD_FILE, repo_id=repo,
                        commit_message="Author edits the card")

        # 3. a new version with new evaluation results: the edits survive, the results are merged
        new_record = json.loads(json.dumps(record))
        new_record[constants.TRAIN_TEST_METRICS]["sparse_categorical_accuracy"] = 0.987654321
        v2 = save_pretrained(model, tmp_path / "v2", training_record=new_record, repo_id=repo)
        local_before = {p.name: p.read_bytes() for p in v2.iterdir() if p.is_file()}
        with pytest.warns(CardConflictWarning, match="summary") as caught:
            result = push_to_hub(v2, repo, endpoint=server.url, token="hf_alice", branch="feat/x")
        assert [w.filename for w in caught if issubclass(w.category, CardConflictWarning)] == [__file__]  # the caller's line
        assert result.changed
        # the merged card went into the commit only: the user's folder is byte for byte as before
        assert {p.name: p.read_bytes() for p in v2.iterdir() if p.is_file()} == local_before
        merged = ModelCard(Path(api.hf_hub_download(repo, constants.CARD_FILE, revision="feat/x",
                                                    cache_dir=tmp_path / f"c{uuid.uuid4().hex}")).read_text())
        assert "Sorting my handwritten notes." in merged.text and "Alice's own summary line." in merged.text
        # ... so the same folder pushed to another repo carries none of repo A's edits
        other = f"alice/cards-b-{uuid.uuid4().hex[:8]}"
        with warnings.catch_warnings():
            warnings.simplefilter("error", CardConflictWarning)
            push_to_hub(v2, other, endpoint=server.url, token="hf_alice")
        other_card = Path(api.hf_hub_download(other, constants.CARD_FILE, cache_dir=tmp_path / f"c{uuid.uuid4().hex}")).read_text()
        assert "Sorting my handwritten notes." not in other_card and "Alice's own summary line." not in other_card
        assert f'hub_publish.from_pretrained("{other}")' in other_card and "apache-2.0" not in other_card
        assert {p.name: p.read_bytes() for p in v2.iterdir() if p.is_file()} == local_before

        with pytest.warns(CardConflictWarning, match="summary"):
            result = push_to_hub(v2, repo, endpoint=server.url, token="hf_alice")
        assert result.changed
        merged = remote_card()
        assert "Sorting my handwritten notes." in merged.text
        assert merged.data.license == "apache-2.0"
        values = {r.metric_name: r.metric_value for r in merged.data.eval_results}
        assert values == {"loss": record["test_metrics"]["loss"], "sparse_categorical_accuracy": 0.987654321}
        assert {p.name: p.read_bytes() for p in v2.iterdir() if p.is_file()} == local_before

        # 4. pushing the same folder again changes nothing
        with pytest.warns(CardConflictWarning, match="summary"):
            assert not push_to_hub(v2, repo, endpoint=server.url, token="hf_alice").changed

        # 5. --overwrite-card replaces the edited card with the generated one
        v3 = save_pretrained(model, tmp_path / "v3", training_record=new_record, repo_id=repo)
        generated = (v3 / constants.CARD_FILE).read_text()
        out = CliRunner().invoke(main, ["push", str(v3), repo, "--endpoint", server.url, "--token", "hf_alice", "--overwrite-card"])
        assert out.exit_code == 0, out.output
        final = remote_card()
        assert str(final) == generated
        assert "Sorting my handwritten notes." not in final.text and final.data.get("license") is None


# ----------------------------------------------------------------------------- issue 11: cards that stay true


def _block(text: str, name: str) -> str:
    from model_cards import blocks

    return next(b.content for b in blocks.parse(text) if b.name == name)


def _with_metrics(metadata: dict[str, Any], **metrics: float) -> dict[str, Any]:
    copy = json.loads(json.dumps(metadata))
    copy[constants.META_ROOT][constants.META_TRAINING][constants.TRAIN_TEST_METRICS].update(metrics)
    return copy


def test_importing_cards_never_imports_the_loader(python):
    import subprocess

    from conftest import subprocess_env

    code = ("import sys, model_cards, model_cards.render, model_cards.merge, model_cards.blocks; "
            "print('hub_publish.loading' in sys.modules)")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=subprocess_env(), check=True)
    assert out.stdout.strip() == "False"
    for source in Path(__file__).resolve().parents[1].joinpath("model_cards").glob("*.py"):
        assert "hub_publish.loading" not in source.read_text(), source  # design rule: cards never load models


def test_generated_facts_live_in_blocks_and_author_text_survives_a_regeneration(trained, model):
    """An edit outside the blocks stays; the blocks follow the new metrics; an edit inside one is a conflict."""
    from model_cards import CardConflictWarning, blocks

    metadata = json.loads((trained[0] / constants.METADATA_FILE).read_text())
    first = build_card(model=model, metadata=metadata, repo_id="alice/digits")
    names = [b.name for b in blocks.parse(first.text)]
    assert names == ["summary", "usage", "io", "architecture", "surgery", "training_details", "evaluation",
                     "intended_use", "limitations", "citation", "footer"]
    assert not blocks.conflicts(first.text)
    edited = ModelCard(str(first))
    edited.text = edited.text.replace("## Limitations\n", "## Limitations\n\nNever on bank cheques.\n", 1)
    second = build_card(model=model, metadata=_with_metrics(metadata, sparse_categorical_accuracy=0.123456), repo_id="alice/digits")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CardConflictWarning)
        merged, outcome = merge_cards(edited, second)
    assert outcome == MERGED and "Never on bank cheques." in merged.text
    assert "| scikit-learn digits (8x8) | test | sparse_categorical_accuracy | 0.1235 |" in merged.text
    assert "0.1235 sparse_categorical_accuracy" in _block(merged.text, "summary")

    # an author edit inside a generated block: kept, and reported (Python: a warning)
    inside = ModelCard(str(first))
    inside.text = inside.text.replace("| test | sparse_categorical_accuracy |", "| test (my rerun) | sparse_categorical_accuracy |")
    with pytest.warns(CardConflictWarning, match=r"'evaluation'.*--overwrite-card"):
        merged, _ = merge_cards(inside, second)
    assert "(my rerun)" in merged.text and "0.1235 sparse_categorical_accuracy" in merged.text  # summary regenerated
    assert blocks.conflicts(merged.text) == ["evaluation"]


def test_card_sections_fill_or_replace_a_section_never_a_second_heading(model, trained):
    metadata = json.loads((trained[0] / constants.METADATA_FILE).read_text())
    sections = {"Intended use": "Reading postcodes.", "limitations": "Digits only.", "Evaluation": "See our paper.",
                "Changelog": "- v1"}
    text = build_card(model=model, metadata=metadata, extra_sections=sections).text
    for heading in ("## Intended use", "## Limitations", "## Evaluation", "## Changelog"):
        assert text.count(heading + "\n") == 1, heading
    assert _block(text, "intended_use") == "Reading postcodes."
    assert _block(text, "limitations") == "Digits only."
    assert _block(text, "evaluation") == "## Evaluation\n\nSee our paper."
    assert _block(text, "section:changelog") == "- v1"
    assert text.index("## Changelog") < text.index("## Citation")
    assert "Classifying single-object images" not in text  # the generated intended use was replaced


def test_input_range_layout_and_class_labels_are_stated(trained):
    text = _card(trained[0]).text
    io = _block(text, "io")
    assert "`uint8` inputs with values 0–255" in io and "white digits on a black background" in io
    assert "values 0–16 and was scaled to 0–255" in io
    assert "np.round(digits.images * (255 / 16))" in io and 'Image.open("digit.png").convert("L")' in io
    assert "**Class labels** (output index → label): `0` → `0`, `1` → `1`" in io
    assert "(values 0–255)" in _block(text, "summary")


def test_finetuned_card_describes_its_own_binary_task(model, trained):
    import keras

    metadata = json.loads((trained[0] / constants.METADATA_FILE).read_text())
    features = model.get_layer(constants.DEFAULT_HEAD_LAYER).input
    binary = keras.Model(model.input, keras.layers.Dense(1, activation="sigmoid", name="binary_head")(features))
    ours = metadata[constants.META_ROOT]
    ours[constants.META_HEAD_LAYER] = "binary_head"
    ours[constants.META_OUTPUTS] = [{"name": "binary_head", "shape": [None, 1], "dtype": "float32"}]
    training = ours[constants.META_TRAINING]
    training[constants.FINETUNE_RECORD] = {"task": "binary", "positive_class": 0}
    training[constants.TRAIN_TEST_METRICS] = {"loss": 0.1, "binary_accuracy": 0.97}
    text = build_card(model=binary, metadata=metadata).text
    intended = _block(text, "intended_use")
    assert "10 classes" not in intended and "class 0 (“0”)" in intended and "binary task" in intended
    assert "**binary** classifier: class 0 (“0”) vs rest" in _block(text, "summary")
    assert "`0` → every other class, `1` → class 0 (“0”)" in _block(text, "io")
    assert "probability of" in _block(text, "io") and "digits.target == 0" in _block(text, "io")


def test_license_tags_datasets_language_from_python(model, trained, tmp_path):
    from hub_publish.packaging import save_pretrained

    folder = save_pretrained(model, tmp_path / "m", training_record=json.loads(
        (trained[0] / constants.METADATA_FILE).read_text())[constants.META_ROOT][constants.META_TRAINING],
        license="cc-by-4.0", tags=["digits", "keras"], datasets=["my/digits"], language="en")
    data = _card(folder).data
    assert data.license == "cc-by-4.0" and data.language == "en" and data.datasets == ["my/digits"]
    assert data.tags == [*TAGS, "digits"]  # added to the generated tags, no duplicates
    assert validate_card(folder) == []


@pytest.mark.parametrize("yaml, problem", [
    ("license: my-own-license\n", "'license' 'my-own-license' is not a Hub license id"),
    ("license: other\n", "'license: other' needs 'license_name'"),
    ("license: other\nlicense_name: mine\nlicense_link: LICENSE\n", None),
    ("license: mit\npipeline_tag: not-a-task\n", "'pipeline_tag' 'not-a-task' is not one of the Hub's tasks"),
    ("license: mit\nbase_model: https://huggingface.co/alice/base\n", "'base_model' must be a Hub repo id"),
    ("license: mit\n", None),
])
def test_license_and_hub_list_checks(trained, tmp_path, yaml, problem):
    folder = tmp_path / "f"
    shutil.copytree(trained[0], folder)
    card = _card(folder)
    readme = (folder / constants.CARD_FILE).read_text()
    head = "---\nlibrary_name: keras\ntags: [keras]\npipeline_tag: image-classification\n"
    if "pipeline_tag" in yaml:
        head = head.replace("pipeline_tag: image-classification\n", "")
    (folder / constants.CARD_FILE).write_text(head + yaml + "---\n" + card.text)
    problems = validate_card(folder)
    if problem is None:
        assert problems == [], problems
    else:
        assert [p for p in problems if p.startswith(problem)], problems
    assert readme  # the original was generated; the check itself wrote nothing
    assert (folder / constants.CARD_FILE).read_text().startswith(head)


def test_check_finds_stale_numbers_edited_blocks_and_broken_snippets(trained, tmp_path):
    folder = tmp_path / "f"
    shutil.copytree(trained[0], folder)
    readme = folder / constants.CARD_FILE
    card = _card(folder)
    card.data.license = "mit"
    card.data.eval_results[1].metric_value = 0.5
    card.text = card.text.replace("from hub_publish.models.mnist import MnistModel", "from hub_publish.models.mnist import NoSuchModel")
    card.save(readme)
    (folder / constants.GRAPH_FILE).unlink()
    problems = validate_card(folder)
    assert any(p.startswith("model-index says sparse_categorical_accuracy=0.5 but metadata.json says") for p in problems)
    assert "generated block 'usage' was edited: it may not match the model (remove its markers to own it)" in problems
    assert "a snippet imports NoSuchModel from hub_publish.models.mnist, which does not define it" in problems
    assert "a snippet reads 'graph.json', which is not in the folder" in problems
    assert len(problems) == 4, problems


def test_check_finds_a_body_number_that_is_not_the_metadata(trained, tmp_path):
    folder = tmp_path / "f"
    shutil.copytree(trained[0], folder)
    card = _card(folder)
    card.data.license = "mit"
    card.save(folder / constants.CARD_FILE)
    assert validate_card(folder) == []
    metadata = json.loads((folder / constants.METADATA_FILE).read_text())
    metrics = metadata[constants.META_ROOT][constants.META_TRAINING][constants.TRAIN_TEST_METRICS]
    metrics["sparse_categorical_accuracy"] = 0.5  # a folder whose card was not regenerated after a change
    (folder / constants.METADATA_FILE).write_text(json.dumps(metadata))
    problems = validate_card(folder)
    assert any(p.startswith("the card's evaluation table says sparse_categorical_accuracy=") for p in problems), problems
    assert any(p.startswith("model-index says sparse_categorical_accuracy=") for p in problems), problems


def test_validate_never_writes_and_card_keeps_repo_sections_and_edits(finetuned, tmp_path):
    """The issue's `card --validate` on a pulled fine-tuned model: nothing written; `card` keeps everything."""
    folder = tmp_path / "pulled"
    shutil.copytree(finetuned, folder)
    readme = folder / constants.CARD_FILE
    readme.write_text(readme.read_text().replace("## Limitations\n", "## Limitations\n\nMy own note.\n", 1))
    before = readme.read_bytes()
    runner = CliRunner()
    result = runner.invoke(main, ["card", str(folder), "--validate"])
    assert result.exit_code == 0, result.output
    assert readme.read_bytes() == before
    result = runner.invoke(main, ["card", str(folder)])
    assert result.exit_code == 0, result.output
    text = _card(folder).text
    assert 'hub_publish.from_pretrained("alice/zero-or-not")' in text and "your-name/" not in text
    assert "Thanks to the **Keras** team." in text and text.count("## Acknowledgements") == 1
    assert "My own note." in text
    assert validate_card(folder) == []


def test_cli_card_reports_an_edited_block_in_one_line(trained, tmp_path):
    folder = tmp_path / "f"
    shutil.copytree(trained[0], folder)
    readme = folder / constants.CARD_FILE
    readme.write_text(readme.read_text().replace("| Batch size |", "| Batch size (per replica) |"))
    result = CliRunner().invoke(main, ["card", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip().count("\n") == 0
    assert "'training_details' were kept" in result.stderr and "--overwrite-card" in result.stderr
    assert "| Batch size (per replica) |" in readme.read_text()


def test_a_license_that_is_not_a_hub_id_is_refused_before_anything_is_written(model, trained, tmp_path):
    from hub_publish.packaging import save_pretrained

    folder = tmp_path / "f"
    shutil.copytree(trained[0], folder)
    before = (folder / constants.CARD_FILE).read_text()
    result = CliRunner().invoke(main, ["card", str(folder), "--license", "my-own-license"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.strip().count("\n") == 0, result.stderr
    assert "'my-own-license' is not a Hub license id" in result.stderr
    assert (folder / constants.CARD_FILE).read_text() == before
    with pytest.raises(ValueError, match="'my-own-license' is not a Hub license id"):
        save_pretrained(model, tmp_path / "new", license="my-own-license")
    assert not (tmp_path / "new").exists()
    assert CliRunner().invoke(main, ["card", str(folder), "--license", "cc-by-4.0"]).exit_code == 0
    assert _card(folder).data.license == "cc-by-4.0"


def _backend_chatter(line: str) -> bool:
    """TensorFlow's C++ start-up lines (absl, before TF_CPP_MIN_LOG_LEVEL applies), not ours."""
    return bool(re.match(r"[IWE]\d{4} |WARNING: All log messages before absl", line))


@pytest.mark.parametrize("yaml", ["", "---\nlicense: mit\n---\n"])
def test_cli_card_on_a_hand_written_card_keeps_it_and_says_so_in_one_line(trained, tmp_path, yaml, python):
    folder = tmp_path / "f"
    shutil.copytree(trained[0], folder)
    body = "# My digits\n\nHand-written, no generated blocks.\n\n## Intended use\n\nTeaching only.\n"
    (folder / constants.CARD_FILE).write_text(yaml + body)
    # a real process: huggingface_hub's log lines reach its stderr, not CliRunner's
    result = subprocess.run([python, "-m", "hub_publish.cli", "card", str(folder)], capture_output=True, text=True,
                            env=subprocess_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not _backend_chatter(line)]
    assert len(lines) == 1 and lines[0].startswith("Warning: "), result.stderr  # no huggingface_hub log lines
    assert "no hub-publish generated blocks" in lines[0] and "kept as is" in lines[0], lines[0]
    assert "block(s)" not in lines[0] and "marker lines" not in lines[0], lines[0]  # no advice that does not apply
    assert _card(folder).text.strip() == body.strip()


@pytest.mark.parametrize("template", ["image_classifier", "generic"])
def test_writing_where_the_card_asks_the_author_to_write_is_never_a_conflict(model, trained, template):
    """The card's "Author: ..." prompts sit outside generated blocks: text written in their place is kept, no conflict."""
    from model_cards import blocks

    metadata = json.loads((trained[0] / constants.METADATA_FILE).read_text())
    text = build_card(model=model, metadata=metadata, template=template).text
    prompts = re.findall(r"<!-- Author:[^\n]*-->", text)
    assert len(prompts) == 2, prompts
    for block in blocks.parse(text):
        assert "Author:" not in block.content and "Not documented yet" not in block.content, block.name
    edited = text
    for n, prompt in enumerate(prompts):
        edited = edited.replace(prompt, f"AUTHOR-TEXT-{n}: only for sorting mail.", 1)
    retrained = {**metadata, constants.META_ROOT: {**metadata[constants.META_ROOT]}}
    new = build_card(model=model, metadata=retrained, template=template, license="mit").text
    merged, kept = blocks.merge_bodies(edited, new)
    assert kept == [] and "AUTHOR-TEXT-0" in merged and "AUTHOR-TEXT-1" in merged


def test_a_class_defined_in_a_script_gets_no_snippet_that_imports_it(trained, tmp_path):
    """A HubModel subclass written in a script (``python train.py``) lives in ``__main__``: no other
    program can import it. Saving refuses it (issue 9: save only what can be loaded), so no card
    ever offers a snippet that would fail as pasted; and `card --check` flags a snippet that
    imports from ``__main__`` (an author's edit, or a folder written by other tools)."""
    import keras

    import hub_publish
    from model_cards.render import check_card

    class ScriptNet(hub_publish.HubModel):
        head_layer = "head"

        def __init__(self, units=3, **kwargs):
            inputs = keras.Input((None, None, 3), dtype="uint8", name="image")
            x = keras.layers.GlobalAveragePooling2D(name="pool")(keras.layers.Rescaling(1 / 255, name="rescaling")(inputs))
            super().__init__(inputs=inputs, outputs=keras.layers.Dense(units, activation="softmax", name="head")(x), **kwargs)
            self.units = units

        def get_config(self):
            return {"name": self.name, "units": self.units}

    ScriptNet.__module__ = "__main__"  # as when defined in the script being run
    registered = keras.saving.register_keras_serializable(package=f"script_{uuid.uuid4().hex[:8]}")(ScriptNet)
    with pytest.raises(hub_publish.errors.HubPublishError, match=r"^model class ScriptNet is defined in __main__ "):
        registered().save_pretrained(tmp_path / "m", repo_id="alice/script-net", license="mit")
    assert not (tmp_path / "m").exists()

    folder = tmp_path / "f"
    shutil.copytree(trained[0], folder)
    readme = folder / constants.CARD_FILE
    assert not [p for p in check_card(folder) if "__main__" in p]
    readme.write_text(readme.read_text().replace("import hub_publish\n", "from __main__ import ScriptNet\nimport hub_publish\n", 1))
    assert [p for p in check_card(folder) if "__main__" in p], check_card(folder)


@pytest.mark.parametrize("content", ['{"hub_publish": []}', '[1, 2]', '{"hub_publish": {"training": 5}}', "{not json"])
def test_a_malformed_metadata_json_is_a_card_problem_not_a_crash(trained, model, tmp_path, content):
    from model_cards.render import check_card, render_folder_card

    folder = tmp_path / "f"
    shutil.copytree(trained[0], folder)
    before = (folder / constants.CARD_FILE).read_text()
    (folder / constants.METADATA_FILE).write_text(content)
    assert [p for p in check_card(folder) if p.startswith("metadata.json is malformed")], check_card(folder)
    with pytest.raises(ValueError, match="metadata.json is malformed"):
        render_folder_card(folder, model=model)
    assert (folder / constants.CARD_FILE).read_text() == before


def test_block_rules_on_plain_text():
    """model_cards.blocks: regenerate untouched blocks, keep edited ones, deleted stay deleted, owned text stays."""
    from model_cards import blocks

    def card(**contents: str) -> str:
        return "# T\n\n" + "\n\n".join(blocks.render(n, c) for n, c in contents.items()) + "\n\n## Citation\n"

    old = card(a="A1", b="B1", c="C1")
    new = card(a="A2", b="B2", c="C2").replace("## Citation", "## Notes\n\n" + blocks.render("section:notes", "N") + "\n\n## Citation")
    # the author: adds text, edits b, deletes c entirely, and owns a copy of a by removing its markers
    edited = old.replace("# T\n", "# T\n\nMine.\n").replace("B1", "B1 (edited)")
    edited = edited.replace(blocks.render("c", "C1"), "")
    text, kept = blocks.merge_bodies(edited, new)
    assert kept == ["b"] and "Mine." in text and "B1 (edited)" in text and "B2" not in text
    assert "A2" in text and "C1" not in text and "C2" not in text  # deleted stays deleted
    assert text.index("## Notes\n") < text.index("## Citation") and "N" in text  # a new card section is added
    assert blocks.conflicts(text) == ["b"]
    owned = text.replace(blocks.render("a", "A2"), "A2 is mine")
    again, kept = blocks.merge_bodies(owned, new)
    assert "A2 is mine" in again and kept == ["b"] and [b.name for b in blocks.parse(again)].count("a") == 0
    # stamping and re-parsing are stable across line endings
    assert not blocks.parse(blocks.stamp(new.replace("\n", "\r\n")))[0].edited


def test_a_push_names_its_own_repo_in_the_snippets(model, trained):
    """A folder saved for alice/a and pushed to alice/b: the regenerated snippets name alice/b."""
    from model_cards import blocks
    from model_cards.merge import _fill_repo_id

    metadata = json.loads((trained[0] / constants.METADATA_FILE).read_text())
    for saved_for in ("alice/a", None):
        card = _fill_repo_id(build_card(model=model, metadata=metadata, repo_id=saved_for), "alice/b")
        assert 'from_pretrained("alice/b")' in card.text and "alice/a" not in card.text and "your-name" not in card.text
        assert not blocks.conflicts(card.text) and edits(ModelCard(str(card))) == (False, False)
        assert card.data.get(constants.CARD_META_ROOT)[constants.CARD_REPO_ID] == "alice/b"
        # the whole body, citation key and author included, is what a card built for alice/b says
        assert card.text == build_card(model=model, metadata=metadata, repo_id="alice/b").text
        assert "your_name" not in card.text and "The authors" not in card.text
