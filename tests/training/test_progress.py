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

    def test_format_duration(self):
        self.assertEqual(progress.format_duration(5), "5s")
        self.assertEqual(progress.format_duration(125), "2m05s")
        self.assertEqual(progress.format_duration(3725), "1h02m")


if __name__ == "__main__":
    tf.test.main()
