"""The audit's options, and its DP runs catching a broken mechanism."""

import math

import pytest
from absl.testing import absltest
from absl.testing import parameterized

from tests import synthetic
from tff_rec import errors
from tff_rec.privacy.audit import runner
from tff_rec.runtime import selection


class AuditOptionsTest(parameterized.TestCase):
    def test_defaults(self):
        options = runner.AuditOptions()
        self.assertEqual(options.algorithms, ("fedrecon", "fedavg_unweighted"))
        self.assertEqual(options.epsilons, (1.0, 5.0, 8.0))
        self.assertLen(options.audited_configurations, 12)

    @parameterized.named_parameters(
        ("dataset", dict(dataset="ml-10m"), "unknown dataset"),
        ("algorithm", dict(algorithms=("fedsgd",)), "algorithms"),
        ("centralized", dict(algorithms=("centralized",)), "not federated"),
        ("no_algorithm", dict(algorithms=()), "at least one"),
        ("rounds", dict(rounds=0), "rounds must be >= 1"),
        ("infinite_epsilon", dict(epsilons=(math.inf,)), "finite"),
        ("negative_epsilon", dict(epsilons=(-1.0,)), "epsilons must be > 0"),
        ("fraction", dict(non_member_fraction=1.0), "non_member_fraction"),
        ("delta", dict(delta=0.0), "delta"),
        ("canaries", dict(canaries=1), "canaries must be >= 2"),
        ("cohort", dict(cohorts=(0,)), "cohorts must be >= 1"),
        ("configuration", dict(configurations=("nope",)), "unknown audit"),
        ("bootstrap", dict(bootstrap=5), "bootstrap must be >= 10"),
    )
    def test_refused(self, options, message):
        with self.assertRaisesRegex(errors.UserInputError, message):
            runner.AuditOptions(**options)


@pytest.mark.slow
class BrokenMechanismTest(absltest.TestCase):
    """A DP run whose noise is a tenth of what its accountant is told gets an
    empirical epsilon above the claim; the honest run does not."""

    def test_the_audit_catches_a_broken_mechanism(self):
        selection.install_runtime()
        path = synthetic.write_csv(
            self.create_tempdir().full_path + "/ratings.csv",
            num_users=240,
            num_items=40,
            per_user=10,
        )
        options = runner.AuditOptions(
            dataset="csv",
            data_dir=str(path),
            algorithms=("fedrecon",),
            rounds=20,
            clients_per_round=24,
            audited_clients=4,
            shadow_clients=4,
            cohorts=(1,),
            configurations=("mean",),
            canaries=300,
            held_out_canaries=1000,
            bootstrap=200,
        )
        audit = runner.Audit(options, "fedrecon", progress=lambda _: None)
        honest = audit.dp_rows(1.0)[-1]
        broken = audit.dp_rows(1.0, noise_factor=0.1)[-1]
        self.assertEqual(honest["attack"], "canary_epsilon")
        self.assertFalse(honest["broken_dp"])
        self.assertTrue(broken["broken_dp"])
        self.assertAlmostEqual(honest["epsilon_accountant"], 1.0, delta=0.02)
        self.assertLessEqual(honest["epsilon_empirical_ci_low"], 1.0)
        self.assertGreater(broken["epsilon_empirical_ci_low"], 1.0)


if __name__ == "__main__":
    absltest.main()
