import numpy as np
import tensorflow as tf

from tests import synthetic
from tff_rec.data import partition as partition_lib
from tff_rec.data import splits
from tff_rec.evaluation import baselines


class BaselinesTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        data = synthetic.make_interactions(num_users=40, num_items=25, per_user=15)
        self.split = splits.random_holdout(data, test_fraction=0.2, seed=0)

    def test_centralized_beats_global_mean(self):
        result = baselines.train_centralized(
            self.split.train,
            self.split.test,
            embedding_dim=4,
            epochs=60,
            batch_size=32,
            learning_rate=0.02,
            l2=0.01,
        )
        mean = float(np.mean(self.split.train.ratings))
        mean_rmse = float(np.sqrt(np.mean((self.split.test.ratings - mean) ** 2)))
        self.assertLess(result.metrics.rmse, mean_rmse)
        self.assertGreater(result.examples_per_second, 0)

    def test_local_only_uses_only_own_data(self):
        # With one client per user, an item the user never rated is predicted
        # from that user's biases alone: every test item of a user is unseen,
        # so all its test predictions are equal.
        partition = partition_lib.partition_by_user(self.split.train)
        result = baselines.train_local_only(
            self.split.train,
            self.split.test,
            partition,
            embedding_dim=4,
            epochs=5,
            batch_size=32,
            learning_rate=0.01,
        )
        self.assertEqual(result.metrics.num_examples, len(self.split.test))
        test = self.split.test
        for user in np.unique(test.users):
            predictions = result.predictions[test.users == user]
            self.assertAllClose(predictions, np.full_like(predictions, predictions[0]))
        # ...and users differ: each has its own biases.
        self.assertGreater(np.std(result.predictions), 0.0)

    def test_local_only_single_client_matches_centralized_quality(self):
        # One client holding everyone is centralized training by another name.
        partition = partition_lib.partition_iid(self.split.train, num_clients=1)
        kwargs = dict(
            embedding_dim=4, epochs=60, batch_size=32, learning_rate=0.02, l2=0.01
        )
        local = baselines.train_local_only(
            self.split.train, self.split.test, partition, **kwargs
        )
        central = baselines.train_centralized(
            self.split.train, self.split.test, **kwargs
        )
        self.assertAllClose(local.metrics.rmse, central.metrics.rmse, atol=0.1)

    def test_local_only_rejects_held_out_users(self):
        data = synthetic.make_interactions(num_users=20, num_items=10, per_user=5)
        split = splits.held_out_users(data, user_fraction=0.2, seed=0)
        partition = partition_lib.partition_by_user(split.train)
        with self.assertRaisesRegex(ValueError, "participant"):
            baselines.train_local_only(split.train, split.test, partition, epochs=1)


if __name__ == "__main__":
    tf.test.main()
