"""The card's images: training curves (matplotlib, Agg) and the layer graph (Keras ``plot_model``).

Both are written into the model folder and referenced relatively by the card. Neither ever fails
the card: a missing history means no curves, a missing pydot/graphviz means a note instead of
the graph.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub_publish.text import first_line

if TYPE_CHECKING:  # pragma: no cover
    import keras

_TRAIN_COLOR = "#1f77b4"
_VAL_COLOR = "#ff7f0e"


def training_curves(history: Mapping[str, Sequence[float | None]], path: str | os.PathLike) -> Path | None:
    """Plot a Keras ``history.history`` as one panel per metric, training and validation together.

    Args:
        history: ``{metric: [value per epoch]}``, ``val_<metric>`` for validation values.
        path: The PNG to write.

    Returns:
        The PNG's path, or ``None`` when the history holds nothing to plot (nothing is written).
    """
    panels = _panels(history)
    if not panels:
        return None
    # The object API (no pyplot): no global figure state, no GUI backend, thread-safe enough.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * len(panels), 3.3), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    for ax, (metric, train, val) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        for values, label, color, marker in ((train, "training", _TRAIN_COLOR, "o"), (val, "validation", _VAL_COLOR, "s")):
            points = [(i + 1, v) for i, v in enumerate(values or []) if v is not None]
            if points:
                ax.plot(*zip(*points), label=label, color=color, marker=marker, markersize=3.5, linewidth=1.6)
        ax.set_title(metric.replace("_", " "), fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8, frameon=False)
    path = Path(path)
    fig.savefig(path, format="png", metadata={"Software": None})  # no version stamp: stable bytes
    return path


def model_graph(model: "keras.Model", path: str | os.PathLike) -> tuple[Path | None, str | None]:
    """Draw the model's layer graph with ``keras.utils.plot_model`` (shapes and dtypes shown).

    Args:
        model: The model.
        path: The PNG to write.

    Returns:
        ``(path, None)`` when drawn, else ``(None, note)`` with a one-line reason for the card
        (pydot or the graphviz ``dot`` program missing, or any plotting error).
    """
    import keras

    path = Path(path)
    try:
        keras.utils.plot_model(
            model, to_file=str(path), show_shapes=True, show_dtype=True, show_layer_names=True, dpi=80, expand_nested=True
        )
    except Exception as exc:  # noqa: BLE001  (ImportError for pydot/graphviz, OSError from dot, ...)
        path.unlink(missing_ok=True)
        reason = first_line(exc)
        return None, f"The layer graph was not drawn: {reason.rstrip('.')}. Install pydot and graphviz, then run `hub-publish card FOLDER`."
    if not path.is_file():  # plot_model prints and returns in notebooks instead of raising
        return None, "The layer graph was not drawn: pydot or graphviz is not installed."
    return path, None


def _panels(history: Mapping[str, Sequence[Any]]) -> list[tuple[str, Sequence[Any], Sequence[Any] | None]]:
    """``(metric, training values, validation values)`` per metric, loss first."""
    names = [k for k in history if not k.startswith("val_") and _has_values(history[k])]
    names += [k[4:] for k in history if k.startswith("val_") and k[4:] not in history and _has_values(history[k])]
    names.sort(key=lambda k: (k != "loss", k))
    return [(k, history.get(k) or [], history.get(f"val_{k}")) for k in names]


def _has_values(values: Any) -> bool:
    return isinstance(values, Sequence) and not isinstance(values, str) and any(v is not None for v in values)
