"""Which execution context `install_runtime` installs, and what it refuses.

The `set_*_execution_context` functions are replaced by mocks: installing a
real context here would replace the one the test session runs on.
"""

from __future__ import annotations

from unittest import mock

from absl.testing import absltest
from absl.testing import parameterized

from tff_rec import errors
from tff_rec.runtime import inprocess
from tff_rec.runtime import local_cpp
from tff_rec.runtime import remote
from tff_rec.runtime import selection


class InstallRuntimeTest(parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.set_inprocess = self.enter_context(
            mock.patch.object(inprocess, "set_inprocess_execution_context")
        )
        self.set_local_cpp = self.enter_context(
            mock.patch.object(local_cpp, "set_local_cpp_execution_context")
        )
        self.set_remote = self.enter_context(
            mock.patch.object(remote, "set_remote_execution_context")
        )

    def test_default_is_inprocess(self):
        context = selection.install_runtime()
        self.assertIs(context, self.set_inprocess.return_value)
        self.set_local_cpp.assert_not_called()
        self.set_remote.assert_not_called()

    @parameterized.named_parameters(
        ("enum", selection.RuntimeType.TFF_CPP), ("string", "tff_cpp")
    )
    def test_tff_cpp_installs_an_owned_worker_context(self, runtime):
        context = selection.install_runtime(
            runtime=runtime, simulate_secure_aggregation=True
        )
        self.assertIs(context, self.set_local_cpp.return_value)
        self.set_local_cpp.assert_called_once_with(simulate_secure_aggregation=True)
        self.set_inprocess.assert_not_called()

    @parameterized.named_parameters(
        ("enum", selection.RuntimeType.INPROCESS), ("string", "inprocess")
    )
    def test_inprocess_falls_back_to_an_owned_worker_context(self, runtime):
        selection.install_runtime(
            runtime=runtime,
            simulate_secure_aggregation=True,
            log_device_placement=True,
        )
        (_, kwargs) = self.set_inprocess.call_args
        self.assertTrue(kwargs["log_device_placement"])
        with mock.patch.object(
            local_cpp, "create_local_cpp_execution_context"
        ) as create:
            self.assertIs(kwargs["fallback_fn"](), create.return_value)
        create.assert_called_once_with(simulate_secure_aggregation=True)

    def test_workers_default_to_tff_cpp(self):
        context = selection.install_runtime(
            workers="127.0.0.1:1", simulate_secure_aggregation=True
        )
        self.assertIs(context, self.set_remote.return_value)
        self.set_remote.assert_called_once_with(
            "127.0.0.1:1",
            connect_timeout=remote.DEFAULT_CONNECT_TIMEOUT_SECONDS,
            call_timeout=remote.DEFAULT_CALL_TIMEOUT_SECONDS,
            simulate_secure_aggregation=True,
        )

    def test_unknown_runtime_is_refused(self):
        with self.assertRaisesRegex(
            errors.UserInputError, "runtime 'gpu'; allowed: 'inprocess', 'tff_cpp'"
        ):
            selection.install_runtime(runtime="gpu")

    def test_workers_need_tff_cpp(self):
        with self.assertRaisesRegex(
            errors.UserInputError, "--runtime=tff_cpp, not --runtime=inprocess"
        ):
            selection.install_runtime(runtime="inprocess", workers="127.0.0.1:1")
        self.set_remote.assert_not_called()

    @parameterized.parameters(0.0, -1.0, float("nan"))
    def test_connect_timeout_must_be_positive(self, seconds):
        with self.assertRaisesRegex(errors.UserInputError, "workers_connect_timeout"):
            selection.install_runtime(
                workers="127.0.0.1:1", workers_connect_timeout=seconds
            )
        self.set_remote.assert_not_called()


if __name__ == "__main__":
    absltest.main()
