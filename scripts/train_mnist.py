#!/usr/bin/env python
"""Train the guide's MnistModel (or MnistDictModel) and package it as a hub-publish folder.

Examples::

    python scripts/train_mnist.py out/mnist-digits
    python scripts/train_mnist.py out/mnist-dict --model MnistDictModel --epochs 10
    python scripts/train_mnist.py out/mnist --dataset mnist --data-dir ~/tensorflow_datasets
    python scripts/train_mnist.py out/mine --data my_images --validation-split 0.2
"""

from __future__ import annotations

import argparse
import sys

from hub_publish.data import DATASETS, DEFAULT_BATCH_SIZE, DEFAULT_DATASET
from hub_publish.errors import HubPublishError
from hub_publish.training import DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE, DEFAULT_SEED


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, train, package, and print where the model went.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 on a user error (printed as one line on stderr).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", help="folder to write the packaged model to")
    parser.add_argument("--model", choices=("MnistModel", "MnistDictModel"), default="MnistModel")
    parser.add_argument("--dataset", choices=DATASETS, default=DEFAULT_DATASET)
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--learning-rate", type=float, default=DEFAULT_LEARNING_RATE)
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--data-dir", default=None, help="tensorflow-datasets data directory (mnist)")
    parser.add_argument("--download", action="store_true", help="let tensorflow-datasets download mnist")
    parser.add_argument("--data", default=None, help="folder of images, one subfolder per class (instead of --dataset)")
    parser.add_argument("--validation-split", type=float, default=None, help="share held out for validation (0.1)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing model folder")
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    args = parser.parse_args(argv)

    from hub_publish import constants
    from hub_publish.training import train_and_package

    try:
        path, record = train_and_package(
            args.model,
            args.output_dir,
            dataset=args.data if args.data is not None else args.dataset,
            validation_split=args.validation_split,
            overwrite=args.overwrite,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            optimizer=args.optimizer,
            seed=args.seed,
            data_dir=args.data_dir,
            download=args.download,
            verbose=args.verbose,
        )
    except (ValueError, HubPublishError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    metrics = record[constants.TRAIN_TEST_METRICS]
    accuracy = metrics.get("sparse_categorical_accuracy")
    print(f"saved {args.model} trained on {record[constants.TRAIN_DATASET]['name']} to {path}")
    print(
        f"test accuracy: {accuracy:.4f}" if accuracy is not None else f"test metrics: {metrics}",
        f"({record[constants.TRAIN_WALL_TIME]:.1f} s training)",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
