"""Every file name, metadata key and environment setting of hub-publish, defined once.

Environment settings of the Hub *client* (``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_OFFLINE``,
``HF_TOKEN``, ...) are huggingface_hub's own and are read by huggingface_hub; they are not
redefined here. This module only holds hub-publish's settings.

This module must stay import-light: no TensorFlow, no Keras.
"""

from __future__ import annotations

import os

# --------------------------------------------------------------------------------------
# Folder format (a packaged model folder == Keras' own unzipped `.keras` layout + extras)
# --------------------------------------------------------------------------------------
CONFIG_FILE = "config.json"  # Keras serialization of the model (Keras' own name)
METADATA_FILE = "metadata.json"  # Keras' metadata + hub-publish's keys below
WEIGHTS_FILE = "model.weights.h5"  # Keras' own weights file name
WEIGHTS_INDEX_FILE = "model.weights.json"  # Keras' sharded-weights index (save_weights(max_shard_size=))
WEIGHTS_SHARD_GLOB = "model_*.weights.h5"  # shard names Keras writes next to the index
ASSETS_DIR = "assets"  # Keras layer assets (vocabularies, ...), the folder a .keras archive has

CARD_FILE = "README.md"  # model card
GRAPH_FILE = "graph.json"  # class-free functional DAG of the model
TRAINING_CURVES_FILE = "training_curves.png"
MODEL_PLOT_FILE = "model.png"

# --------------------------------------------------------------------------------------
# metadata.json keys
# --------------------------------------------------------------------------------------
# Written by Keras itself (saving_lib) and kept with Keras' meaning.
META_KERAS_VERSION = "keras_version"
META_DATE_SAVED = "date_saved"
# hub-publish's own keys live under one sub-object so Keras' keys never collide with ours.
META_ROOT = "hub_publish"
META_FORMAT_VERSION = "format_version"
META_VERSION = "version"  # hub-publish version that wrote the folder
META_BACKEND = "backend"
META_CLASS_NAME = "class_name"  # e.g. "MnistModel"
META_REGISTERED_NAME = "registered_name"  # e.g. "hub_publish>MnistModel"
META_MODULE = "module"  # python module defining the class
META_PARAMETER_COUNT = "parameter_count"
META_INPUTS = "inputs"  # input spec: [{name, shape, dtype, key?}]
META_OUTPUTS = "outputs"  # output spec: [{name, shape, dtype}]
META_INPUT_STRUCTURE = "input_structure"  # "single" | "list" | "dict"
META_FILES = "files"  # the manifest: {relative path: {sha256, size}} of every file the loader reads
META_SHA256 = "sha256"
META_SIZE = "size"
META_HEAD_LAYER = "head_layer"  # name of the classification head, for surgery recipes
META_CLASS_NAMES = "class_names"  # [name of class 0, name of class 1, ...] when known (id2label)
META_TRAINING = "training"  # training record (see hub_publish.training)
META_BASE_MODEL = "base_model"  # lineage: {repo_id, revision, relation}
META_LIBRARY_VERSIONS = "library_versions"
META_BACKEND_LAYERS = "backend_layers"  # {layer name: {class_name, backends}}: backend-only layers
META_CLASS_NAMES = "class_names"  # [label of output index i] (or {index: label}), when known: shown on the card

FORMAT_VERSION = 1

# Training record keys (under META_TRAINING)
TRAIN_DATASET = "dataset"
TRAIN_EPOCHS = "epochs"
TRAIN_BATCH_SIZE = "batch_size"
TRAIN_STEPS_PER_EPOCH = "steps_per_epoch"
TRAIN_OPTIMIZER = "optimizer"
TRAIN_OPTIMIZER_CONFIG = "optimizer_config"
TRAIN_LOSS = "loss"
TRAIN_METRICS = "metrics"
TRAIN_HISTORY = "history"  # {metric name: [value per epoch]}
TRAIN_TEST_METRICS = "test_metrics"  # {metric name: value}
TRAIN_WALL_TIME = "wall_time_s"
TRAIN_HARDWARE = "hardware"
TRAIN_BACKEND = "backend"
TRAIN_LIBRARY_VERSIONS = "library_versions"
TRAIN_NUM_TRAIN_EXAMPLES = "num_train_examples"
TRAIN_NUM_TEST_EXAMPLES = "num_test_examples"
TRAIN_TEST_SPLIT = "test_split"
TRAIN_DISTRIBUTE = "distribute"
TRAIN_SEED = "seed"
TRAIN_NUM_VALIDATION_EXAMPLES = "num_validation_examples"
TRAIN_VALIDATION_SPLIT = "validation_split"  # how the validation split was made, in words (None: no validation)
TRAIN_VALIDATION_METRICS = "validation_metrics"  # {metric: value} on the validation split after the last epoch
TRAIN_CLASS_NAMES = "class_names"  # class names by label index (folder names, ...), None when unknown
TRAIN_CALLBACKS = "callbacks"  # class names of the user's Keras callbacks
# Keys of the training record's dataset description (TRAIN_DATASET) that cards read when present.
DATASET_CLASS_NAMES = "class_names"
DATASET_INPUT_RANGE = "input_range"  # [min, max] of the input values fed in training (card: what to feed)

# --------------------------------------------------------------------------------------
# Keras backends (see hub_publish.backends and docs/backends.md)
# --------------------------------------------------------------------------------------
KERAS_BACKENDS = ("tensorflow", "jax", "torch")  # the backends hub-publish runs and is tested under
ENV_KERAS_BACKEND = "KERAS_BACKEND"  # Keras' own setting; named in error messages, read by Keras
# Keras layers that wrap one backend's native code, and the backends each runs under. A model
# holding one loads only under those backends; every other model loads under any backend.
BACKEND_ONLY_LAYERS = {
    "TorchModuleWrapper": ("torch",),  # a torch.nn.Module
    "JaxLayer": ("jax", "tensorflow"),  # JAX functions (TensorFlow through jax2tf)
    "FlaxLayer": ("jax", "tensorflow"),  # a Flax module
    "TFSMLayer": ("tensorflow",),  # a TensorFlow SavedModel
}

# Keras registration package of hub-publish's own classes
KERAS_PACKAGE = "hub_publish"
# Module prefixes trusted by the loader without the caller naming them
TRUSTED_MODULE_PREFIXES = ("hub_publish", "keras")

# Default head layer name in the zoo (the seed's name)
DEFAULT_HEAD_LAYER = "classification_head"

# --------------------------------------------------------------------------------------
# Environment settings of hub-publish (read once, here)
# --------------------------------------------------------------------------------------
ENV_DATA_DIR = "HUB_PUBLISH_DATA_DIR"  # where the embedded Hub server stores repos by default
ENV_SERVER_CONFIG = "HUB_PUBLISH_SERVER_CONFIG"  # users/tokens config file of the embedded server
ENV_SERVER_TOKENS = "HUB_PUBLISH_SERVER_TOKENS"  # "user=token,user2=token2[:org1:org2]"
ENV_MAX_UPLOAD = "HUB_PUBLISH_MAX_UPLOAD_BYTES"
ENV_TFDS_DATA_DIR = "TFDS_DATA_DIR"  # tensorflow-datasets' own setting, honoured for `mnist`

DEFAULT_DATA_DIR = os.path.expanduser(os.environ.get(ENV_DATA_DIR, "~/.cache/hub_publish/hub"))


def _positive_int_setting(name: str, default: int) -> int | None:
    """An integer environment setting; None when it is set to something else (the command using it refuses it)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value > 0 else None


# None: HUB_PUBLISH_MAX_UPLOAD_BYTES is set but not a positive integer; `serve` refuses it in one line (an
# exception here would break `import hub_publish` and every command, `--help` included).
DEFAULT_MAX_UPLOAD_BYTES: int | None = _positive_int_setting(ENV_MAX_UPLOAD, 5 * 1024**3)

# The public Hub; pushes to any other endpoint disable Xet (see docs/hub.md).
PUBLIC_HUB_ENDPOINT = "https://huggingface.co"
# Shapes of the Hub's hashes (hub_publish.text.is_commit_sha / is_sha256 test them; the server's
# request schemas use the patterns). Lowercase hex, as git, the Hub and huggingface_hub write them.
COMMIT_SHA_PATTERN = r"[0-9a-f]{40}"  # a git commit id
SHA256_PATTERN = r"[0-9a-f]{64}"  # a sha256 digest: manifest entries, LFS oids, Xet hashes

# --------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------
# Settings of the embedded Hub-compatible server (hub_publish.server). Env settings are read
# here and only here; the server module reads these names.
SERVER_TOKENS_SPEC = os.environ.get(ENV_SERVER_TOKENS, "")  # "user=token[:org...],user2=token2"
SERVER_CONFIG_PATH = os.environ.get(ENV_SERVER_CONFIG) or None  # JSON or YAML users file
DEFAULT_SERVER_HOST = "127.0.0.1"
DEFAULT_SERVER_PORT = 8000
# The Hub's rule, mimicked by the preupload endpoint: a file goes through LFS when it is at
# least this big, or when a `filter=lfs` pattern of the repo's .gitattributes matches it.
SERVER_LFS_THRESHOLD_BYTES = 10 * 1024 * 1024
SERVER_TREE_PAGE_SIZE = 1000  # entries per page of the tree listing (the Hub's number)
SERVER_TREE_PAGE_SIZE_EXPAND = 50  # ... when `expand=True` (the Hub's number)
SERVER_LIST_PAGE_SIZE = 1000  # repos per page of /api/models
SERVER_SIGNED_URL_TTL_S = 3600  # lifetime of LFS upload URLs and Xet CAS tokens
SERVER_STARTUP_TIMEOUT_S = 30.0  # how long HubServer waits for a subprocess server to answer
# Bounds of the server (docs/hub.md, "Limits"): every request's memory is bounded by these.
SERVER_MAX_JSON_BODY_BYTES = 16 * 1024 * 1024  # JSON API bodies (preupload lists, LFS batch, ...)
SERVER_MAX_SHARD_BYTES = 64 * 1024 * 1024  # one Xet shard (file metadata only; xorbs are streamed)
SERVER_XET_MAX_CHUNK_BYTES = 16 * 1024 * 1024  # one decompressed Xet chunk (hf_xet writes <= 128 KiB)
SERVER_CARD_MAX_BYTES = 1_000_000  # README.md larger than this: no cardData, no rendered page
SERVER_CARD_METADATA_MAX_BYTES = 256 * 1024  # YAML front matter larger than this is ignored
SERVER_CARD_METADATA_MAX_NODES = 100_000  # values in the front matter after alias expansion
SERVER_CARD_METADATA_MAX_DEPTH = 64  # nesting depth of the front matter
# Garbage collection (`hub-publish serve --gc`): temp files, upload markers, xorbs and unreachable
# commits younger than this are kept, so an upload or commit in flight is never collected.
SERVER_GC_GRACE_S = 2 * SERVER_SIGNED_URL_TTL_S
SERVER_TMP_STALE_S = 600  # at start-up, tmp/ files untouched this long are removed (a live upload writes)

# --------------------------------------------------------------------------------------
# Model cards (model_cards package)
# --------------------------------------------------------------------------------------
# The card's YAML carries one hub-publish object: hashes of what hub-publish generated, so a
# later push can tell an author's edit on the Hub from its own output (see model_cards.merge).
CARD_META_ROOT = "hub_publish"
CARD_BODY_SHA256 = "card_body_sha256"  # sha256 of the generated Markdown body
CARD_METADATA_SHA256 = "card_metadata_sha256"  # sha256 of the generated YAML (without this object)
CARD_REPO_ID = "repo_id"  # the repo the card's snippets name (recorded on push; `hub-publish card` reuses it)
# The Hub's `base_model_relation` values (hub-docs modelcard spec).
BASE_MODEL_RELATIONS = ("adapter", "merge", "quantized", "finetune")
# Keys of the lineage record (META_BASE_MODEL) in metadata.json.
BASE_REPO_ID = "repo_id"
BASE_REVISION = "revision"
BASE_RELATION = "relation"
BASE_PATH = "path"  # a local base folder (no repo to pin)
RELATION_FINETUNE = "finetune"
FINETUNE_RECORD = "finetune"  # training-record key of the fine-tune details (fine-tuned models only)
