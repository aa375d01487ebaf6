"""Progress lines."""

import io

import tensorflow as tf

from tff_rec.training import progress


class ProgressTest(tf.test.TestCase):
    def test_line_has_count_and_eta(self):
        stream = io.StringIO()
        p = progress.Progress(10, stream=stream)
        line = p.update(5, "train_loss=1.0")
        self.assertStartsWith(line, "round 5/10 ")
        self.assertIn("ETA", line)
        self.assertEqual(stream.getvalue().strip(), line)

    def test_live_bar_rewrites_one_line_and_ends_it(self):
        stream = io.StringIO()
        p = progress.Progress(2, stream=stream, live=True)
        p.update(1, "train_loss=1.0")
        self.assertStartsWith(stream.getvalue(), "\r[##########..........] round 1/2")
        self.assertNotIn("\n", stream.getvalue())
        p.update(2, "train_loss=0.5")
        self.assertEqual(stream.getvalue().count("\n"), 1)
        self.assertIn("[####################] round 2/2", stream.getvalue())

    def test_final_ends_a_live_bar_early(self):
        stream = io.StringIO()
        p = progress.Progress(10, stream=stream, live=True)
        p.update(3, final=True)
        self.assertTrue(stream.getvalue().endswith("\n"))

    def test_not_a_terminal_prints_lines(self):
        stream = io.StringIO()
        p = progress.Progress(2, stream=stream)
        p.update(1)
        p.update(2)
        self.assertLen(stream.getvalue().splitlines(), 2)
        self.assertNotIn("\r", stream.getvalue())

    def test_format_duration(self):
        self.assertEqual(progress.format_duration(5), "5s")
        self.assertEqual(progress.format_duration(125), "2m05s")
        self.assertEqual(progress.format_duration(3725), "1h02m")


if __name__ == "__main__":
    tf.test.main()
