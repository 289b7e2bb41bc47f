"""The conformance corpus: real models this project did not write, as users build them.

Keras applications (weights=None), keras-hub backbones (tiny configs, no download), a Sequential,
adapted preprocessing layers (StringLookup, IntegerLookup, TextVectorization, Normalization,
Discretization), nested and multi-input/multi-output models, a registered custom layer, and plain
models whose layers Keras named itself. Used by tests/test_conformance.py; this module is also
imported by its fresh-process worker (``trusted_modules=["conformance_models"]``).

Each builder returns ``(model, inputs)``; ``inputs`` is what ``model.predict`` takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="conformance_models")
class ScaledDense(keras.layers.Layer):
    """A user's custom layer: Dense with a learned scalar scale."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units)

    def build(self, input_shape: Any) -> None:
        self.dense.build(input_shape)
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, x: Any) -> Any:
        return self.dense(x) * self.scale

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def mobilenet_v3_small() -> tuple[keras.Model, Any]:
    model = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=4)
    return model, _rng().uniform(0, 255, (4, 32, 32, 3)).astype("float32")


def efficientnet_v2_b0() -> tuple[keras.Model, Any]:
    model = keras.applications.EfficientNetV2B0(input_shape=(32, 32, 3), weights=None, classes=4)
    return model, _rng().uniform(0, 255, (4, 32, 32, 3)).astype("float32")


def sequential() -> tuple[keras.Model, Any]:
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    return model, _rng().normal(size=(4, 6)).astype("float32")


def plain_unnamed() -> tuple[keras.Model, Any]:
    inputs = keras.Input((5,))
    x = keras.layers.Dense(8, activation="relu")(inputs)
    x = keras.layers.Dropout(0.1)(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x)), _rng().normal(size=(4, 5)).astype("float32")


WORDS = np.array([["cat"], ["dog"], ["bird"], ["cat"], ["fish"], ["dog"]])


def string_lookup() -> tuple[keras.Model, Any]:
    lookup = keras.layers.StringLookup()
    lookup.adapt(WORDS)
    inputs = keras.Input((1,), dtype="string")
    x = keras.layers.Flatten()(keras.layers.Embedding(lookup.vocabulary_size(), 4)(lookup(inputs)))
    return keras.Model(inputs, keras.layers.Dense(2)(x)), np.array([["dog"], ["fish"], ["cat"], ["unknown"]])


def text_vectorization() -> tuple[keras.Model, Any]:
    texts = np.array([["the cat sat"], ["a dog ran far"], ["the bird sang"], ["dogs and cats"]])
    vectorize = keras.layers.TextVectorization(max_tokens=30, output_sequence_length=5)
    vectorize.adapt(texts)
    inputs = keras.Input((1,), dtype="string")
    x = keras.layers.Embedding(30, 4)(vectorize(inputs))
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x)), np.array([["the dog sat"], ["cats ran"], ["a bird"], ["zebra"]])


def integer_lookup() -> tuple[keras.Model, Any]:
    lookup = keras.layers.IntegerLookup(output_mode="one_hot")
    lookup.adapt(np.array([[3], [7], [7], [42], [3]]))
    inputs = keras.Input((1,), dtype="int64")
    return keras.Model(inputs, keras.layers.Dense(2)(lookup(inputs))), np.array([[7], [42], [3], [5]], dtype="int64")


def normalization() -> tuple[keras.Model, Any]:
    data = _rng().normal(3.0, 2.0, size=(64, 4)).astype("float32")
    norm = keras.layers.Normalization()
    norm.adapt(data)
    bins = keras.layers.Discretization(num_bins=4)
    bins.adapt(data[:, :1])
    inputs = keras.Input((4,))
    x = keras.layers.Dense(4)(norm(inputs))
    binned = keras.layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")(bins(inputs[:, :1]))
    out = keras.layers.Dense(2)(keras.layers.Concatenate()([x, binned]))
    return keras.Model(inputs, out), data[:4]


def nested_multi_io() -> tuple[keras.Model, Any]:
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    inner = keras.Model({"a": a, "b": b}, keras.layers.Dense(4, activation="relu")(keras.layers.Concatenate()([a, b])), name="encoder")
    x_a, x_b = keras.Input((3,), name="x_a"), keras.Input((2,), name="x_b")
    features = inner({"a": x_a, "b": x_b})
    outputs = {"label": keras.layers.Dense(3, activation="softmax", name="label")(features),
               "score": keras.layers.Dense(1, name="score")(features)}
    rng = _rng()
    return keras.Model({"x_a": x_a, "x_b": x_b}, outputs), {"x_a": rng.normal(size=(4, 3)).astype("float32"),
                                                            "x_b": rng.normal(size=(4, 2)).astype("float32")}


def multi_output_list() -> tuple[keras.Model, Any]:
    x1, x2 = keras.Input((4,)), keras.Input((2,))
    h = keras.layers.Dense(6)(keras.layers.Concatenate()([x1, x2]))
    rng = _rng()
    return keras.Model([x1, x2], [keras.layers.Dense(2)(h), keras.layers.Dense(1)(h)]), [
        rng.normal(size=(4, 4)).astype("float32"), rng.normal(size=(4, 2)).astype("float32")]


def custom_layer() -> tuple[keras.Model, Any]:
    inputs = keras.Input((3,))
    return keras.Model(inputs, ScaledDense(2)(inputs)), _rng().normal(size=(4, 3)).astype("float32")


def bert_backbone() -> tuple[keras.Model, Any]:
    import keras_hub

    model = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
                                          intermediate_dim=16, max_sequence_length=8)
    ids = _rng().integers(0, 50, size=(4, 8)).astype("int32")
    return model, {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids)}


def vit_backbone() -> tuple[keras.Model, Any]:
    import keras_hub

    model = keras_hub.models.ViTBackbone(image_shape=(16, 16, 3), patch_size=8, num_layers=1, num_heads=2, hidden_dim=8, mlp_dim=16)
    return model, _rng().uniform(0, 1, (4, 16, 16, 3)).astype("float32")


@dataclass(frozen=True)
class Entry:
    build: Callable[[], tuple[keras.Model, Any]]
    any_backend: bool  # string/lookup inputs run on TensorFlow only (tf.data territory)
    assets: bool = False  # state kept as Keras assets (vocabularies)
    trusted: tuple[str, ...] = ()


CORPUS: dict[str, Entry] = {
    "mobilenet_v3_small": Entry(mobilenet_v3_small, True),
    "efficientnet_v2_b0": Entry(efficientnet_v2_b0, True),
    "sequential": Entry(sequential, True),
    "plain_unnamed": Entry(plain_unnamed, True),
    "string_lookup": Entry(string_lookup, False, assets=True),
    "text_vectorization": Entry(text_vectorization, False, assets=True),
    "integer_lookup": Entry(integer_lookup, False, assets=True),
    "normalization": Entry(normalization, True),
    "nested_multi_io": Entry(nested_multi_io, True),
    "multi_output_list": Entry(multi_output_list, True),
    "custom_layer": Entry(custom_layer, True, trusted=("conformance_models",)),
    "bert_backbone": Entry(bert_backbone, True, trusted=("keras_hub",)),
    "vit_backbone": Entry(vit_backbone, True, trusted=("keras_hub",)),
}
