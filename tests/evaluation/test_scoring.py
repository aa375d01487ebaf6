import collections

import numpy as np
import tensorflow as tf

from tff_rec.evaluation import scoring
from tff_rec.models import ncf
from tff_rec.tasks import losses


class ScoreFnTest(tf.test.TestCase):
    def test_scores_every_item_for_each_user(self):
        model = ncf.build_gmf(5, 7, embedding_dim=3, seed=0)
        scores = scoring.score_fn(model, 7, items_per_call=4)(np.array([3, 1]))
        self.assertEqual(scores.shape, (2, 7))
        expected = model.keras_model.predict(
            collections.OrderedDict(
                user=np.repeat([3, 1], 7).astype(np.int32),
                item=np.tile(np.arange(7), 2).astype(np.int32),
            ),
            verbose=0,
        )[:, 0].reshape(2, 7)
        self.assertAllClose(scores, expected, atol=1e-6)

    def test_user_index_maps_global_ids_to_table_rows(self):
        model = ncf.build_gmf(2, 4, embedding_dim=3, seed=0)
        direct = scoring.score_fn(model, 4)(np.array([1]))
        mapped = scoring.score_fn(model, 4, user_index=np.array([0, 0, 1]))(
            np.array([2])
        )
        self.assertAllClose(direct, mapped)


class PopularityTest(tf.test.TestCase):
    def test_every_user_gets_the_item_counts(self):
        scores = scoring.popularity_score_fn(np.array([2, 0, 2, 3]), 5)(np.arange(3))
        self.assertAllEqual(scores, np.tile([1.0, 0.0, 2.0, 1.0, 0.0], (3, 1)))


class ReconstructLocalTest(tf.test.TestCase):
    def test_equals_each_user_alone_and_freezes_global_layers(self):
        num_users, num_items, batch, lr, epochs = 3, 9, 4, 0.5, 2
        rng = np.random.default_rng(0)
        sizes = [5, 9, 2]
        users = np.repeat(np.arange(num_users), sizes)
        items = rng.integers(0, num_items, len(users))
        labels = rng.integers(0, 2, len(users)).astype(np.float32)
        loss = losses.BinaryCrossEntropy()

        joint = ncf.build_gmf(num_users, num_items, embedding_dim=4, l2=0.01, seed=1)
        global_before = [
            w.numpy().copy() for layer in joint.global_layers for w in layer.weights
        ]
        scoring.reconstruct_local(
            joint,
            loss,
            {"user": users, "item": items},
            labels,
            batch_size=batch,
            learning_rate=lr,
            epochs=epochs,
        )
        for before, layer_weight in zip(
            global_before,
            [w for layer in joint.global_layers for w in layer.weights],
            strict=True,
        ):
            self.assertAllEqual(before, layer_weight.numpy())

        # Each user alone: plain mini-batch SGD on the mean loss of its batches.
        alone = ncf.build_gmf(num_users, num_items, embedding_dim=4, l2=0.01, seed=1)
        user_table = alone.keras_model.get_layer(ncf.GMF_USER_EMBEDDING).embeddings
        for u in range(num_users):
            rows = np.flatnonzero(users == u)
            for _ in range(epochs):
                for start in range(0, len(rows), batch):
                    part = rows[start : start + batch]
                    with tf.GradientTape() as tape:
                        y_pred = alone.keras_model(
                            {
                                "user": tf.constant(users[part], tf.int32),
                                "item": tf.constant(items[part], tf.int32),
                            }
                        )
                        value = loss(labels[part].reshape(-1, 1), y_pred)
                    grad = tf.convert_to_tensor(tape.gradient(value, user_table))
                    user_table.assign_sub(lr * grad)
        self.assertAllClose(
            joint.keras_model.get_layer(ncf.GMF_USER_EMBEDDING).embeddings,
            user_table,
            atol=1e-6,
        )


if __name__ == "__main__":
    tf.test.main()
