"""The owned-worker local C++ context: its arguments and its compiler.

How long its worker lives is tested in `test_worker_processes.py`.
"""

from __future__ import annotations

from unittest import mock

import tensorflow_federated as tff
from absl.testing import absltest
from absl.testing import parameterized

from tff_rec.runtime import local_cpp
from tff_rec.runtime import worker_processes


class CreateLocalCppExecutionContextTest(parameterized.TestCase):
    @parameterized.named_parameters(
        ("negative_clients", dict(default_num_clients=-1), "default_num_clients=-1"),
        ("zero_timeout", dict(startup_timeout=0.0), "startup_timeout=0.0"),
        ("negative_timeout", dict(startup_timeout=-5.0), "startup_timeout=-5.0"),
    )
    def test_bad_arguments_start_no_worker(self, kwargs, message):
        with (
            mock.patch.object(worker_processes, "spawn") as spawn,
            self.assertRaisesRegex(ValueError, message),
        ):
            local_cpp.create_local_cpp_execution_context(**kwargs)
        spawn.assert_not_called()

    def test_missing_worker_binary_is_reported(self):
        with (
            mock.patch.object(
                worker_processes, "worker_binary_path", return_value="/nonexistent"
            ),
            mock.patch.object(worker_processes, "spawn") as spawn,
            self.assertRaisesRegex(RuntimeError, "/nonexistent"),
        ):
            local_cpp.create_local_cpp_execution_context()
        spawn.assert_not_called()


class NativeCompilerTest(absltest.TestCase):
    def test_without_secure_aggregation_is_tffs_native_compiler(self):
        self.assertIs(
            local_cpp.native_compiler(),
            tff.backends.native.desugar_and_transform_to_native,
        )

    def test_secure_aggregation_replaces_secure_intrinsics_first(self):
        with (
            mock.patch.object(
                tff.backends.test,
                "replace_secure_intrinsics_with_bodies",
                return_value="insecure",
            ) as replace,
            mock.patch.object(
                tff.backends.native,
                "desugar_and_transform_to_native",
                return_value="compiled",
            ) as compile_native,
        ):
            compiler = local_cpp.native_compiler(simulate_secure_aggregation=True)
            self.assertEqual(compiler("secure"), "compiled")
        replace.assert_called_once_with("secure")
        compile_native.assert_called_once_with("insecure")


if __name__ == "__main__":
    absltest.main()
