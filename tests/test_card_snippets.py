"""Issue 11: cards are true. Every Python snippet of a generated card runs as pasted against a real
Hub server (imports included, endpoint from HF_ENDPOINT); a revision page's snippet loads that
revision; after an author edits the card on the Hub and a retrained model is pushed, every number
on the page equals that commit's metadata.

Cards of four models are executed: MnistModel and MnistDictModel (the zoo), a model fine-tuned
with `hub_publish.finetune` (binary head) and a user's plain functional model on tabular data with
an adapted Normalization layer (no class of ours). Each card's snippets run in one fresh Python
process (each snippet in its own namespace), so a snippet that relies on another's imports fails.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import uuid
import warnings
from pathlib import Path
from types import SimpleNamespace

import httpx2
import numpy as np
import pytest
from huggingface_hub import HfApi, ModelCard
from server_fixtures import client_env

from hub_publish import constants
from hub_publish.server import HubServer

pytestmark = pytest.mark.slow  # trains small models, runs snippets in subprocesses

TOKEN = "hf_alice_snippets"
_PYTHON = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_JSON = re.compile(r"^```json[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

# Runs each snippet as pasted in a fresh namespace; records errors, warnings and a fingerprint of
# the `model` the snippet left behind (the sum of its weights), as JSON.
RUNNER = r'''
import json, sys, traceback, warnings
snippets = json.load(open(sys.argv[1]))
results = []
for code in snippets:
    namespace = {"__name__": "__main__"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exec(compile(code, "<snippet>", "exec"), namespace)
            error = None
        except BaseException:
            error = traceback.format_exc()
    model = namespace.get("model")
    fingerprint = None
    if model is not None and hasattr(model, "weights"):
        import numpy as np
        fingerprint = float(sum(np.abs(np.asarray(w)).sum() for w in model.get_weights()))
    results.append({"error": error, "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
                    "fingerprint": fingerprint})
json.dump(results, open(sys.argv[2], "w"))
'''


def _fingerprint(model) -> float:
    return float(sum(np.abs(np.asarray(w)).sum() for w in model.get_weights()))


def run_snippets(snippets: list[str], server: HubServer, workdir: Path) -> list[dict]:
    """Run snippets as a user would paste them, with HF_ENDPOINT set, in a fresh process."""
    workdir.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    # a dark "1" on light paper, as a phone photo of a digit would be: the PNG snippet inverts it
    pixels = np.full((28, 28), 235, dtype=np.uint8)
    pixels[4:24, 12:16] = 20
    Image.fromarray(pixels).save(workdir / "digit.png")
    (workdir / "snippets.json").write_text(json.dumps(snippets))
    (workdir / "runner.py").write_text(RUNNER)
    env = client_env(server, workdir / "hf-home", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "runner.py", "snippets.json", "results.json"], cwd=workdir, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads((workdir / "results.json").read_text())


def hub_card(api: HfApi, repo: str, tmp: Path, revision: str | None = None) -> ModelCard:
    path = api.hf_hub_download(repo, constants.CARD_FILE, revision=revision, cache_dir=tmp / f"c-{uuid.uuid4().hex[:8]}")
    return ModelCard(Path(path).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> SimpleNamespace:
    with HubServer(tmp_path_factory.mktemp("hub"), tokens=[f"alice={TOKEN}"]) as server:
        yield SimpleNamespace(server=server, api=HfApi(endpoint=server.url, token=TOKEN))


@pytest.fixture(scope="module")
def published(hub, tmp_path_factory) -> dict[str, SimpleNamespace]:
    """Four models pushed with their generated cards: two zoo models, a fine-tune, a user's model."""
    import keras
    from sklearn.datasets import load_iris

    from hub_publish import push_to_hub, save_pretrained
    from hub_publish.finetune import finetune
    from hub_publish.training import train

    root = tmp_path_factory.mktemp("published")
    out: dict[str, SimpleNamespace] = {}
    for name, cls in (("mnist", "MnistModel"), ("mnist-dict", "MnistDictModel")):
        result = train(cls, epochs=1, verbose=0)
        folder = save_pretrained(result.model, root / name, training_record=result.record, license="apache-2.0")
        pushed = push_to_hub(folder, f"alice/{name}", endpoint=hub.server.url, token=TOKEN)
        out[name] = SimpleNamespace(repo=f"alice/{name}", folder=folder, commit=pushed.commit_id, model=result.model)

    tuned = finetune("alice/mnist", positive_class=0, epochs=1, push="alice/zero-vs-rest", output_dir=root / "tuned",
                     endpoint=hub.server.url, token=TOKEN, verbose=0)
    out["finetuned"] = SimpleNamespace(repo="alice/zero-vs-rest", folder=tuned.folder, commit=tuned.push.commit_id,
                                       model=tuned.model)

    iris = load_iris()
    features = iris.data.astype("float32")
    normalize = keras.layers.Normalization(name="normalize")
    normalize.adapt(features)
    inputs = keras.Input((4,), name="measurements")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(normalize(inputs))
    user = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="species")(hidden), name="iris")
    user.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    user.fit(features, iris.target, epochs=2, verbose=0)
    folder = save_pretrained(user, root / "iris", tags=["tabular"])
    pushed = push_to_hub(folder, "alice/iris", endpoint=hub.server.url, token=TOKEN)
    out["user"] = SimpleNamespace(repo="alice/iris", folder=folder, commit=pushed.commit_id, model=user)
    return out


@pytest.mark.parametrize("name, minimum", [("mnist", 8), ("mnist-dict", 7), ("finetuned", 7), ("user", 3)])
def test_every_snippet_of_a_generated_card_runs_as_pasted(hub, published, tmp_path, name, minimum):
    entry = published[name]
    card = hub_card(hub.api, entry.repo, tmp_path)
    snippets = _PYTHON.findall(card.text)
    assert len(snippets) >= minimum, card.text
    for block in _JSON.findall(card.text):
        json.loads(block)
    assert "your-name/" not in card.text  # the pushed card names its repo
    results = run_snippets(snippets, hub.server, tmp_path / "run")
    for code, result in zip(snippets, results):
        assert result["error"] is None, f"snippet failed:\n{code}\n{result['error']}"
        # loading never warns about optimizer state the folder does not hold (compile_config kept)
        assert not [w for w in result["warnings"] if re.search(r"optimizer|compile", w, re.IGNORECASE)], (code, result)
    expected = _fingerprint(entry.model)
    loaded = [r["fingerprint"] for r in results if r["fingerprint"] is not None]
    assert loaded and all(abs(f - expected) <= 1e-4 * max(1.0, expected) for f in loaded), (loaded, expected)


def test_plain_keras_snippet_carries_its_own_import(published, hub, tmp_path):
    card = hub_card(hub.api, published["mnist"].repo, tmp_path)
    keras_snippet = next(s for s in _PYTHON.findall(card.text) if "keras.saving.load_model" in s)
    assert "import hub_publish.models.mnist" in keras_snippet and "compile=False" in keras_snippet


def test_revision_page_snippet_loads_that_revision(hub, published, tmp_path):
    """`?revision=v1` shows snippets pinned to v1 (sidebar and card): plain-Keras lines load v1, not main."""
    from hub_publish import push_to_hub, save_pretrained
    from hub_publish.training import train

    repo = f"alice/pinned-{uuid.uuid4().hex[:6]}"
    first = published["mnist"]
    v1 = push_to_hub(first.folder, repo, endpoint=hub.server.url, token=TOKEN)
    hub.api.create_tag(repo, tag="v1", revision=v1.commit_id)
    retrained = train("MnistModel", epochs=1, seed=7, verbose=0)
    folder = save_pretrained(retrained.model, tmp_path / "v2", training_record=retrained.record, license="apache-2.0")
    push_to_hub(folder, repo, endpoint=hub.server.url, token=TOKEN)

    for revision, model in (("v1", first.model), ("main", retrained.model)):
        page = httpx2.get(f"{hub.server.url}/{repo}", params={"revision": revision}, timeout=30).text
        if revision == "v1":  # the card's own snippets, as the v1 page shows them, load v1 too
            card_html = page.split('id="hp-card"', 1)[1].split("</main>")[0]
            shown = [html.unescape(c) for c in re.findall(r'<code class="language-python">(.*?)</code>', card_html, re.DOTALL)]
            assert len(shown) >= 8 and all('revision="v1"' in c for c in shown if repo in c)
            expected = _fingerprint(model)
            for code, result in zip(shown, run_snippets(shown, hub.server, tmp_path / "run-card-v1")):
                assert result["error"] is None, (code, result["error"])
                assert result["fingerprint"] is None or abs(result["fingerprint"] - expected) <= 1e-4 * expected, code
        shell = html.unescape(re.search(r'id="hp-snippet-shell">(.*?)</code>', page, re.DOTALL).group(1))
        code = html.unescape(re.search(r'id="hp-snippet-python">(.*?)</code>', page, re.DOTALL).group(1))
        assert shell == f"export HF_ENDPOINT={hub.server.url}"
        assert "HF_ENDPOINT" not in code  # the endpoint is the shell's, not a comment inside Python
        if revision == "v1":
            assert 'revision="v1"' in code and "hf://" not in code
        # each part of the Python snippet (hub-publish, then plain Keras) loads that revision
        parts = code.split("# or with plain Keras:\n")
        assert len(parts) == 2
        results = run_snippets(parts, hub.server, tmp_path / f"run-{revision}")
        expected = _fingerprint(model)
        for part, result in zip(parts, results):
            assert result["error"] is None, (part, result["error"])
            assert abs(result["fingerprint"] - expected) <= 1e-4 * expected, (revision, part)
            assert not [w for w in result["warnings"] if "optimizer" in w.lower()], result["warnings"]


def test_numbers_on_the_page_equal_the_commit_metadata_after_an_author_edit(hub, published, tmp_path):
    """Push, edit the card on the Hub (outside the generated blocks), push a retrained model: one truth."""
    from hub_publish import push_to_hub, save_pretrained
    from hub_publish.training import train

    repo = f"alice/truth-{uuid.uuid4().hex[:6]}"
    push_to_hub(published["mnist"].folder, repo, endpoint=hub.server.url, token=TOKEN)
    old = json.loads((published["mnist"].folder / constants.METADATA_FILE).read_text())[constants.META_ROOT]
    card = hub_card(hub.api, repo, tmp_path)
    card.text = card.text.replace("## Intended use\n", "## Intended use\n\nSorting my handwritten notes.\n", 1)
    card.text += "\n## Changelog\n\n- v1: first upload.\n"
    edited = tmp_path / "edited.md"
    card.save(edited)
    hub.api.upload_file(path_or_fileobj=str(edited), path_in_repo=constants.CARD_FILE, repo_id=repo,
                        commit_message="Author edits the card")

    retrained = train("MnistModel", epochs=2, seed=3, verbose=0)
    folder = save_pretrained(retrained.model, tmp_path / "v2", training_record=retrained.record, license="apache-2.0")
    from model_cards import CardConflictWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", CardConflictWarning)  # no conflict: the author wrote outside the blocks
        pushed = push_to_hub(folder, repo, endpoint=hub.server.url, token=TOKEN)

    final = hub_card(hub.api, repo, tmp_path, revision=pushed.commit_id)
    assert "Sorting my handwritten notes." in final.text and "- v1: first upload." in final.text
    new = retrained.record[constants.TRAIN_TEST_METRICS]
    old_metrics = old[constants.META_TRAINING][constants.TRAIN_TEST_METRICS]
    assert {r.metric_name: r.metric_value for r in final.data.eval_results} == new  # exactly
    page = httpx2.get(f"{hub.server.url}/{repo}", timeout=30).text
    card_html = html.unescape(page.split('id="hp-card"', 1)[1].split("</main>")[0])
    shown = set(re.findall(r"\b\d\.\d{4}\b", card_html + html.unescape(page.split('id="hp-eval-results"', 1)[1])))
    allowed = {f"{v:.4f}" for v in new.values()}
    assert shown and shown <= allowed, (shown, allowed)
    assert not ({f"{v:.4f}" for v in old_metrics.values()} - allowed) & shown
    assert "trained on scikit-learn digits (8x8) for 2 epochs" in card_html
    assert re.search(r"<td>Epochs</td>\s*<td>2</td>", card_html)


def test_finetuned_card_states_its_own_task_and_links_its_base_here(hub, published, tmp_path):
    card = hub_card(hub.api, published["finetuned"].repo, tmp_path)
    from model_cards import blocks

    parts = {b.name: b.content for b in blocks.parse(card.text)}
    assert "**binary** classifier: class 0 (“0”) vs rest" in parts["summary"]
    assert "10 classes" not in parts["intended_use"] and "binary task" in parts["intended_use"]
    assert "`0` → every other class, `1` → class 0 (“0”)" in parts["io"]
    assert "majority-class baseline" in parts["section:fine-tuning"]  # the fine-tune's own section, once
    assert card.text.count("## Fine-tuning") == 1
    page = httpx2.get(f"{hub.server.url}/{published['finetuned'].repo}", timeout=30).text
    base_commit = published["mnist"].commit
    assert f'href="/alice/mnist/tree/{base_commit}"' in page  # the base is on this server: its page here


def test_cli_push_reports_an_edit_inside_a_generated_block_in_one_line(hub, published, tmp_path):
    from click.testing import CliRunner

    from hub_publish.cli import main

    repo = f"alice/conflict-{uuid.uuid4().hex[:6]}"
    args = ["--endpoint", hub.server.url, "--token", TOKEN]
    assert CliRunner().invoke(main, ["push", str(published["mnist"].folder), repo, *args]).exit_code == 0
    card = hub_card(hub.api, repo, tmp_path)
    card.text = card.text.replace("| Batch size |", "| Batch size (per replica) |")
    edited = tmp_path / "edited.md"
    card.save(edited)
    hub.api.upload_file(path_or_fileobj=str(edited), path_in_repo=constants.CARD_FILE, repo_id=repo)
    result = CliRunner().invoke(main, ["push", str(published["mnist-dict"].folder), repo, *args])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "generated block" in line]
    assert len(lines) == 1 and lines[0].startswith("Warning: the card: your edits inside generated block(s) 'training_details'")
    final = hub_card(hub.api, repo, tmp_path)
    assert "| Batch size (per replica) |" in final.text  # kept
    assert "MnistDictModel" in final.text.split("## Inputs and outputs")[0]  # the rest follows the new model
