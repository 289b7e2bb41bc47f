"""Errors hub-publish raises for bad input. Each message says what is wrong and what to do."""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

# Whether the code runs under the hub-publish command line, so that a message names the option of
# the interface the user used: ``--token`` on the command line, ``token=`` in Python.
_UNDER_CLI: contextvars.ContextVar[bool] = contextvars.ContextVar("hub_publish_under_cli", default=False)


@contextlib.contextmanager
def command_line_messages() -> Iterator[None]:
    """Inside this block, `option` names the command line's options (the CLI runs each command in it)."""
    reset = _UNDER_CLI.set(True)
    try:
        yield
    finally:
        _UNDER_CLI.reset(reset)


def option(python: str, cli: str) -> str:
    """An option as the user's interface spells it.

    Args:
        python: The Python spelling, e.g. ``"token="``.
        cli: The command line's, e.g. ``"--token"``.

    Returns:
        ``cli`` inside `command_line_messages`, else ``python``.
    """
    return cli if _UNDER_CLI.get() else python


class HubPublishWarning(UserWarning):
    """It worked, but not exactly as asked (class-free fallback, newer Keras, re-initialised layers,
    a cached copy used after the Hub refused the token, unexpected files pushed, ...)."""


# The frames a warning skips to reach the user's line: hub_publish and model_cards, and
# contextlib (our context managers run inside its __enter__ / __exit__).
_OUR_DIRS = (
    *(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), name) + os.sep
      for name in ("hub_publish", "model_cards")),
    os.path.abspath(contextlib.__file__),
)


def warn(message: str, category: type[Warning] = HubPublishWarning) -> None:
    """``warnings.warn`` attributed to the user's line: the first caller outside hub-publish.

    A fixed ``stacklevel`` is right for one call path only (``from_pretrained`` called directly or
    through ``MnistModel.from_pretrained``, a push of a folder or of a model); Python 3.12's
    ``skip_file_prefixes`` does this, but 3.11 is supported, so the level is counted here.
    """
    import sys
    import warnings

    level, frame = 2, sys._getframe(1)  # level 2: warn()'s caller
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_OUR_DIRS):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class HubPublishError(Exception):
    """Base class: a user-facing error whose message is one clear line."""


class ModelFolderError(HubPublishError):
    """A model folder (local or downloaded) is missing, incomplete or unreadable."""


class IntegrityError(ModelFolderError):
    """A weights file does not match the sha256 / size recorded in metadata.json.

    Attributes:
        path: The file that failed the check (None when unknown).
    """

    def __init__(self, message: str, path: os.PathLike[str] | str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ClassMismatchError(HubPublishError):
    """``Cls.from_pretrained`` was pointed at a folder that holds another class."""


class UnsafeModelError(HubPublishError):
    """Loading would need to run code from the folder (e.g. a Lambda with bytecode)."""


class UnknownLayersError(HubPublishError):
    """The class-free graph needs custom layers that are not registered."""


class SurgeryError(HubPublishError):
    """A model edit (cut, new head, freeze) cannot be done as asked: unknown layer, ambiguous cut, ..."""


class BackendError(HubPublishError):
    """The model holds a layer that runs only under another Keras backend (e.g. a TorchModuleWrapper under JAX)."""


class DataError(HubPublishError, ValueError):
    """Training data that cannot be used as given: wrong shapes, label counts, an empty folder, mismatched x/y."""
