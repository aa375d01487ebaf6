"""End-to-end runs of `python -m pipelines.privacy` against the library."""

import re
import subprocess

from absl.testing import absltest
from absl.testing import parameterized

from tests.pipelines import base
from tff_rec.privacy import accounting
from tff_rec.privacy import calibration

TIMEOUT_S = 120
_NUMBER = r"([0-9.eE+-]+)"


def run_privacy(*flags: str) -> subprocess.CompletedProcess:
    return base.run_pipeline("privacy", *flags, timeout=TIMEOUT_S)


class PrivacyCliTest(parameterized.TestCase):
    @parameterized.named_parameters(
        ("gaussian_poisson", "gaussian", "poisson", "RDP"),
        ("laplace_poisson", "laplace", "poisson", "PLD"),
        ("gaussian_fixed_size", "gaussian", "fixed_size", "RDP"),
    )
    def test_epsilon_mode(self, mechanism, sampling, accountant_name):
        result = run_privacy(
            "--mode=epsilon",
            f"--mechanism={mechanism}",
            f"--sampling={sampling}",
            "--noise_multiplier=1.5",
            "--rounds=60",
            "--clients_per_round=50",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        lines = result.stdout.strip().splitlines()
        self.assertLen(lines, 1)
        match = re.fullmatch(
            rf"epsilon={_NUMBER} delta={_NUMBER} after 60 rounds \({mechanism}, "
            rf"noise_multiplier=1.5, q=0.053, {sampling.replace('_', '-')} "
            rf"sampling, {accountant_name}\)",
            lines[0],
        )
        self.assertIsNotNone(match, lines[0])
        spec = accounting.PrivacySpec(
            mechanism=mechanism,
            noise_multiplier=1.5,
            clients_per_round=50,
            num_clients=943,
            sampling=sampling,
        )
        self.assertAlmostEqual(
            float(match[1]), accounting.epsilon(spec, 60), delta=1e-3 * float(match[1])
        )
        self.assertAlmostEqual(float(match[2]), 943**-1.1, delta=1e-6)

    def test_noise_mode(self):
        result = run_privacy(
            "--mode=noise",
            "--target_epsilon=3",
            "--rounds=40",
            "--clients_per_round=20",
            "--num_clients=500",
            "--delta=1e-5",
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        match = re.fullmatch(
            rf"noise_multiplier={_NUMBER} reaches epsilon=3 delta=1.00e-05 after 40 "
            r"rounds \(gaussian, q=0.04, poisson sampling, RDP\)",
            result.stdout.strip(),
        )
        self.assertIsNotNone(match, result.stdout)
        printed = float(match[1])
        calibrated = calibration.calibrate_noise_multiplier(
            target_epsilon=3.0,
            rounds=40,
            clients_per_round=20,
            num_clients=500,
            delta=1e-5,
        )
        # Printed rounded up to 4 significant digits: still within the budget.
        self.assertGreaterEqual(printed, calibrated)
        self.assertAlmostEqual(printed, calibrated, delta=1e-3 * calibrated)
        spec = accounting.PrivacySpec(
            mechanism="gaussian",
            noise_multiplier=printed,
            clients_per_round=20,
            num_clients=500,
            delta=1e-5,
        )
        self.assertLessEqual(accounting.epsilon(spec, 40), 3.0)

    @parameterized.named_parameters(
        ("too_many_clients", ["--clients_per_round=1000"], "exceeds the 943 clients"),
        ("unknown_mechanism", ["--mechanism=cauchy"], "--mechanism"),
    )
    def test_bad_input_exits_2_in_one_line(self, flags, message):
        result = run_privacy(
            "--mode=epsilon",
            "--noise_multiplier=1",
            "--rounds=10",
            "--clients_per_round=50",
            *flags,  # A repeated flag's last value wins.
        )
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertLen(result.stderr.strip().splitlines(), 1, result.stderr)
        self.assertIn(message, result.stderr)
        self.assertEqual(result.stdout, "")


if __name__ == "__main__":
    absltest.main()
