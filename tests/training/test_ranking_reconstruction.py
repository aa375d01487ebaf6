"""Reconstruction of users' layers for a server (or centralized) ranking model."""

import pathlib
import tempfile

import numpy as np
import tensorflow as tf

from tests import synthetic
from tff_rec.training import config as config_lib
from tff_rec.training import experiment
from tff_rec.training import ranking


class ReconstructUsersTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        tmp = pathlib.Path(tempfile.mkdtemp())
        data_dir = synthetic.write_ml100k(tmp / "ml", num_users=20)
        self.config = config_lib.TrainConfig(
            data_dir=str(data_dir),
            task="implicit",
            split="leave_last_out",
            model="gmf",
            algorithm="centralized",
            embedding_dim=4,
            eval_negatives=10,
            centralized_epochs=3,
            centralized_learning_rate=0.05,
            user_init_stddev=0.0,
            reconstruction_learning_rate=1.0,
            reconstruction_epochs=20,
            root_output_dir=str(tmp / "runs"),
        )
        self.data = experiment.prepare_data(self.config)
        self.ranking = self.data.ranking
        self.train = self.data.split.train

    def loss(self, model):
        rng = np.random.default_rng(1)
        x, y = ranking._examples(
            self.config, self.ranking, self.train.users, self.train.items, rng
        )
        y_pred = model.keras_model({k: np.asarray(v, np.int32) for k, v in x.items()})
        return float(ranking.loss_fn(self.config)()(y[:, None], y_pred))

    def test_fits_user_layers_and_keeps_global_layers(self):
        central, _ = ranking.train_centralized(self.config, self.ranking, self.train)

        model = ranking.reconstructed_model(
            self.config, self.ranking, self.train, central
        )

        pairs = zip(model.global_layers, central.global_layers, strict=True)
        for target, source in pairs:
            want = source.get_weights()
            for got, value in zip(target.get_weights(), want, strict=True):
                self.assertAllEqual(got, value)
        (user_table,) = model.local_layers[0].get_weights()
        trained_users = np.unique(self.train.users)
        self.assertTrue(np.all(np.abs(user_table[trained_users]).sum(axis=1) > 0))
        reconstructed = self.loss(model)
        # The same global layers with the users at their initializer (zeros).
        model.local_layers[0].set_weights([np.zeros_like(user_table)])
        self.assertLess(reconstructed, self.loss(model))


if __name__ == "__main__":
    tf.test.main()
