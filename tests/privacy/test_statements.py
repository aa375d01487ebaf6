"""Tests of the one-line privacy statements: the numbers of a spec, and how."""

import tensorflow as tf

from tests.privacy import specs
from tff_rec.privacy import accounting
from tff_rec.privacy import calibration
from tff_rec.privacy import statements

_N, _M = specs.NUM_CLIENTS, specs.CLIENTS_PER_ROUND
# 1 / 943**1.1, the default delta of 943 clients.
_DEFAULT_DELTA_TEXT = "5.35e-04"


class EpsilonStatementTest(tf.test.TestCase):
    def test_gaussian(self):
        spec = specs.make_spec(z=1.0)
        spent = accounting.epsilon(spec, 100)
        # q = 50 / 943 = 0.0530...
        self.assertEqual(
            statements.epsilon_statement(spec, 100),
            f"epsilon={spent:.4g} delta=1.00e-04 after 100 rounds (gaussian, "
            "noise_multiplier=1, q=0.053, poisson sampling, RDP)",
        )

    def test_laplace_fixed_size_with_the_default_delta(self):
        spec = specs.make_spec("laplace", z=2.0, sampling="fixed_size", delta=None)
        spent = accounting.epsilon(spec, 10)
        # No amplification is claimed: each round is a Laplace release of
        # epsilon 2 / z = 1, so 10 rounds spend at most 10.
        self.assertLessEqual(spent, 10.0)
        self.assertEqual(
            statements.epsilon_statement(spec, 10),
            f"epsilon={spent:.4g} delta={_DEFAULT_DELTA_TEXT} after 10 rounds "
            "(laplace, noise_multiplier=2, q=0.053, fixed-size sampling, PLD)",
        )

    def test_no_rounds_spend_nothing(self):
        self.assertStartsWith(
            statements.epsilon_statement(specs.make_spec(z=0.75), 0),
            "epsilon=0 delta=1.00e-04 after 0 rounds (gaussian, "
            "noise_multiplier=0.75,",
        )


class NoiseStatementTest(tf.test.TestCase):
    def test_gaussian_multiplier_is_rounded_up(self):
        kwargs = dict(
            target_epsilon=1.0,
            rounds=100,
            clients_per_round=_M,
            num_clients=_N,
            delta=specs.DELTA,
        )
        z = calibration.calibrate_noise_multiplier(**kwargs)
        self.assertEqual(f"{z:.4g}", "2.14")  # 2.1404..., nearest rounds down
        self.assertEqual(
            statements.noise_statement(**kwargs),
            "noise_multiplier=2.141 reaches epsilon=1 delta=1.00e-04 after 100 "
            "rounds (gaussian, q=0.053, poisson sampling, RDP)",
        )
        # The printed multiplier keeps epsilon within the target; the nearest
        # 4-digit value would not.
        self.assertLessEqual(accounting.epsilon(specs.make_spec(z=2.141), 100), 1.0)
        self.assertGreater(accounting.epsilon(specs.make_spec(z=2.14), 100), 1.0)

    def test_laplace_with_the_default_delta(self):
        statement = statements.noise_statement(
            target_epsilon=10,
            rounds=20,
            clients_per_round=_M,
            num_clients=_N,
            mechanism="laplace",
        )
        # Calibrated 0.19374..., printed rounded up.
        self.assertEqual(
            statement,
            f"noise_multiplier=0.1938 reaches epsilon=10 delta={_DEFAULT_DELTA_TEXT} "
            "after 20 rounds (laplace, q=0.053, poisson sampling, PLD)",
        )
        spec = specs.make_spec("laplace", z=0.1938, delta=None)
        self.assertLessEqual(accounting.epsilon(spec, 20), 10.0)


if __name__ == "__main__":
    tf.test.main()
