"""The round loop's common hooks: evaluation, releases, round metrics."""

import collections
import csv
import io
import pathlib

import numpy as np
import tensorflow as tf

from tff_rec.training import hooks
from tff_rec.training import metrics_writer


def _result(number, row=None, **kwargs):
    return hooks.RoundResult(number, state=f"state{number}", row=row or {}, **kwargs)


class HooksTest(tf.test.TestCase):
    def test_periodic_evaluation(self):
        seen = []

        def evaluate(state):
            seen.append(state)
            return {"test_rmse": 0.9}

        hook = hooks.PeriodicEvaluation(evaluate, every=3)
        results = [_result(n) for n in range(1, 6)]
        results[-1].stop = "budget"
        results.append(_result(6, diverged=True, stop="diverged"))
        for result in results:
            hook.after_round(result)
        # Round 3 (period), round 5 (training stops after it); never a
        # diverged state.
        self.assertEqual(seen, ["state3", "state5"])
        self.assertEqual(results[2].row, {"test_rmse": 0.9})
        self.assertEqual(results[0].row, {})

    def test_metrics_release_writes_rows(self):
        out = pathlib.Path(self.create_tempdir().full_path)
        with metrics_writer.MetricsWriter(out, ["train_loss"]) as writer:
            hooks.MetricsRelease(writer).after_round(_result(1, {"train_loss": 2.0}))
        with open(out / "metrics.csv") as f:
            self.assertEqual(
                list(csv.DictReader(f)), [{"round": "1", "train_loss": "2.0"}]
            )

    def test_progress_release_shows_headline_metrics(self):
        stream = io.StringIO()
        hook = hooks.ProgressRelease(stream=stream)
        hook.start(4, 10)
        hook.after_round(
            _result(5, {"train_loss": 1.0, "clients": 50, "sampled_hr@10": 0.5})
        )
        line = stream.getvalue().strip()
        self.assertStartsWith(line, "round 5/10 ")
        self.assertIn("train_loss=1.0000 sampled_hr@10=0.5000", line)
        self.assertNotIn("clients", line)

    def test_round_metrics(self):
        metrics = collections.OrderedDict(
            client_work=collections.OrderedDict(
                train=collections.OrderedDict(loss=np.float32(0.5), rmse=1.0)
            ),
            aggregator=collections.OrderedDict(
                mean_value=(), query=collections.OrderedDict(clip=0.25)
            ),
        )
        self.assertEqual(
            hooks.round_metrics(metrics),
            {"train_loss": 0.5, "train_rmse": 1.0, "clip": 0.25},
        )

    def test_the_base_hook_changes_nothing(self):
        hook = hooks.RoundHook()
        self.assertIsNone(hook.start(0, 3))
        self.assertEqual(hook.client_data(None, [1, 2]), [1, 2])
        result = _result(1, {"a": 1.0})
        hook.after_round(result)
        self.assertEqual(result.row, {"a": 1.0})
        self.assertIsNone(hook.state_key)


if __name__ == "__main__":
    tf.test.main()
