"""The model zoo: functional-subclassed Keras models, registered under ``hub_publish>``.

Importing this package imports Keras (and so the configured backend).
"""

from hub_publish.models.mnist import MnistDictModel, MnistModel

__all__ = ["MnistModel", "MnistDictModel"]
