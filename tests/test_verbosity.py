"""What TensorFlow and TFF print: the --verbosity mapping and the noise filter."""

import os
import subprocess
import sys
import textwrap

import tensorflow as tf
from absl.testing import parameterized

from tff_rec import verbosity


class VerbosityFromArgvTest(parameterized.TestCase):
    @parameterized.named_parameters(
        ("absent", ["prog", "--rounds=2"], None),
        ("equals", ["prog", "--verbosity=1"], 1),
        ("separate", ["prog", "--verbosity", "0"], 0),
        ("short", ["prog", "-v=-2"], -2),
        ("short_separate", ["prog", "-v", "1"], 1),
        ("single_dash", ["prog", "-verbosity=0"], 0),
        ("last_wins", ["prog", "--verbosity=0", "--verbosity=-1"], -1),
        ("not_an_int", ["prog", "--verbosity=loud"], None),
        ("after_double_dash", ["prog", "--", "--verbosity=1"], None),
        ("other_flag", ["prog", "--verbose_eval=1"], None),
    )
    def test_reads_absl_forms(self, argv, expected):
        self.assertEqual(verbosity.verbosity_from_argv(argv), expected)

    @parameterized.named_parameters(
        ("debug", 1, 0),
        ("info", 0, 0),
        ("warning", -1, 1),
        ("error", -2, 2),
        ("fatal", -3, 3),
        ("below_fatal", -7, 3),
    )
    def test_cpp_level(self, value, level):
        self.assertEqual(verbosity.cpp_min_log_level(value), level)


class KnownNoiseTest(tf.test.TestCase):
    def test_matches_the_known_lines_only(self):
        self.assertTrue(
            verbosity.is_known_noise(
                "2026-12-05 20:38:50.710226: E tensorflow/compiler/xla/stream_executor"
                "/cuda/cuda_dnn.cc:9342] Unable to register cuDNN factory: ..."
            )
        )
        self.assertTrue(
            verbosity.is_known_noise(
                "E1205 grappler_item_builder.cc:670] Failed to detect the fetch "
                "node(s), skipping this input"
            )
        )
        self.assertFalse(verbosity.is_known_noise("W1205 some real warning"))

    def test_filter_drops_noise_and_keeps_the_rest_at_fd_level(self):
        # A fresh process: the filter works on file descriptor 2, which
        # C++ code writes to directly.
        script = textwrap.dedent(
            """
            import os
            from tff_rec import verbosity
            verbosity.configure(["prog"])
            with verbosity.filter_known_noise():
                os.write(2, b"E x.cc:1] Unable to register cuBLAS factory: x\\n")
                os.write(2, b"W x.cc:2] a real warning\\n")
            os.write(2, b"after\\n")
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=os.getcwd(),
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "W x.cc:2] a real warning\nafter\n")

    def test_filter_is_off_at_info(self):
        script = textwrap.dedent(
            """
            import os
            from tff_rec import verbosity
            verbosity.configure(["prog", "--verbosity=0"])
            print(os.environ["TF_CPP_MIN_LOG_LEVEL"], flush=True)
            with verbosity.filter_known_noise():
                os.write(2, b"E x.cc:1] Unable to register cuBLAS factory: x\\n")
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
        )
        self.assertEqual(result.stdout.strip(), "0")
        self.assertIn("Unable to register cuBLAS factory", result.stderr)


if __name__ == "__main__":
    tf.test.main()
