"""Model surgery: the Keras guide's "slice and splice the layer graph" recipe as four functions.

The guide re-heads a model by hand::

    y = model.get_layer("classification_head").input            # cut before the head
    output = keras.layers.Dense(1, activation="sigmoid", name="binary_classification_head")(y)
    binary_model = keras.Model(model.input, output)               # a new functional model

which is ``replace_head(model, 1, activation="sigmoid")`` here. The functions work on any Keras
functional model: a functional subclass such as ``MnistModel`` or ``MnistDictModel``, the class-free
``Functional`` that `hub_publish.from_pretrained` returns when a model's class is not available,
and a plain ``keras.Model(inputs, outputs)``.

What the results are:

* ``replace_head``, ``feature_extractor`` and ``add_heads`` return a new plain Keras
  ``Functional`` built on the *same layer objects* as ``model`` (only new heads are new layers).
  The weights are shared, not copied: training the result trains ``model``'s layers too, and
  ``freeze`` on either model freezes the layer in both. Clone first
  (``keras.models.clone_model(model)`` + ``set_weights``) to edit an independent copy.
* Inputs keep their structure: a model taking ``{"image": ...}`` still takes ``{"image": ...}``.
* The results are ordinary functional models: ``hub_publish.save_pretrained`` /
  ``push_to_hub`` publish them and ``from_pretrained`` or ``keras.saving.load_model`` load them
  back. Wrap one in a registered ``HubModel`` subclass to give it a class of its own.

Where to cut is named by layer (``at=``): the cut is the *input* of that layer, like the guide's
``model.get_layer(at).input``. A layer name that does not exist, a layer used more than once in
the graph, or a cut that does not separate the graph (a layer after the cut also reads a tensor
from before it without going through the cut, as a skip connection around the head would) raise
`hub_publish.errors.SurgeryError` with a one-line explanation.

Only Keras APIs are used (no TensorFlow, JAX or PyTorch ops), so surgery works under any backend.
Changing ``trainable`` only takes effect for training after the model is (re)compiled.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Union

from hub_publish import constants
from hub_publish.errors import SurgeryError
from hub_publish.text import first_line

if TYPE_CHECKING:  # pragma: no cover
    import keras
    from keras.src.ops.node import Node  # a type hint only: Keras exports no name for a graph node

#: A new head: a number of units, a Dense spec ``{"units", "activation", "name", ...}``, or a layer.
HeadSpec = Union[int, Mapping[str, Any], "keras.layers.Layer"]

BINARY_HEAD_NAME = "binary_classification_head"


def replace_head(
    model: "keras.Model",
    new_head: HeadSpec,
    *,
    at: str | None = None,
    activation: str | None = None,
    name: str | None = None,
) -> "keras.Model":
    """Cut ``model`` at the input of layer ``at`` and put ``new_head`` there instead.

    Layer ``at`` and everything between it and the output it feeds are dropped; the new head
    is called on the tensor(s) layer ``at`` received. On a multi-output model only the output
    fed through ``at`` is replaced (the others stay, in the same list position or dict key).

    Args:
        model: A Keras functional model (functional subclass, class-free Functional or plain).
        new_head: The new head: a number of classes (a ``Dense`` layer), a ``Dense`` spec such as
            ``{"units": 1, "activation": "sigmoid", "name": "is_zero"}``, or a Keras layer, used
            as it is (an unnamed ``keras.layers.Dense(1)`` is fine).
        at: Name of the layer to replace (default: the model's recorded ``head_layer``, from its
            metadata.json or its class, else ``"classification_head"``).
        activation: Activation of a head built from a number or spec (default: ``"sigmoid"``
            for one unit, else ``"softmax"``). Not allowed with a layer instance.
        name: Layer name of a head built from a number or spec (default:
            ``"binary_classification_head"`` for one sigmoid unit, else ``"classification_head"``,
            with a ``_2``, ``_3``, ... suffix when the model already has a layer of that name).
            Not allowed with a layer instance.

    Returns:
        A new plain ``Functional`` with ``model``'s inputs (same structure), sharing every kept
        layer (and its weights) with ``model``.

    Raises:
        SurgeryError: ``at`` is not a layer of ``model`` (the message lists the valid names), is
            used more than once in the graph, feeds several outputs, or the cut does not separate
            the graph; the head spec is invalid or its name is already taken.
    """
    import keras

    at = at or recorded_head_layer(model)
    model = _as_functional(model)
    node = _single_node(model, at)
    cut = _cut_tensors(node, at, side="input")
    head = _build_head(new_head, activation=activation, name=name or _free_default_name(model, new_head, activation, at))
    flat_outputs = keras.tree.flatten(model.output)
    graph = _Graph(model)
    replaced = [t for t in flat_outputs if graph.depends_on(_producer(t), node)]
    if len(replaced) != 1:
        names = ", ".join(sorted(_producer(t).operation.name for t in replaced))
        raise SurgeryError(
            f"layer {at!r} feeds {len(replaced)} outputs ({names}); replace_head swaps one head: cut at a layer "
            "that feeds a single output, or use add_heads on a feature_extractor"
        )
    removed = graph.between(node, _producer(replaced[0]))
    _check_separates(removed, node, cut, at)
    kept = {n.operation.name for n in graph.nodes if n not in removed}
    _check_free_name(head.name, kept, model, layer_instance=_is_layer(new_head))

    new_output = _call_head(head, cut, at)
    outputs = keras.tree.map_structure(lambda t: new_output if t is replaced[0] else t, model.output)
    return keras.Model(model.input, outputs, name=f"{model.name}_{head.name}")


def feature_extractor(
    model: "keras.Model",
    at: str = constants.DEFAULT_HEAD_LAYER,
    *,
    side: Literal["input", "output"] = "input",
    name: str | None = None,
) -> "keras.Model":
    """A model from ``model``'s inputs to the input (or output) of layer ``at``.

    The default, the input of ``"classification_head"``, gives the features the head sees (the
    output of ``dropout`` in the zoo's models).

    Args:
        model: A Keras functional model.
        at: Name of the layer where the new model ends.
        side: ``"input"``: end with the tensor(s) layer ``at`` receives; ``"output"``: with what
            it returns.
        name: Name of the new model (default: ``"<model name>_features"``).

    Returns:
        A new plain ``Functional`` with ``model``'s inputs (same structure), sharing its layers;
        its output is one tensor, or a list when layer ``at`` takes or returns several.

    Raises:
        SurgeryError: ``at`` is not a layer of ``model`` (the message lists the valid names), is
            used more than once in the graph, or is an input layer cut at its input; ``side`` is
            neither ``"input"`` nor ``"output"``.
    """
    import keras

    if side not in ("input", "output"):
        raise SurgeryError(f"side must be 'input' or 'output'; got {side!r}")
    model = _as_functional(model)
    node = _single_node(model, at)
    tensors = _cut_tensors(node, at, side=side)
    outputs = tensors[0] if len(tensors) == 1 else list(tensors)
    return keras.Model(model.input, outputs, name=name or f"{model.name}_features")


def add_heads(
    model: "keras.Model",
    heads: Mapping[str, HeadSpec],
    *,
    at: str = constants.DEFAULT_HEAD_LAYER,
    keep_existing: bool = True,
) -> "keras.Model":
    """Several heads on the features at the input of layer ``at``, as one multi-output model.

    Args:
        model: A Keras functional model.
        heads: ``{output name: head}``; a head is a number of classes, a ``Dense`` spec or a layer
            (see `replace_head`). Heads built from a number or a spec are named after their key
            unless the spec names them.
        at: Name of the layer whose input the new heads read (default ``"classification_head"``).
        keep_existing: Keep ``model``'s outputs too, under their dict keys (dict outputs) or
            the names of the layers producing them.

    Returns:
        A new plain ``Functional`` with ``model``'s inputs (same structure) and dict outputs
        ``{name: tensor}``, sharing ``model``'s layers; compile it with per-output losses,
        e.g. ``loss={"digit": "sparse_categorical_crossentropy", "is_zero": "binary_crossentropy"}``.

    Raises:
        SurgeryError: No heads, ``at`` is unknown (the message lists the valid names) or used more
            than once, an output name or head layer name is taken twice, or a spec is invalid.
    """
    import keras

    if not isinstance(heads, Mapping) or not heads:
        raise SurgeryError("add_heads needs a non-empty {output name: head} mapping")
    model = _as_functional(model)
    node = _single_node(model, at)
    cut = _cut_tensors(node, at, side="input")
    outputs = _existing_outputs(model) if keep_existing else {}
    kept = {n.operation.name for n in _Graph(model).nodes} if keep_existing else {
        n.operation.name for n in _Graph(model).ancestors(node)
    }
    for key, spec in heads.items():
        if not isinstance(key, str) or not key:
            raise SurgeryError(f"head names must be non-empty strings; got {key!r}")
        if key in outputs:
            raise SurgeryError(f"output {key!r} exists already; choose another name (taken: {', '.join(outputs)})")
        default = spec.get("name", key) if isinstance(spec, Mapping) else key
        head = _build_head(spec, name=default if not _is_layer(spec) else None)
        _check_free_name(head.name, kept, model)
        kept.add(head.name)
        outputs[key] = _call_head(head, cut, at)
    return keras.Model(model.input, outputs, name=f"{model.name}_heads")


def freeze(
    model: "keras.Model",
    layers: str | Iterable[str] | None = None,
    *,
    up_to: str | None = None,
    inclusive: bool = False,
) -> list[str]:
    """Make layers non-trainable (their weights stay fixed during ``fit``).

    With neither ``layers`` nor ``up_to``, every layer is frozen. Recompile the model afterwards
    for ``fit`` to see the change. Layers are shared with models made by surgery, so freezing a
    layer freezes it in all of them.

    Args:
        model: A Keras functional model.
        layers: A layer name or names.
        up_to: Freeze every layer that feeds this layer (the backbone below a head):
            ``freeze(model, up_to="binary_classification_head")``.
        inclusive: With ``up_to``, freeze that layer as well.

    Returns:
        The names of the layers set, in graph order (input layers, which have no weights, are
        left out).

    Raises:
        SurgeryError: A name is not a layer of ``model`` (the message lists the valid names), or
            both ``layers`` and ``up_to`` were given.
    """
    return _set_trainable(model, False, layers, up_to, inclusive)


def unfreeze(
    model: "keras.Model",
    layers: str | Iterable[str] | None = None,
    *,
    up_to: str | None = None,
    inclusive: bool = False,
) -> list[str]:
    """Make layers trainable again; the mirror of `freeze` (same arguments).

    Args:
        model: A Keras functional model.
        layers: A layer name or names.
        up_to: Unfreeze every layer that feeds this layer.
        inclusive: With ``up_to``, unfreeze that layer as well.

    Returns:
        The names of the layers set, in graph order (input layers left out).

    Raises:
        SurgeryError: As for `freeze`.
    """
    return _set_trainable(model, True, layers, up_to, inclusive)


# ----------------------------------------------------------------------------- graph helpers


class _Graph:
    """The nodes of a functional model's graph, found by walking back from its outputs."""

    def __init__(self, model: "keras.Model") -> None:
        import keras

        self.nodes: list[Node] = []
        self._parents: dict[int, list[Node]] = {}
        self._ancestors: dict[int, set[int]] = {}
        stack = [_producer(t) for t in keras.tree.flatten(model.output)]
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            self.nodes.append(node)
            parents = [_producer(t) for t in node.input_tensors]
            self._parents[id(node)] = parents
            stack.extend(parents)
        order = {id(layer): i for i, layer in enumerate(model.layers)}
        self.nodes.sort(key=lambda n: order.get(id(n.operation), len(order)))

    def _ancestor_ids(self, node: "Node") -> set[int]:
        key = id(node)
        if key not in self._ancestors:
            result: set[int] = set()
            stack = list(self._parents.get(key, []))
            while stack:
                parent = stack.pop()
                if id(parent) not in result:
                    result.add(id(parent))
                    stack.extend(self._parents.get(id(parent), []))
            self._ancestors[key] = result
        return self._ancestors[key]

    def ancestors(self, node: "Node") -> list["Node"]:
        """Nodes strictly before ``node`` (those it depends on), in graph order."""
        ids = self._ancestor_ids(node)
        return [n for n in self.nodes if id(n) in ids]

    def depends_on(self, node: "Node", other: "Node") -> bool:
        """Whether ``node`` is ``other`` or comes after it."""
        return node is other or id(other) in self._ancestor_ids(node)

    def between(self, first: "Node", last: "Node") -> list["Node"]:
        """Nodes from ``first`` to ``last`` inclusive: after (or equal to) one, before the other."""
        return [n for n in self.nodes if self.depends_on(n, first) and self.depends_on(last, n)]


def _producer(tensor: Any) -> "Node":
    history = getattr(tensor, "_keras_history", None)
    if history is None:  # pragma: no cover  (every tensor of a functional graph has one)
        raise SurgeryError(f"{tensor!r} is not a symbolic tensor of a Keras functional graph")
    return history.operation._inbound_nodes[history.node_index]


def _layer_names(model: "keras.Model") -> list[str]:
    return [layer.name for layer in model.layers]


def _as_functional(model: Any) -> Any:
    """A built Sequential as the Functional over the same layers (surgery walks a functional graph)."""
    import keras

    from hub_publish.packaging import is_built_sequential

    if is_built_sequential(model):
        ins, outs = model.inputs, model.outputs
        return keras.Model(ins[0] if len(ins) == 1 else ins, outs[0] if len(outs) == 1 else outs, name=model.name)
    return model


def _check_functional(model: Any) -> None:
    from hub_publish.packaging import is_functional

    if not is_functional(model):
        raise SurgeryError(
            f"surgery needs a Keras functional model (a layer graph); got {type(model).__name__}: build it with "
            "keras.Model(inputs, outputs) or a functional subclass"
        )


def _single_node(model: "keras.Model", name: str) -> "Node":
    """The one node of layer ``name`` in ``model``'s graph."""
    _check_functional(model)
    if not isinstance(name, str) or name not in _layer_names(model):
        raise SurgeryError(
            f"model {model.name!r} has no layer {name!r}; valid layer names: {', '.join(_layer_names(model))}"
        )
    layer = model.get_layer(name)
    nodes = [n for n in _Graph(model).nodes if n.operation is layer]
    if len(nodes) != 1:
        raise SurgeryError(
            f"layer {name!r} is used {len(nodes)} times in model {model.name!r}, so where to cut is ambiguous; "
            "cut at a layer that is called once"
        )
    return nodes[0]


def _cut_tensors(node: "Node", at: str, *, side: str) -> list[Any]:
    tensors = list(node.input_tensors if side == "input" else node.output_tensors)
    if not tensors:
        raise SurgeryError(f"layer {at!r} is an input layer and has nothing before it; cut at a later layer")
    return tensors


def _check_separates(removed: list["Node"], cut_node: "Node", cut: list[Any], at: str) -> None:
    """Every layer after the cut must read only the cut tensors or other layers after the cut."""
    removed_ids = {id(n) for n in removed}
    cut_ids = {id(t) for t in cut}
    for node in removed:
        if node is cut_node:
            continue
        for tensor in node.input_tensors:
            source = _producer(tensor)
            if id(tensor) not in cut_ids and id(source) not in removed_ids:
                raise SurgeryError(
                    f"cutting at {at!r} does not separate the graph: {node.operation.name!r}, after the cut, "
                    "also reads "
                    f"{source.operation.name!r} without going through {at!r}; cut at a layer every path to the output "
                    "goes through"
                )


def _is_layer(spec: Any) -> bool:
    import keras

    return isinstance(spec, keras.layers.Layer)


def _build_head(spec: HeadSpec, *, activation: str | None = None, name: str | None = None) -> "keras.layers.Layer":
    """A head layer from a layer, a number of units or a Dense spec."""
    import keras

    if _is_layer(spec):
        if activation is not None or name is not None:
            raise SurgeryError(
                "activation= and name= apply to a head built from a number or spec, not to a layer instance"
            )
        return spec
    if isinstance(spec, Mapping):
        config = dict(spec)
    elif isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
        config = {"units": int(spec)}
    else:
        raise SurgeryError(
            f"a head is a number of classes, a Dense spec such as {{'units': 1, 'activation': 'sigmoid'}}, or a Keras "
            f"layer; got {spec!r}"
        )
    units = config.get("units")
    if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units < 1:
        raise SurgeryError(f"a head needs a positive integer number of units; got {units!r}")
    if activation is not None:
        config["activation"] = activation
    config.setdefault("activation", "sigmoid" if units == 1 else "softmax")
    if name is not None and "name" not in config:
        config["name"] = name
    binary = units == 1 and config["activation"] == "sigmoid"
    config.setdefault("name", BINARY_HEAD_NAME if binary else constants.DEFAULT_HEAD_LAYER)
    try:
        return keras.layers.Dense(**config)
    except (TypeError, ValueError) as exc:
        message = first_line(exc)
        raise SurgeryError(f"invalid head spec {spec!r}: {message}") from None


def _check_free_name(head_name: str, kept: set[str], model: "keras.Model", *, layer_instance: bool = False) -> None:
    if head_name in kept:
        fix = "give your layer another name=" if layer_instance else "pass another name="
        raise SurgeryError(f"the new head's name {head_name!r} is already a layer of model {model.name!r}; {fix}")


def recorded_head_layer(model: "keras.Model") -> str:
    """The head a model declares: its metadata's ``head_layer`` (models from `from_pretrained`),
    its class attribute ``head_layer``, else the zoo's ``"classification_head"``."""
    from hub_publish.loading import source_of

    source = source_of(model)
    if source is not None:
        from hub_publish import format as fmt

        try:
            head = fmt.read_metadata(source.folder).head_layer
        except Exception:  # noqa: BLE001 - the folder may be gone; fall back to the class attribute
            head = None
        if head:
            return head
    declared = getattr(model, "head_layer", None)
    return declared if isinstance(declared, str) and declared else constants.DEFAULT_HEAD_LAYER


def _free_default_name(model: "keras.Model", spec: Any, activation: str | None, at: str) -> str | None:
    """The default head name, suffixed ``_2``, ``_3``, ... while another kept layer has it."""
    if _is_layer(spec) or (isinstance(spec, Mapping) and "name" in spec):
        return None
    units = spec.get("units") if isinstance(spec, Mapping) else spec
    act = activation or (spec.get("activation") if isinstance(spec, Mapping) else None)
    binary = units == 1 and (act or "sigmoid") == "sigmoid"
    base = BINARY_HEAD_NAME if binary else constants.DEFAULT_HEAD_LAYER
    taken = {name for name in _layer_names(model) if name != at}
    candidate, i = base, 1
    while candidate in taken:
        i += 1
        candidate = f"{base}_{i}"
    return candidate


def _call_head(head: "keras.layers.Layer", cut: list[Any], at: str) -> Any:
    features = cut[0] if len(cut) == 1 else list(cut)
    try:
        return head(features)
    except (TypeError, ValueError) as exc:
        message = first_line(exc)
        raise SurgeryError(
            f"the new head {head.name!r} cannot take the {len(cut)} tensor(s) layer {at!r} received: {message}"
        ) from None


def _existing_outputs(model: "keras.Model") -> dict[str, Any]:
    """``model``'s outputs keyed by their dict keys, else by the names of the layers producing them."""
    import keras

    if isinstance(model.output, Mapping):
        return dict(model.output)
    return {_producer(t).operation.name: t for t in keras.tree.flatten(model.output)}


def _set_trainable(
    model: "keras.Model", trainable: bool, layers: str | Iterable[str] | None, up_to: str | None, inclusive: bool
) -> list[str]:
    import keras

    _check_functional(model)
    if layers is not None and up_to is not None:
        raise SurgeryError("give layer names or up_to=, not both")
    if up_to is not None:
        node = _single_node(model, up_to)
        targets = [n.operation for n in _Graph(model).ancestors(node)] + ([node.operation] if inclusive else [])
    elif layers is not None:
        names = [layers] if isinstance(layers, str) else list(layers)
        unknown = [n for n in names if n not in _layer_names(model)]
        if unknown:
            raise SurgeryError(
                f"model {model.name!r} has no layer {', '.join(map(repr, unknown))}; valid layer names: "
                f"{', '.join(_layer_names(model))}"
            )
        targets = [model.get_layer(n) for n in names]
    else:
        targets = list(model.layers)
    changed = []
    for layer in targets:
        if isinstance(layer, keras.layers.InputLayer) or not isinstance(layer, keras.layers.Layer):
            continue  # input layers have no weights; bare ops (keras.ops on tensors) have no trainable flag
        layer.trainable = trainable
        if layer.name not in changed:
            changed.append(layer.name)
    return changed
