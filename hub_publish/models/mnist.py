"""The seed's MNIST classifiers, written in the Functional Subclassing pattern.

Both classes reproduce the Keras guide's architectures with their default arguments
(76,810 parameters) and accept images of any height and width. Every layer has an
explicit name, so a surgery recipe written against a model card (for example
``model.get_layer("classification_head")``) works in any process, whatever models the
process built before. The names (`LAYER_NAMES`) are ones Keras' automatic naming never
produces (it names an unnamed layer after its class: ``dense``, ``dropout``, ``rescaling``,
``conv2d_1``, ...), so a user's unnamed layers never collide with the zoo's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import keras

from hub_publish import constants
from hub_publish.base import HubModel

IMAGE_KEY = "image"
# The zoo's layer names, in graph order (conv_1.. repeats per convolution). None of them is the
# snake_case name of a Keras class, which is what Keras gives an unnamed layer.
LAYER_NAMES = ("image", "pixel_scaling", "conv_1", "global_pool", "hidden", "head_dropout", constants.DEFAULT_HEAD_LAYER)


def _check_hparams(
    num_classes: int,
    conv_filters: Sequence[int],
    conv_kernel_sizes: Sequence[int],
    conv_strides: Sequence[int],
    dense_units: int,
    dropout_rate: float,
    input_channels: int,
) -> None:
    if not (len(conv_filters) == len(conv_kernel_sizes) == len(conv_strides)) or not conv_filters:
        raise ValueError(
            "conv_filters, conv_kernel_sizes and conv_strides must be non-empty and of the same "
            f"length; got {list(conv_filters)}, {list(conv_kernel_sizes)}, {list(conv_strides)}"
        )
    for name, value in (("num_classes", num_classes), ("dense_units", dense_units), ("input_channels", input_channels)):
        if int(value) < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if not 0.0 <= float(dropout_rate) < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1); got {dropout_rate!r}")


def _classifier(
    image: keras.KerasTensor,
    *,
    num_classes: int,
    conv_filters: Sequence[int],
    conv_kernel_sizes: Sequence[int],
    conv_strides: Sequence[int],
    dense_units: int,
    dropout_rate: float,
    head_activation: str,
) -> keras.KerasTensor:
    """The seed's layer stack, from a uint8 image tensor to class probabilities."""
    # pixel format conversion from uint8 to float32
    y = keras.layers.Rescaling(1 / 255.0, name="pixel_scaling")(image)
    for i, (filters, kernel, stride) in enumerate(zip(conv_filters, conv_kernel_sizes, conv_strides), 1):
        y = keras.layers.Conv2D(
            filters=int(filters),
            kernel_size=int(kernel),
            strides=int(stride),
            padding="same",
            activation="relu",
            name=f"conv_{i}",
        )(y)
    y = keras.layers.GlobalAveragePooling2D(name="global_pool")(y)
    y = keras.layers.Dense(int(dense_units), activation="relu", name="hidden")(y)
    y = keras.layers.Dropout(float(dropout_rate), name="head_dropout")(y)
    return keras.layers.Dense(
        int(num_classes), activation=head_activation, name=constants.DEFAULT_HEAD_LAYER
    )(y)


class _MnistBase(HubModel):
    """The seed's classifier; subclasses choose a plain or a dictionary input (not registered itself)."""

    head_layer = constants.DEFAULT_HEAD_LAYER
    _dict_inputs = False

    def __init__(
        self,
        num_classes: int = 10,
        conv_filters: Sequence[int] = (16, 32, 48),
        conv_kernel_sizes: Sequence[int] = (3, 6, 6),
        conv_strides: Sequence[int] = (1, 2, 2),
        dense_units: int = 48,
        dropout_rate: float = 0.4,
        input_channels: int = 1,
        head_activation: str = "softmax",
        **kwargs: Any,
    ) -> None:
        _check_hparams(
            num_classes, conv_filters, conv_kernel_sizes, conv_strides, dense_units, dropout_rate, input_channels
        )
        hparams = {
            "num_classes": int(num_classes),
            "conv_filters": [int(f) for f in conv_filters],
            "conv_kernel_sizes": [int(k) for k in conv_kernel_sizes],
            "conv_strides": [int(s) for s in conv_strides],
            "dense_units": int(dense_units),
            "dropout_rate": float(dropout_rate),
            "input_channels": int(input_channels),
            "head_activation": str(head_activation),
        }
        # 1-channel (by default) monochrome uint8 image of any height and width
        image = keras.Input(shape=(None, None, hparams["input_channels"]), dtype="uint8", name=IMAGE_KEY)
        outputs = _classifier(image, **{k: v for k, v in hparams.items() if k != "input_channels"})
        inputs = {IMAGE_KEY: image} if self._dict_inputs else image
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # A JSON string, not a dict: Keras would wrap a dict attribute in its variable tracker.
        self._hparams_json = json.dumps(hparams)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable, **json.loads(self._hparams_json)}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> "_MnistBase":
        return cls(**config)


@keras.saving.register_keras_serializable(package=constants.KERAS_PACKAGE)
class MnistModel(_MnistBase):
    """The seed's MNIST classifier: uint8 image (any height and width) -> class probabilities.

    With default arguments: Rescaling(1/255) -> Conv2D 16/3 -> Conv2D 32/6 stride 2 -> Conv2D 48/6
    stride 2 -> GlobalAveragePooling2D -> Dense 48 relu -> Dropout 0.4 -> Dense 10 softmax named
    ``classification_head``; 76,810 parameters.

    Args:
        num_classes: Size of the head.
        conv_filters: Filters of each convolution.
        conv_kernel_sizes: Kernel size of each convolution.
        conv_strides: Stride of each convolution.
        dense_units: Units of the hidden dense layer.
        dropout_rate: Dropout rate before the head.
        input_channels: Channels of the input image.
        head_activation: Activation of the head.
        **kwargs: Passed to `keras.Model` (`name`, `trainable`).
    """


@keras.saving.register_keras_serializable(package=constants.KERAS_PACKAGE)
class MnistDictModel(_MnistBase):
    """`MnistModel` with dictionary inputs: ``{"image": uint8 (H, W, channels)}``.

    Takes the same arguments as `MnistModel`.
    """

    _dict_inputs = True
