"""Tests of the TF Serving warmup requests that `export_run` writes."""

import collections

import tensorflow as tf
from absl.testing import parameterized
from tensorflow_serving.apis import prediction_log_pb2

from tests.export import run_dirs
from tff_rec.export import exporter
from tff_rec.export import serving


class WarmupRequestsTest(run_dirs.ExportTestCase):
    @parameterized.parameters("centralized", "fedrecon")
    def test_warmup_requests_parse_and_run(self, algorithm):
        run_dir = run_dirs.write_run(self.tmp / "run", algorithm=algorithm)
        path = exporter.export_run(run_dir, self.export_dir, model_name="warm")
        loaded = tf.saved_model.load(str(path))
        records = [
            prediction_log_pb2.PredictionLog.FromString(raw.numpy())
            for raw in tf.data.TFRecordDataset(
                str(path / "assets.extra" / "tf_serving_warmup_requests")
            )
        ]
        self.assertBetween(len(records), len(serving.SIGNATURE_NAMES), 100)
        seen = collections.Counter()
        for record in records:
            request = record.predict_log.request
            self.assertEqual(request.model_spec.name, "warm")
            signature = loaded.signatures[request.model_spec.signature_name]
            _, specs = signature.structured_input_signature
            self.assertCountEqual(request.inputs, specs)
            inputs = {
                name: tf.constant(tf.make_ndarray(proto), specs[name].dtype)
                for name, proto in request.inputs.items()
            }
            outputs = signature(**inputs)
            for value in outputs.values():
                self.assertNotEmpty(value.numpy())
            seen[request.model_spec.signature_name] += 1
        self.assertCountEqual(seen, serving.SIGNATURE_NAMES)


if __name__ == "__main__":
    tf.test.main()
