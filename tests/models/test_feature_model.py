import collections

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from absl.testing import parameterized

from tests.data import side_information
from tff_rec.data import feature_encoding
from tff_rec.models import feature_model
from tff_rec.models import matrix_factorization as mf


def _logit_bce_loss():
    """BCE on the logit column plus the penalty column."""

    class LogitBinaryCrossentropy(tf.keras.losses.Loss):
        def call(self, y_true, y_pred):
            bce = tf.keras.losses.binary_crossentropy(
                y_true,
                y_pred[:, mf.PREDICTION_COLUMN : mf.PREDICTION_COLUMN + 1],
                from_logits=True,
            )
            return bce + y_pred[:, mf.PENALTY_COLUMN]

    return LogitBinaryCrossentropy()


class FeatureModelTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        interactions = side_information.tiny_interactions()
        self.users = feature_encoding.encode_user_features(interactions)
        self.items = feature_encoding.encode_item_features(interactions)

    def _model(self, num_users=4, **kwargs):
        return feature_model.build_feature_model(
            num_users, self.items, self.users, **{"seed": 0, **kwargs}
        )

    def _x(self, users, items):
        users = np.array(users, np.int32)
        return collections.OrderedDict(
            user=users,
            item=np.array(items, np.int32),
            **self.users.lookup(users),
        )

    def test_input_spec_and_output_shape(self):
        model = self._model(embedding_dim=4, hidden_units=(8,))
        self.assertEqual(
            list(model.input_spec["x"]),
            ["user", "item", "age", "gender", "occupation", "zip_region"],
        )
        for spec in model.input_spec["x"].values():
            self.assertEqual(spec, tf.TensorSpec([None], tf.int32))
        self.assertEqual(model.input_spec["y"], tf.TensorSpec([None, 1], tf.float32))
        out = model.keras_model(self._x([0, 1, 2, 3, 0], [0, 1, 2, 0, 2]))
        self.assertEqual(out.shape, (5, 2))

    def test_accepts_a_sizes_mapping(self):
        model = feature_model.build_feature_model(
            2, self.items, dict(self.users.sizes()), seed=0
        )
        self.assertEqual(
            model.keras_model.get_layer(
                feature_model.FEATURE_EMBEDDINGS["gender"]
            ).input_dim,
            3,
        )

    def test_item_features_are_constants_not_weights(self):
        model = self._model()
        lookup = model.keras_model.get_layer(feature_model.ITEM_FEATURE_LOOKUP)
        self.assertEmpty(lookup.weights)
        shapes = [tuple(w.shape) for w in model.keras_model.weights]
        self.assertNotIn(self.items.genres.shape, shapes)
        self.assertNotIn(self.items.year_bucket.shape, shapes)
        genres, year_bucket = lookup(tf.constant([2, 0], tf.int32))
        self.assertAllEqual(genres, self.items.genres[[2, 0]])
        self.assertAllEqual(year_bucket, self.items.year_bucket[[2, 0]])

    def test_item_features_change_the_logit(self):
        model = self._model(embedding_dim=4, hidden_units=(8,))
        # Two items with the same id embedding differ only by their feature_model.
        items = model.keras_model.get_layer(feature_model.ITEM_EMBEDDING)
        table = items.get_weights()[0]
        table[1] = table[0]
        items.set_weights([table])
        out = model.keras_model(self._x([0, 0], [0, 1])).numpy()
        self.assertNotAllClose(out[0, 0], out[1, 0])

    def test_penalty_covers_the_id_embeddings(self):
        model = self._model(l2=0.2)
        keras_model = model.keras_model
        users, items = np.array([1, 3]), np.array([2, 0])
        out = keras_model(self._x(users, items)).numpy()
        p = keras_model.get_layer(feature_model.USER_EMBEDDING).get_weights()[0]
        q = keras_model.get_layer(feature_model.ITEM_EMBEDDING).get_weights()[0]
        expected = 0.2 * (np.sum(p[users] ** 2, 1) + np.sum(q[items] ** 2, 1))
        self.assertAllClose(out[:, mf.PENALTY_COLUMN], expected, rtol=1e-5)

    def test_global_and_local_layers_partition_the_weights(self):
        model = self._model()
        global_refs = [w.ref() for layer in model.global_layers for w in layer.weights]
        local_refs = [w.ref() for layer in model.local_layers for w in layer.weights]
        all_refs = [w.ref() for w in model.keras_model.weights]
        self.assertLen(global_refs + local_refs, len(all_refs))
        self.assertCountEqual(global_refs + local_refs, all_refs)
        self.assertEqual(
            [layer.name for layer in model.local_layers], [feature_model.USER_EMBEDDING]
        )
        self.assertContainsSubset(
            [
                feature_model.ITEM_EMBEDDING,
                feature_model.GENRE_PROJECTION,
                feature_model.YEAR_EMBEDDING,
                feature_model.PREDICTION,
                *feature_model.FEATURE_EMBEDDINGS.values(),
            ],
            [layer.name for layer in model.global_layers],
        )

    def test_same_seed_same_weights(self):
        first = self._model(seed=5).keras_model.get_weights()
        second = self._model(seed=5).keras_model.get_weights()
        for a, b in zip(first, second, strict=True):
            self.assertAllEqual(a, b)

    @parameterized.named_parameters(
        ("users", dict(num_users=0), "num_users"),
        ("dim", dict(embedding_dim=0), "embedding_dim"),
        ("l2", dict(l2=-0.1), "l2"),
        ("units", dict(hidden_units=[]), "hidden_units"),
    )
    def test_bad_arguments_raise(self, kwargs, named):
        with self.assertRaisesRegex(ValueError, named):
            self._model(**kwargs)

    @parameterized.named_parameters(
        ("missing", dict(age=8, gender=3, occupation=3), "exactly"),
        ("zero", dict(age=8, gender=0, occupation=3, zip_region=12), "gender"),
    )
    def test_bad_feature_sizes_raise(self, sizes, named):
        with self.assertRaisesRegex(ValueError, named):
            feature_model.build_feature_model(2, self.items, sizes)


class FeatureModelFederatedTest(tf.test.TestCase):
    """The model runs under TFF's FedAvg and Federated Reconstruction."""

    def setUp(self):
        super().setUp()
        interactions = side_information.tiny_interactions()
        self.users = feature_encoding.encode_user_features(interactions)
        self.items = feature_encoding.encode_item_features(interactions)

    def _client(self, global_user, local_user, items, labels):
        features_of_user = self.users.lookup(np.full(len(items), global_user))
        x = collections.OrderedDict(
            user=np.full(len(items), local_user, np.int32),
            item=np.array(items, np.int32),
            **features_of_user,
        )
        y = np.array(labels, np.float32)[:, None]
        return tf.data.Dataset.from_tensor_slices(
            collections.OrderedDict(x=x, y=y)
        ).batch(4)

    def _model_fn(self, num_users):
        def model_fn():
            return feature_model.build_feature_model(
                num_users,
                self.items,
                self.users,
                embedding_dim=4,
                hidden_units=(8,),
                seed=0,
            )

        return model_fn

    def test_two_rounds_of_fed_avg(self):
        build = self._model_fn(num_users=2)

        def tff_model_fn():
            model = build()
            return tff.learning.models.from_keras_model(
                model.keras_model, loss=_logit_bce_loss(), input_spec=model.input_spec
            )

        process = tff.learning.algorithms.build_weighted_fed_avg(
            tff_model_fn,
            client_optimizer_fn=tff.learning.optimizers.build_sgdm(0.1),
            server_optimizer_fn=tff.learning.optimizers.build_sgdm(0.1),
        )
        clients = [
            self._client(0, 0, [0, 1, 2, 0, 1], [1, 0, 1, 1, 0]),
            self._client(1, 1, [2, 2, 0, 1, 0, 1], [0, 0, 1, 1, 1, 0]),
        ]
        state = process.initialize()
        initial = process.get_model_weights(state).trainable
        for _ in range(2):
            output = process.next(state, clients)
            state = output.state
            loss = output.metrics["client_work"]["train"]["loss"]
            self.assertTrue(np.isfinite(loss))
        final = process.get_model_weights(state).trainable
        self.assertLen(final, len(build().keras_model.trainable_weights))
        self.assertFalse(
            all(np.allclose(a, b) for a, b in zip(initial, final, strict=True))
        )

    def test_one_round_of_fed_recon(self):
        build = self._model_fn(num_users=1)

        def recon_model_fn():
            model = build()
            return tff.learning.models.ReconstructionModel.from_keras_model_and_layers(
                keras_model=model.keras_model,
                global_layers=list(model.global_layers),
                local_layers=list(model.local_layers),
                input_spec=model.input_spec,
            )

        process = tff.learning.algorithms.build_fed_recon(
            recon_model_fn,
            loss_fn=_logit_bce_loss,
            client_optimizer_fn=tff.learning.optimizers.build_sgdm(0.1),
            server_optimizer_fn=tff.learning.optimizers.build_sgdm(1.0),
            reconstruction_optimizer_fn=tff.learning.optimizers.build_sgdm(0.1),
            dataset_split_fn=(
                tff.learning.models.ReconstructionModel.build_dataset_split_fn(
                    recon_epochs=1, post_recon_epochs=1, split_dataset=True
                )
            ),
        )
        clients = [
            self._client(0, 0, [0, 1, 2, 0, 1, 2, 0, 1], [1, 0, 1, 1, 0, 1, 1, 0]),
            self._client(2, 0, [2, 2, 0, 1, 0, 1, 1, 2], [0, 0, 1, 1, 1, 0, 1, 0]),
        ]
        state = process.initialize()
        initial = process.get_model_weights(state).trainable
        output = process.next(state, clients)
        final = process.get_model_weights(output.state).trainable
        # Only the global weights travel: the user embedding is not among them.
        model = build()
        global_count = sum(
            len(layer.trainable_weights) for layer in model.global_layers
        )
        self.assertLen(final, global_count)
        self.assertFalse(
            all(np.allclose(a, b) for a, b in zip(initial, final, strict=True))
        )
        loss = output.metrics["client_work"]["train"]["loss"]
        self.assertTrue(np.isfinite(loss))


if __name__ == "__main__":
    tf.test.main()
