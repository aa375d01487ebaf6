"""Tests of noise calibration and of the rounds a privacy budget allows."""

import tensorflow as tf
from absl.testing import parameterized

from tests.privacy import specs
from tff_rec.errors import UserInputError
from tff_rec.privacy import accounting
from tff_rec.privacy import calibration

_N, _M = specs.NUM_CLIENTS, specs.CLIENTS_PER_ROUND
_DELTA = specs.DELTA
_spec = specs.make_spec


class CalibrationTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("gaussian", "gaussian", "poisson"),
        ("laplace", "laplace", "poisson"),
    )
    def test_hits_target_epsilon(self, mechanism, sampling):
        kwargs = dict(
            rounds=50,
            clients_per_round=_M,
            num_clients=_N,
            delta=_DELTA,
            mechanism=mechanism,
            sampling=sampling,
        )
        z = calibration.calibrate_noise_multiplier(target_epsilon=4.0, **kwargs)
        spent = accounting.epsilon(_spec(mechanism, z, sampling), 50)
        self.assertLessEqual(spent, 4.0)
        self.assertAllClose(spent, 4.0, rtol=1e-3)
        # Slightly less noise would exceed the target.
        less = accounting.epsilon(_spec(mechanism, z * 0.99, sampling), 50)
        self.assertGreater(less, 4.0)
        if mechanism == "gaussian":
            stricter = calibration.calibrate_noise_multiplier(
                target_epsilon=2.0, **kwargs
            )
            self.assertGreater(stricter, z)

    @parameterized.named_parameters(
        ("zero_epsilon", dict(target_epsilon=0.0), "target_epsilon must be > 0"),
        ("no_rounds", dict(rounds=0), "rounds must be >= 1"),
        ("too_many_clients", dict(clients_per_round=944), "exceeds the 943"),
        ("huge_epsilon", dict(target_epsilon=1e6), "noise_multiplier below 0.05"),
    )
    def test_rejects(self, overrides, message):
        kwargs = dict(
            target_epsilon=1.0, rounds=10, clients_per_round=_M, num_clients=_N
        )
        kwargs.update(overrides)
        with self.assertRaisesRegex(UserInputError, message):
            calibration.calibrate_noise_multiplier(**kwargs)


class MaxRoundsTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("gaussian", "gaussian", 1.0, 3.0),
        ("laplace", "laplace", 2.0, 2.0),
    )
    def test_consistent_with_epsilon(self, mechanism, z, target):
        spec = _spec(mechanism, z)
        rounds = calibration.max_rounds(spec, target)
        self.assertGreater(rounds, 1)
        self.assertLessEqual(accounting.epsilon(spec, rounds), target)
        self.assertGreater(accounting.epsilon(spec, rounds + 1), target)

    def test_zero_when_one_round_is_too_many(self):
        self.assertEqual(calibration.max_rounds(_spec(z=0.5), 0.01), 0)


if __name__ == "__main__":
    tf.test.main()
