import tensorflow as tf
from absl.testing import parameterized

from tff_rec import errors
from tff_rec.algorithms import optimizers


class KerasOptimizerTest(parameterized.TestCase):
    @parameterized.parameters(
        ("sgd", tf.keras.optimizers.SGD),
        ("adam", tf.keras.optimizers.Adam),
        ("adagrad", tf.keras.optimizers.Adagrad),
        ("yogi", tf.keras.optimizers.Adam),
    )
    def test_kind_and_rate(self, name, expected):
        optimizer = optimizers.build_keras_optimizer(name, 0.25)
        self.assertIsInstance(optimizer, expected)
        self.assertAlmostEqual(float(optimizer.learning_rate), 0.25)

    def test_bad_input(self):
        with self.assertRaisesRegex(errors.UserInputError, "learning rate"):
            optimizers.build_keras_optimizer("sgd", 0.0)
        with self.assertRaises(errors.UserInputError):
            optimizers.build_keras_optimizer("lbfgs", 0.1)


if __name__ == "__main__":
    tf.test.main()
