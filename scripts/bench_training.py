#!/usr/bin/env python
"""Benchmark: `hub_publish.training.train` end to end against the Keras guide's own pipeline code.

Both sides train the guide's MnistModel architecture on the same data (scikit-learn's digits: the
same 1,293 training and 144 validation images, the same seed, batch size and epochs), timed from
raw arrays to a trained model, A/B interleaved in one process (the order alternates each round):

* ``guide``: the guide's Dataset section (``from_tensor_slices`` -> ``map(expand_dims)`` ->
  ``batch`` -> ``cache`` -> ``shuffle(5000)`` -> ``repeat``; validation ``batch(10000)`` ->
  ``cache``), its ``MnistModel`` class, ``compile`` and ``fit(steps_per_epoch=...)`` with the
  validation data each epoch;
* ``hub-publish``: ``train("MnistModel", "digits", ...)``, which also evaluates the test split
  once and builds the training record.

Prints a table of min / median seconds per side (end to end, and ``fit`` alone) and the speed
ratio guide / hub-publish (>= 1.0: hub-publish is at least as fast), and writes the numbers as
JSON. The goal (issue 13): ratio >= 1.0 end to end.

    python scripts/bench_training.py                # 10 epochs, 5 rounds
    python scripts/bench_training.py --quick        # 2 epochs, 2 rounds: proves the script works
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BATCH_SIZE = 32
SEED = 0
SPLIT_SEED = 0  # hub_publish.data's fixed digits split


def _digits() -> tuple[Any, Any, Any, Any]:
    """The digits split hub_publish.data makes (80/20 test, then 10% of the rest for validation)."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)  # (n, 8, 8): the guide expands dims
    labels = digits.target.astype(np.int64)
    x_train, _, y_train, _ = train_test_split(images, labels, test_size=0.2, stratify=labels, random_state=SPLIT_SEED)
    x_train, x_val, y_train, y_val = train_test_split(
        x_train, y_train, test_size=0.1, stratify=y_train, random_state=SPLIT_SEED
    )
    return x_train, y_train, x_val, y_val


def guide(epochs: int) -> tuple[float, float]:
    """The Keras guide's code (Dataset section, MnistModel, compile, fit) on the digits arrays."""
    import keras
    import tensorflow as tf

    start = time.perf_counter()
    keras.utils.set_random_seed(SEED)
    x_train, train_labels, x_test, test_labels = _digits()  # "test" is the guide's validation data

    train_data = tf.data.Dataset.from_tensor_slices((x_train, train_labels))
    train_data = train_data.map(lambda x, y: (tf.expand_dims(x, axis=-1), y))
    train_data = train_data.batch(BATCH_SIZE)
    train_data = train_data.cache()
    train_data = train_data.shuffle(5000, reshuffle_each_iteration=True)
    train_data = train_data.repeat()
    test_data = tf.data.Dataset.from_tensor_slices((x_test, test_labels))
    test_data = test_data.map(lambda x, y: (tf.expand_dims(x, axis=-1), y))
    test_data = test_data.batch(10000)
    test_data = test_data.cache()
    steps_per_epoch = len(train_labels) // BATCH_SIZE

    class MnistModel(keras.Model):
        def __init__(self, **kwargs: Any) -> None:
            inputs = keras.layers.Input(shape=(None, None, 1), dtype="uint8")
            y = keras.layers.Rescaling(1 / 255.0)(inputs)
            y = keras.layers.Conv2D(filters=16, kernel_size=3, padding="same", activation="relu")(y)
            y = keras.layers.Conv2D(filters=32, kernel_size=6, padding="same", activation="relu", strides=2)(y)
            y = keras.layers.Conv2D(filters=48, kernel_size=6, padding="same", activation="relu", strides=2)(y)
            y = keras.layers.GlobalAveragePooling2D()(y)
            y = keras.layers.Dense(48, activation="relu")(y)
            y = keras.layers.Dropout(0.4)(y)
            outputs = keras.layers.Dense(10, activation="softmax", name="classification_head")(y)
            super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    model = MnistModel()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    fit_start = time.perf_counter()
    model.fit(train_data, steps_per_epoch=steps_per_epoch, epochs=epochs, validation_data=test_data, verbose=0)
    end = time.perf_counter()
    return end - start, end - fit_start


def hub_publish_side(epochs: int) -> tuple[float, float]:
    """hub-publish's one call, from the raw digits to a trained model with its test metrics and record."""
    from hub_publish.training import train

    start = time.perf_counter()
    result = train("MnistModel", "digits", epochs=epochs, batch_size=BATCH_SIZE, learning_rate=None, seed=SEED,
                   verbose=0)
    end = time.perf_counter()
    return end - start, float(result.record["wall_time_s"])


def _stats(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "runs": values}


def run(epochs: int, rounds: int, warmup: bool = True) -> dict[str, Any]:
    import keras

    # The guide's fit() passes Keras' default shuffle=True with a tf.data pipeline, which Keras warns about.
    warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed.*")
    sides: dict[str, Callable[[int], tuple[float, float]]] = {"guide": guide, "hub-publish": hub_publish_side}
    # One untimed warm-up each: imports, the digits file and TensorFlow's first-graph set-up.
    for fn in sides.values() if warmup else ():
        fn(1)
    times: dict[str, dict[str, list[float]]] = {name: {"end_to_end": [], "fit": []} for name in sides}
    for i in range(rounds):
        order = list(sides) if i % 2 == 0 else list(reversed(sides))
        for name in order:
            total, fit = sides[name](epochs)
            times[name]["end_to_end"].append(total)
            times[name]["fit"].append(fit)
    result: dict[str, Any] = {
        "benchmark": "training end to end: hub_publish.training.train vs the Keras guide's pipeline code",
        "data": "scikit-learn digits: 1,293 train / 144 validation images (8x8), batch 32",
        "epochs": epochs,
        "rounds": rounds,
        "warmup": warmup,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version()},
        "keras": keras.version(),
        "backend": keras.config.backend(),
        "measures": {},
    }
    for measure in ("end_to_end", "fit"):
        guide_stats = _stats(times["guide"][measure])
        ours = _stats(times["hub-publish"][measure])
        result["measures"][measure] = {
            "guide": guide_stats,
            "hub-publish": ours,
            "ratio_median": guide_stats["median"] / ours["median"],  # >= 1.0: hub-publish at least as fast
            "ratio_min": guide_stats["min"] / ours["min"],
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs, 2 rounds, no warm-up (CI: proves the script runs)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 10; --quick: 2)")
    parser.add_argument("--rounds", type=int, default=None, help="A/B rounds (default 5; --quick: 2)")
    parser.add_argument("--json", default="bench_training.json", help="where to write the results")
    args = parser.parse_args(argv)
    epochs = args.epochs or (2 if args.quick else 10)
    rounds = args.rounds or (2 if args.quick else 5)
    result = run(epochs, rounds, warmup=not args.quick)
    print(f"training end to end, digits, {epochs} epochs, {rounds} interleaved rounds "
          f"({result['backend']}, {result['machine']['cpu_count']} CPUs)")
    print(f"{'measure':<12} {'guide min':>10} {'guide med':>10} {'ours min':>10} {'ours med':>10} {'ratio (med)':>12}")
    for measure, row in result["measures"].items():
        g, o = row["guide"], row["hub-publish"]
        print(f"{measure:<12} {g['min']:>9.3f}s {g['median']:>9.3f}s {o['min']:>9.3f}s {o['median']:>9.3f}s "
              f"{row['ratio_median']:>11.2f}x")
    print("ratio = guide / hub-publish: >= 1.0 means hub-publish is at least as fast (goal: >= 1.0 end to end)")
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
