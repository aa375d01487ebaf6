"""One-line errors and exit status 2 of the command-line helpers."""

from __future__ import annotations

import contextlib
import io
from unittest import mock

from absl.testing import absltest

from tff_rec import cli
from tff_rec import errors


class CliTest(absltest.TestCase):
    def _exit_and_stderr(self, fn) -> tuple[int, str]:
        stderr = io.StringIO()
        with (
            mock.patch("sys.argv", ["/path/to/tool.py"]),
            contextlib.redirect_stderr(stderr),
            self.assertRaises(SystemExit) as raised,
        ):
            fn()
        return raised.exception.code, stderr.getvalue()

    def test_fail_prints_one_line_and_exits_2(self):
        code, stderr = self._exit_and_stderr(lambda: cli.fail("bad thing"))
        self.assertEqual(code, cli.USAGE_ERROR_EXIT_CODE)
        self.assertEqual(code, 2)
        self.assertEqual(stderr, "tool.py: error: bad thing\n")

    def test_user_input_errors_exit_2(self):
        def raise_user_error():
            with cli.user_errors_exit():
                raise errors.UserInputError("rounds=0 is not positive")

        code, stderr = self._exit_and_stderr(raise_user_error)
        self.assertEqual(code, 2)
        self.assertEqual(stderr, "tool.py: error: rounds=0 is not positive\n")

    def test_other_errors_pass_through(self):
        with self.assertRaises(RuntimeError), cli.user_errors_exit():
            raise RuntimeError("a bug")

    def test_unknown_flag_exits_2_in_one_line(self):
        code, stderr = self._exit_and_stderr(
            lambda: cli.parse_flags(["tool.py", "--no_such_flag_anywhere=1"])
        )
        self.assertEqual(code, 2)
        self.assertLen(stderr.splitlines(), 1)
        self.assertStartsWith(stderr, "tool.py: error: ")
        self.assertIn("no_such_flag_anywhere", stderr)


if __name__ == "__main__":
    absltest.main()
