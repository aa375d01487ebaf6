"""`python -m pipelines.partition`, run as a user runs it."""

import json

from absl.testing import absltest

from tests.pipelines import base


class PartitionPipelineTest(base.PipelineTestCase):
    def test_prints_the_partition_and_lists_every_client(self):
        output = self.tmp / "clients.json"
        result = base.run_pipeline(
            "partition",
            *base.as_flags(
                dict(
                    dataset="csv",
                    data_dir=self.csv,
                    partition="iid",
                    num_clients=5,
                    output_json=output,
                )
            ),
        )
        self.assert_ok(result)
        self.assertIn("iid partition", result.stdout)
        self.assertIn("5 clients", result.stdout)
        payload = json.loads(output.read_text())
        self.assertLen(payload["clients"], 5)
        self.assertEqual(sum(c["users"] for c in payload["clients"]), base.NUM_USERS)
        self.assertEqual(
            sum(c["examples"] for c in payload["clients"]),
            payload["stats"]["total_examples"],
        )

    def test_bad_settings_exit_2_before_reading_data(self):
        result = base.run_pipeline(
            "partition", "--partition=dirichlet", "--data_dir=/nonexistent"
        )
        self.assert_error(result, "'dirichlet' partition needs num_clients")


if __name__ == "__main__":
    absltest.main()
