"""Named `tff.learning.optimizers` for clients and servers."""

from __future__ import annotations

import enum

import tensorflow as tf
import tensorflow_federated as tff

from tff_rec import errors


class OptimizerType(enum.Enum):
    SGD = "sgd"
    ADAM = "adam"
    ADAGRAD = "adagrad"
    YOGI = "yogi"


def build_optimizer(
    optimizer: OptimizerType | str, learning_rate: float
) -> tff.learning.optimizers.Optimizer:
    """Builds a TFF optimizer.

    Args:
      optimizer: an `OptimizerType` or its value.
      learning_rate: the step size; must be positive.

    Returns:
      A `tff.learning.optimizers.Optimizer`.

    Raises:
      UserInputError: for an unknown optimizer or a non-positive rate.
    """
    optimizer = errors.parse_enum(OptimizerType, optimizer, "optimizer")
    if not learning_rate > 0:
        raise errors.UserInputError(
            f"learning rate must be > 0 for {optimizer.value}, got {learning_rate}"
        )
    if optimizer is OptimizerType.SGD:
        return tff.learning.optimizers.build_sgdm(learning_rate=learning_rate)
    if optimizer is OptimizerType.ADAM:
        return tff.learning.optimizers.build_adam(learning_rate=learning_rate)
    if optimizer is OptimizerType.ADAGRAD:
        return tff.learning.optimizers.build_adagrad(learning_rate=learning_rate)
    return tff.learning.optimizers.build_yogi(learning_rate=learning_rate)


def build_keras_optimizer(
    optimizer: OptimizerType | str, learning_rate: float
) -> tf.keras.optimizers.Optimizer:
    """The Keras optimizer of the same kind, for training outside TFF.

    Used where a client trains alone (personalization). Keras has no Yogi:
    `OptimizerType.YOGI` gives Adam, its closest relative.

    Raises:
      UserInputError: for an unknown optimizer or a non-positive rate.
    """
    build_optimizer(optimizer, learning_rate)  # Validates both.
    optimizer = errors.parse_enum(OptimizerType, optimizer, "optimizer")
    if optimizer is OptimizerType.SGD:
        return tf.keras.optimizers.SGD(learning_rate)
    if optimizer is OptimizerType.ADAGRAD:
        return tf.keras.optimizers.Adagrad(learning_rate)
    return tf.keras.optimizers.Adam(learning_rate)
