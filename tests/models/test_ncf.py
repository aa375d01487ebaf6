import collections

import numpy as np
import tensorflow as tf
import tensorflow_federated as tff
from absl.testing import parameterized

from tff_rec.models import matrix_factorization as mf
from tff_rec.models import ncf

_BUILDERS = (
    ("gmf", ncf.build_gmf),
    ("mlp", ncf.build_mlp),
    ("neumf", ncf.build_neumf),
)
_USER_LAYERS = {
    "gmf": (ncf.GMF_USER_EMBEDDING,),
    "mlp": (ncf.MLP_USER_EMBEDDING,),
    "neumf": (ncf.GMF_USER_EMBEDDING, ncf.MLP_USER_EMBEDDING),
}
_ITEM_LAYERS = {
    "gmf": (ncf.GMF_ITEM_EMBEDDING,),
    "mlp": (ncf.MLP_ITEM_EMBEDDING,),
    "neumf": (ncf.GMF_ITEM_EMBEDDING, ncf.MLP_ITEM_EMBEDDING),
}


def _batch(users, items):
    return collections.OrderedDict(
        user=np.array(users, np.int32), item=np.array(items, np.int32)
    )


def _logit_bce(y_true, y_pred):
    bce = tf.keras.losses.binary_crossentropy(
        y_true,
        y_pred[:, mf.PREDICTION_COLUMN : mf.PREDICTION_COLUMN + 1],
        from_logits=True,
    )
    return bce + y_pred[:, mf.PENALTY_COLUMN]


class NcfTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(*_BUILDERS)
    def test_init_stddev_scales_every_embedding(self, builder):
        name = builder.__name__.removeprefix("build_")
        for stddev in (None, 0.1):
            model = builder(50, 400, embedding_dim=16, seed=0, init_stddev=stddev)
            for layer in _USER_LAYERS[name] + _ITEM_LAYERS[name]:
                table = model.keras_model.get_layer(layer).get_weights()[0]
                expected = ncf.EMBEDDING_STDDEV if stddev is None else stddev
                self.assertAllClose(np.std(table), expected, rtol=0.1)

    @parameterized.named_parameters(*_BUILDERS)
    def test_output_is_logit_and_penalty_per_example(self, builder):
        model = builder(3, 4, seed=0)
        out = model.keras_model(_batch([0, 1, 2, 0, 1], [3, 2, 1, 0, 0]))
        self.assertEqual(out.shape, (5, 2))
        self.assertEqual(model.input_spec, mf.batch_input_spec())
        self.assertEqual(list(model.keras_model.input), ["user", "item"])

    def test_gmf_logit_is_weighted_elementwise_product(self):
        model = ncf.build_gmf(2, 3, embedding_dim=2, l2=0.5)
        keras_model = model.keras_model
        p = np.array([[1.0, 2.0], [0.0, -1.0]], np.float32)
        q = np.array([[3.0, 1.0], [1.0, 1.0], [2.0, 4.0]], np.float32)
        keras_model.get_layer(ncf.GMF_USER_EMBEDDING).set_weights([p])
        keras_model.get_layer(ncf.GMF_ITEM_EMBEDDING).set_weights([q])
        keras_model.get_layer(ncf.PREDICTION).set_weights(
            [np.array([[1.0], [0.5]], np.float32), np.array([0.25], np.float32)]
        )
        out = keras_model(_batch([0, 1], [0, 2])).numpy()
        # user 0, item 0: 1*(1*3) + 0.5*(2*1) + 0.25 = 4.25
        # user 1, item 2: 1*(0*2) + 0.5*(-1*4) + 0.25 = -1.75
        self.assertAllClose(out[:, mf.PREDICTION_COLUMN], [4.25, -1.75])
        # 0.5 * (|p|^2 + |q|^2): 0.5 * (5 + 10), 0.5 * (1 + 20)
        self.assertAllClose(out[:, mf.PENALTY_COLUMN], [7.5, 10.5])

    @parameterized.named_parameters(*_BUILDERS)
    def test_penalty_is_l2_times_squares_of_the_examples_embeddings(self, builder):
        name = builder.__name__.removeprefix("build_")
        model = builder(3, 5, l2=0.3, seed=1)
        keras_model = model.keras_model
        # Enlarge the weights so the penalty is not vanishingly small.
        for layer in model.keras_model.layers:
            if isinstance(layer, tf.keras.layers.Embedding):
                layer.set_weights([layer.get_weights()[0] * 100.0])
        users, items = np.array([0, 2, 1]), np.array([4, 0, 4])
        out = keras_model(_batch(users, items)).numpy()
        expected = np.zeros(3)
        for layer_name in _USER_LAYERS[name]:
            table = keras_model.get_layer(layer_name).get_weights()[0]
            expected += np.sum(table[users] ** 2, axis=1)
        for layer_name in _ITEM_LAYERS[name]:
            table = keras_model.get_layer(layer_name).get_weights()[0]
            expected += np.sum(table[items] ** 2, axis=1)
        self.assertAllClose(out[:, mf.PENALTY_COLUMN], 0.3 * expected, rtol=1e-5)

    @parameterized.named_parameters(*_BUILDERS)
    def test_global_and_local_layers_partition_the_weights(self, builder):
        name = builder.__name__.removeprefix("build_")
        model = builder(4, 6, seed=0)
        global_refs = [w.ref() for layer in model.global_layers for w in layer.weights]
        local_refs = [w.ref() for layer in model.local_layers for w in layer.weights]
        all_refs = [w.ref() for w in model.keras_model.weights]
        self.assertLen(global_refs + local_refs, len(all_refs))
        self.assertCountEqual(global_refs + local_refs, all_refs)
        self.assertCountEqual(
            [layer.name for layer in model.local_layers], _USER_LAYERS[name]
        )
        global_names = {layer.name for layer in model.global_layers}
        self.assertContainsSubset(_ITEM_LAYERS[name], global_names)
        self.assertIn(ncf.PREDICTION, global_names)
        if name != "gmf":
            self.assertContainsSubset(
                {f"{ncf.MLP_HIDDEN_PREFIX}{k}" for k in range(3)}, global_names
            )

    def test_neumf_keeps_both_user_embeddings_local(self):
        model = ncf.build_neumf(1, 6, hidden_units=(8, 4), seed=0)
        self.assertEqual(
            [layer.name for layer in model.local_layers],
            [ncf.GMF_USER_EMBEDDING, ncf.MLP_USER_EMBEDDING],
        )
        recon = tff.learning.models.ReconstructionModel.from_keras_model_and_layers(
            keras_model=model.keras_model,
            global_layers=list(model.global_layers),
            local_layers=list(model.local_layers),
            input_spec=model.input_spec,
        )
        local = tff.learning.models.ReconstructionModel.get_local_variables(recon)
        self.assertLen(local.trainable, 2)

    @parameterized.named_parameters(*_BUILDERS)
    def test_same_seed_same_weights(self, builder):
        first = builder(3, 4, seed=7).keras_model.get_weights()
        second = builder(3, 4, seed=7).keras_model.get_weights()
        other = builder(3, 4, seed=8).keras_model.get_weights()
        for a, b in zip(first, second, strict=True):
            self.assertAllEqual(a, b)
        self.assertFalse(
            all(np.array_equal(a, c) for a, c in zip(first, other, strict=True))
        )

    def test_defaults(self):
        model = ncf.build_neumf(3, 4, seed=0).keras_model
        self.assertEqual(
            model.get_layer(ncf.GMF_USER_EMBEDDING).output_dim,
            ncf.DEFAULT_EMBEDDING_DIM,
        )
        self.assertEqual(
            model.get_layer(ncf.MLP_ITEM_EMBEDDING).output_dim,
            ncf.DEFAULT_MLP_EMBEDDING_DIM,
        )
        self.assertEqual(
            tuple(
                model.get_layer(f"{ncf.MLP_HIDDEN_PREFIX}{k}").units
                for k in range(len(ncf.DEFAULT_HIDDEN_UNITS))
            ),
            ncf.DEFAULT_HIDDEN_UNITS,
        )

    @parameterized.named_parameters(
        ("users", ncf.build_gmf, dict(num_users=0, num_items=3), "num_users"),
        ("items", ncf.build_mlp, dict(num_users=3, num_items=0), "num_items"),
        (
            "dim",
            ncf.build_gmf,
            dict(num_users=3, num_items=3, embedding_dim=0),
            "embedding_dim",
        ),
        (
            "mlp_dim",
            ncf.build_neumf,
            dict(num_users=3, num_items=3, mlp_embedding_dim=0),
            "mlp_embedding_dim",
        ),
        ("l2", ncf.build_neumf, dict(num_users=3, num_items=3, l2=-1.0), "l2"),
        (
            "empty_units",
            ncf.build_mlp,
            dict(num_users=3, num_items=3, hidden_units=()),
            "hidden_units",
        ),
        (
            "zero_unit",
            ncf.build_neumf,
            dict(num_users=3, num_items=3, hidden_units=(8, 0)),
            "hidden_units",
        ),
        (
            "float_unit",
            ncf.build_mlp,
            dict(num_users=3, num_items=3, hidden_units=(8.5,)),
            "hidden_units",
        ),
        (
            "int_units",
            ncf.build_mlp,
            dict(num_users=3, num_items=3, hidden_units=8),
            "hidden_units",
        ),
    )
    def test_bad_arguments_raise(self, builder, kwargs, named):
        with self.assertRaisesRegex(ValueError, named):
            builder(**kwargs)

    @parameterized.named_parameters(*_BUILDERS)
    def test_fit_reduces_the_loss(self, builder):
        # Users like items of their own parity: learnable from ids alone.
        users, items = np.meshgrid(np.arange(6), np.arange(8), indexing="ij")
        users, items = users.ravel(), items.ravel()
        labels = ((users + items) % 2 == 0).astype(np.float32)[:, None]
        model = builder(6, 8, l2=1e-4, seed=3).keras_model
        model.compile(optimizer=tf.keras.optimizers.Adam(0.05), loss=_logit_bce)
        history = model.fit(
            _batch(users, items), labels, batch_size=8, epochs=15, verbose=0
        )
        losses = history.history["loss"]
        self.assertTrue(np.all(np.isfinite(losses)))
        self.assertLess(losses[-1], 0.5 * losses[0])


if __name__ == "__main__":
    tf.test.main()
