"""The privacy budget hook: epsilon in every row, and the stop."""

import tensorflow as tf

from tff_rec import errors
from tff_rec.privacy import accounting
from tff_rec.training import budget
from tff_rec.training import hooks


def _budget(target_epsilon, noise_multiplier=1.0):
    spec = accounting.PrivacySpec(
        mechanism="gaussian",
        noise_multiplier=noise_multiplier,
        clients_per_round=10,
        num_clients=100,
    )
    return budget.PrivacyBudget(accounting.PrivacyAccountant(spec), target_epsilon)


def _result(number, last=False):
    return hooks.RoundResult(number, state=None, row={}, last=last)


class PrivacyBudgetTest(tf.test.TestCase):
    def test_every_row_has_the_epsilon_spent_so_far(self):
        hook = _budget(None)
        self.assertIsNone(hook.start(0, 3))
        epsilons = []
        for number in (1, 2, 3):
            result = _result(number, last=number == 3)
            hook.after_round(result)
            self.assertIsNone(result.stop)
            epsilons.append(result.row["epsilon"])
            self.assertEqual(result.row["delta"], hook.accountant.spec.delta)
        self.assertEqual(epsilons, sorted(epsilons))
        self.assertEqual(
            epsilons[-1], accounting.epsilon(hook.accountant.spec, rounds=3)
        )

    def test_stops_before_the_round_that_would_exceed_the_target(self):
        spec = _budget(None).accountant.spec
        target = (accounting.epsilon(spec, 3) + accounting.epsilon(spec, 4)) / 2
        hook = _budget(target)
        hook.start(0, 10)
        stopped = []
        for number in range(1, 11):
            result = _result(number)
            hook.after_round(result)
            if result.stop:
                stopped.append(number)
                break
        self.assertEqual(stopped, [3])
        self.assertIn("would reach", result.stop)
        # Resumed after its last round, nothing is left to run.
        resumed = _budget(target)
        resumed.set_state(hook.get_state())
        self.assertIn("no round left", resumed.start(3, 10))

    def test_a_budget_below_one_round_is_refused(self):
        with self.assertRaisesRegex(errors.UserInputError, "below the epsilon of a"):
            _budget(1e-3).start(0, 10)

    def test_the_last_round_never_stops(self):
        hook = _budget(None)
        result = _result(1, last=True)
        hook.after_round(result)
        self.assertIsNone(result.stop)

    def test_state_round_trips_and_a_missing_state_is_refused(self):
        hook = _budget(None)
        hook.after_round(_result(1))
        again = _budget(None)
        again.set_state(hook.get_state())
        self.assertEqual(again.accountant.rounds, 1)
        with self.assertRaisesRegex(errors.UserInputError, "without differential"):
            again.set_state(None)


if __name__ == "__main__":
    tf.test.main()
