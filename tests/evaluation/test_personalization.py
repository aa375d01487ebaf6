import numpy as np
import tensorflow as tf

from tff_rec.evaluation import personalization
from tff_rec.models import ncf
from tff_rec.tasks import losses


def _examples(user, n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "user": np.full(n, user, np.int32),
        "item": rng.integers(0, 6, n).astype(np.int32),
    }
    return x, rng.integers(0, 2, n).astype(np.float32)


class ClientTrainerTest(tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.model = ncf.build_gmf(3, 6, embedding_dim=4, seed=0)
        self.start = self.model.keras_model.get_weights()
        self.trainer = personalization.ClientTrainer(
            self.model,
            losses.BinaryCrossEntropy(),
            tf.keras.optimizers.Adam(0.05),
            batch_size=4,
        )

    def test_each_client_starts_from_the_given_weights(self):
        self.trainer.train(self.start, _examples(0), steps=3)
        first = self.model.keras_model.get_weights()
        self.trainer.train(self.start, _examples(1), steps=5)
        self.trainer.train(self.start, _examples(0), steps=3)
        # Same start, data, seed and a reset optimizer: the same result.
        for a, b in zip(first, self.model.keras_model.get_weights(), strict=True):
            self.assertAllClose(a, b)
        changed = [
            not np.allclose(a, b) for a, b in zip(first, self.start, strict=True)
        ]
        self.assertTrue(any(changed))

    def test_training_reduces_the_loss(self):
        x, y = _examples(2, n=40)
        loss = losses.BinaryCrossEntropy()
        before = float(loss(y[:, None], self.model.keras_model(x)))
        self.trainer.train(self.start, (x, y), epochs=20)
        after = float(loss(y[:, None], self.model.keras_model(x)))
        self.assertLess(after, before)

    def test_steps_or_epochs(self):
        with self.assertRaisesRegex(ValueError, "exactly one"):
            self.trainer.train(self.start, _examples(0))
        with self.assertRaisesRegex(ValueError, "exactly one"):
            self.trainer.train(self.start, _examples(0), steps=1, epochs=1)

    def test_for_each_client_concatenates_per_user_results(self):
        seen = []

        def evaluate(k, model):
            seen.append(k)
            return {"users": np.array([k]), "hr@1": np.array([float(k)])}

        out = personalization.for_each_client(
            self.trainer,
            [2, 0],
            self.start,
            lambda k: _examples(k),
            evaluate,
            steps=1,
        )
        self.assertEqual(seen, [2, 0])
        self.assertAllEqual(out["users"], [2, 0])
        self.assertAllEqual(out["hr@1"], [2.0, 0.0])


if __name__ == "__main__":
    tf.test.main()
