"""Tests of the client-level privacy accountant against dp_accounting."""

import json

import dp_accounting
import tensorflow as tf
from absl.testing import parameterized
from dp_accounting import pld
from dp_accounting import rdp

from tests.privacy import specs
from tff_rec.errors import UserInputError
from tff_rec.privacy import accounting

_N, _M = specs.NUM_CLIENTS, specs.CLIENTS_PER_ROUND
_DELTA = specs.DELTA
_ADD_REMOVE = dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE
_REPLACE = dp_accounting.NeighboringRelation.REPLACE_ONE
_spec = specs.make_spec


def _expected_epsilon(mechanism, sampling, accountant, z, rounds):
    """The same quantity written directly with dp_accounting."""
    if sampling == "poisson":
        noise = (
            dp_accounting.GaussianDpEvent(z)
            if mechanism == "gaussian"
            else dp_accounting.LaplaceDpEvent(z)
        )
        event = dp_accounting.PoissonSampledDpEvent(_M / _N, noise)
        relation = _ADD_REMOVE
    else:
        # Replacing a client moves a sum clipped to C by 2C: half the multiplier.
        relation = _REPLACE
        if mechanism == "gaussian":
            event = dp_accounting.SampledWithoutReplacementDpEvent(
                _N, _M, dp_accounting.GaussianDpEvent(z / 2)
            )
        else:
            event = dp_accounting.LaplaceDpEvent(z / 2)
    if accountant == "rdp":
        ledger = rdp.RdpAccountant(neighboring_relation=relation)
    else:
        ledger = pld.PLDAccountant(neighboring_relation=relation)
    return ledger.compose(event, rounds).get_epsilon(_DELTA)


class SpecTest(tf.test.TestCase, parameterized.TestCase):
    def test_default_delta(self):
        self.assertAllClose(accounting.default_delta(943), 1 / 943**1.1)
        self.assertAllClose(accounting.default_delta(100), 100**-1.1)
        spec = _spec(delta=None)
        self.assertAllClose(spec.delta, 943**-1.1)

    @parameterized.named_parameters(
        ("gaussian_poisson", "gaussian", "poisson", "rdp"),
        ("gaussian_fixed", "gaussian", "fixed_size", "rdp"),
        ("laplace_poisson", "laplace", "poisson", "pld"),
        ("laplace_fixed", "laplace", "fixed_size", "pld"),
    )
    def test_default_accountant(self, mechanism, sampling, expected):
        spec = _spec(mechanism, sampling=sampling)
        self.assertEqual(spec.accountant, accounting.AccountantType(expected))
        self.assertIsInstance(spec.mechanism, accounting.Mechanism)
        self.assertIsInstance(spec.sampling, accounting.Sampling)

    def test_round_events(self):
        q = _M / _N
        self.assertEqual(
            accounting.round_event(_spec("gaussian", 1.5)),
            dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(1.5)),
        )
        self.assertEqual(
            accounting.round_event(_spec("laplace", 1.5)),
            dp_accounting.PoissonSampledDpEvent(q, dp_accounting.LaplaceDpEvent(1.5)),
        )
        self.assertEqual(
            accounting.round_event(_spec("gaussian", 1.5, "fixed_size")),
            dp_accounting.SampledWithoutReplacementDpEvent(
                _N, _M, dp_accounting.GaussianDpEvent(0.75)
            ),
        )

    @parameterized.named_parameters(
        ("too_many_clients", dict(clients_per_round=1000), "exceeds the 943"),
        ("zero_noise", dict(z=0.0), "noise_multiplier must be > 0"),
        ("missing_noise", dict(z=None), "noise_multiplier"),
        ("delta_one", dict(delta=1.0), r"delta must be in \(0, 1\)"),
        ("delta_zero", dict(delta=0.0), r"delta must be in \(0, 1\)"),
        ("zero_clients", dict(clients_per_round=0), "clients_per_round must be >= 1"),
        ("float_clients", dict(num_clients=943.5), "num_clients must be an integer"),
        ("bad_mechanism", dict(mechanism="cauchy"), "unknown mechanism 'cauchy'"),
        ("bad_sampling", dict(sampling="shuffle"), "unknown sampling 'shuffle'"),
        (
            "rdp_laplace_poisson",
            dict(mechanism="laplace", accountant="rdp"),
            "RDP accountant cannot account laplace noise with poisson sampling",
        ),
        (
            "pld_fixed_gaussian",
            dict(sampling="fixed_size", accountant="pld"),
            "PLD accountant cannot account gaussian noise with fixed_size",
        ),
    )
    def test_rejects(self, kwargs, message):
        with self.assertRaisesRegex(UserInputError, message) as raised:
            _spec(**kwargs)
        self.assertNotIn("\n", str(raised.exception))


class EpsilonTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("gaussian_poisson_rdp", "gaussian", "poisson", "rdp"),
        ("gaussian_poisson_pld", "gaussian", "poisson", "pld"),
        ("gaussian_fixed_rdp", "gaussian", "fixed_size", "rdp"),
        ("laplace_poisson_pld", "laplace", "poisson", "pld"),
        ("laplace_fixed_pld", "laplace", "fixed_size", "pld"),
        ("laplace_fixed_rdp", "laplace", "fixed_size", "rdp"),
    )
    def test_matches_dp_accounting(self, mechanism, sampling, accountant):
        z, rounds = 1.3, 40
        spec = _spec(mechanism, z, sampling, accountant=accountant)
        expected = _expected_epsilon(mechanism, sampling, accountant, z, rounds)
        self.assertAllClose(accounting.epsilon(spec, rounds), expected, atol=1e-6)
        tracker = accounting.PrivacyAccountant(spec)
        for _ in range(rounds):
            tracker.step()
        self.assertAllClose(tracker.epsilon(), expected, atol=1e-6)

    def test_grows_with_rounds_and_shrinks_with_noise(self):
        by_rounds = [accounting.epsilon(_spec(z=1.0), r) for r in (0, 1, 10, 100)]
        self.assertEqual(by_rounds[0], 0.0)
        self.assertEqual(by_rounds, sorted(by_rounds))
        self.assertLen(set(by_rounds), 4)
        by_noise = [accounting.epsilon(_spec(z=z), 100) for z in (0.7, 1.0, 2.0)]
        self.assertEqual(by_noise, sorted(by_noise, reverse=True))
        self.assertLen(set(by_noise), 3)

    def test_epsilon_if_step_is_the_next_epsilon(self):
        tracker = accounting.PrivacyAccountant(_spec())
        for _ in range(5):
            upcoming = tracker.epsilon_if_step()
            tracker.step()
            self.assertEqual(tracker.epsilon(), upcoming)
        self.assertEqual(tracker.rounds, 5)

    def test_state_round_trip(self):
        spec = _spec("laplace", 2.0)
        uninterrupted = accounting.PrivacyAccountant(spec)
        first = accounting.PrivacyAccountant(spec)
        for _ in range(7):
            uninterrupted.step()
            first.step()
        state = json.loads(json.dumps(first.get_state()))
        resumed = accounting.PrivacyAccountant(spec)
        resumed.set_state(state)
        self.assertEqual(resumed.rounds, 7)
        for _ in range(5):
            uninterrupted.step()
            resumed.step()
        self.assertEqual(resumed.epsilon(), uninterrupted.epsilon())
        self.assertEqual(
            accounting.PrivacyAccountant.from_state(state).epsilon(),
            accounting.epsilon(spec, 7),
        )

    def test_set_state_rejects_another_mechanism(self):
        state = accounting.PrivacyAccountant(_spec(z=1.0)).get_state()
        with self.assertRaisesRegex(UserInputError, "saved privacy state"):
            accounting.PrivacyAccountant(_spec(z=2.0)).set_state(state)

    def test_report(self):
        spec = _spec(z=1.0)
        tracker = accounting.PrivacyAccountant(spec)
        for _ in range(3):
            tracker.step()
        report = tracker.report()
        json.dumps(report)
        self.assertEqual(report["epsilon"], accounting.epsilon(spec, 3))
        self.assertEqual(report["delta"], _DELTA)
        self.assertEqual(report["noise_multiplier"], 1.0)
        self.assertEqual(report["rounds"], 3)
        self.assertEqual(report["sampling"], "poisson")
        self.assertIn("Poisson", report["assumption"])
        self.assertIn("q=0.05302", report["assumption"])
        fixed = accounting.PrivacyAccountant(_spec(sampling="fixed_size")).report()
        self.assertIn("REPLACE_ONE", fixed["assumption"])

    def test_rejects_negative_rounds(self):
        with self.assertRaisesRegex(UserInputError, "rounds must be >= 0"):
            accounting.epsilon(_spec(), -1)


if __name__ == "__main__":
    tf.test.main()
