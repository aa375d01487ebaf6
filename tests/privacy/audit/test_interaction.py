"""Tests of interaction inference on planted uploads with known answers."""

from __future__ import annotations

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tff_rec.privacy.audit import interaction
from tff_rec.privacy.audit import observations
from tff_rec.privacy.audit import threat_model

Observation = threat_model.Observation
Party = threat_model.Party

_DIM = 3
# Item tables at positions 0 (embedding) and 1 (bias); 2 is a global bias
# the attack must ignore.
_POSITIONS = (0, 1)


def _upload(num_items: int, rows: dict[int, np.ndarray]) -> list[np.ndarray]:
    """An update whose item rows (embedding and bias) are `rows`, else zero."""
    embedding = np.zeros((num_items, _DIM))
    bias = np.zeros((num_items, 1))
    for item, row in rows.items():
        embedding[item] = row[:_DIM]
        bias[item] = row[_DIM:]
    return [embedding, bias, np.array([7.0])]


def _sum(uploads) -> list[np.ndarray]:
    return [np.sum(tensors, axis=0) for tensors in zip(*uploads, strict=True)]


def _server(config: str, **tensors) -> observations.Observations:
    return observations.Observations(
        Party.SERVER,
        threat_model.configuration(config),
        {Observation(name): value for name, value in tensors.items()},
    )


def _constant_norm_sum(num_items: int, rated: np.ndarray):
    """The target's upload, and a cohort sum in which every item row has the
    same norm: a second client rates the complement with rows of the same
    magnitude (a permutation of the target's row)."""
    row = np.array([1.0, -2.0, 0.5, 3.0])
    target = _upload(num_items, {int(i): row for i in rated})
    rest = np.setdiff1d(np.arange(num_items), rated)
    other = _upload(num_items, {int(i): row[::-1] for i in rest})
    return target, _sum([target, other])


class RowNormsTest(parameterized.TestCase):
    def test_hand_computed(self):
        embedding = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
        bias = np.array([[0.0], [2.0], [-1.0]])
        np.testing.assert_allclose(
            interaction.row_norms([embedding, bias], [0, 1]),
            [5.0, 2.0, np.sqrt(2.0)],
        )
        # Only the tables named by position count.
        np.testing.assert_allclose(
            interaction.row_norms([embedding, bias], [1]), [0.0, 2.0, 1.0]
        )


class EvaluateTest(parameterized.TestCase):
    def test_hand_computed(self):
        # Rated {0, 2} score {3, 1}; unrated {1, 3} score {2, 0}: three of the
        # four pairs are ordered right; the top two hold one rated item.
        auc, precision = interaction.evaluate(
            np.array([3.0, 2.0, 1.0, 0.0]), np.array([0, 2])
        )
        self.assertAlmostEqual(auc, 0.75)
        self.assertAlmostEqual(precision, 0.5)


class ItemScoresTest(parameterized.TestCase):
    _NUM_ITEMS = 40

    @parameterized.parameters("mean", "quantized_8bit", "sparse_rows")
    def test_planted_user_is_found(self, config):
        rng = np.random.default_rng(0)
        rated = rng.choice(self._NUM_ITEMS, 8, replace=False)
        upload = _upload(
            self._NUM_ITEMS, {int(i): rng.normal(size=_DIM + 1) for i in rated}
        )
        observed = _server(config, client_upload=upload)
        auc, precision = interaction.evaluate(
            interaction.item_scores(observed, _POSITIONS), rated
        )
        self.assertEqual((auc, precision), (1.0, 1.0))
        self.assertEqual(observed.read, ("client_upload",))

    def test_constant_norm_sum_is_chance(self):
        rated = np.arange(0, self._NUM_ITEMS, 4)
        target, secure_sum = _constant_norm_sum(self._NUM_ITEMS, rated)
        observed = _server(
            "secure_aggregation", client_upload=target, secure_sum=secure_sum
        )
        scores = interaction.item_scores(observed, _POSITIONS)
        auc, precision = interaction.evaluate(scores, rated)
        self.assertEqual(auc, 0.5)
        self.assertAlmostEqual(precision, len(rated) / self._NUM_ITEMS, places=12)
        self.assertEqual(observed.read, ("secure_sum",))

    @parameterized.parameters(*threat_model.DEFAULT_DECOYS)
    def test_decoys_under_secure_sum(self, decoys):
        # Rated and decoy rows tie (all sent, every row of the sum has the
        # same norm); every other item scores below them. Of the n + d tied
        # rows n are rated: precision n / (n + d); a rated item beats each of
        # the M - n - d unsent items and ties with the d decoys.
        num_items, num_rated = 1000, 30
        rng = np.random.default_rng(decoys)
        chosen = rng.choice(num_items, num_rated + decoys, replace=False)
        rated = chosen[:num_rated]
        _, secure_sum = _constant_norm_sum(num_items, rated)
        observed = _server(
            f"sparse_rows_decoys{decoys}_secure",
            secure_sum=secure_sum,
            client_row_indices=np.sort(chosen),
        )
        auc, precision = interaction.evaluate(
            interaction.item_scores(observed, _POSITIONS), rated
        )
        self.assertAlmostEqual(precision, num_rated / (num_rated + decoys), delta=1e-9)
        self.assertAlmostEqual(
            auc, 1 - 0.5 * decoys / (num_items - num_rated), delta=1e-9
        )
        self.assertEqual(observed.read, ("client_row_indices", "secure_sum"))

    def test_row_indices_rank_above_sum(self):
        # The sent rows score at least 1, the rest at most 1/2, and the sum's
        # norms (scaled by the largest) order items within each set.
        secure_sum = _upload(4, {0: np.array([0, 0, 0, 1.0]), 3: np.full(4, 1.0)})
        observed = _server(
            "sparse_rows_decoys10_secure",
            secure_sum=secure_sum,
            client_row_indices=np.array([0, 1]),
        )
        np.testing.assert_allclose(
            interaction.item_scores(observed, _POSITIONS), [1.25, 1.0, 0.0, 0.5]
        )

    def test_row_indices_with_zero_sum(self):
        observed = _server(
            "sparse_rows_decoys10_secure",
            secure_sum=_upload(5, {}),
            client_row_indices=np.array([1, 4]),
        )
        np.testing.assert_array_equal(
            interaction.item_scores(observed, _POSITIONS), [0, 1, 0, 0, 1]
        )

    def test_auc_falls_as_the_cohort_grows(self):
        num_items, per_user = 200, 20
        rng = np.random.default_rng(0)
        users = []
        for _ in range(50):
            items = rng.choice(num_items, per_user, replace=False)
            users.append(
                (items, _upload(num_items, {int(i): rng.normal(size=4) for i in items}))
            )
        rated = users[0][0]
        aucs = []
        for cohort in (1, 10, 50):
            secure_sum = _sum([upload for _, upload in users[:cohort]])
            observed = _server("secure_aggregation", secure_sum=secure_sum)
            auc, _ = interaction.evaluate(
                interaction.item_scores(observed, _POSITIONS), rated
            )
            aucs.append(auc)
        self.assertEqual(aucs[0], 1.0)
        self.assertLess(aucs[1], aucs[0])
        self.assertLess(aucs[2], aucs[1])
        # A sum of 50 still leans towards the target's own items.
        self.assertGreater(aucs[2], 0.5)

    def test_model_holder_cannot_score(self):
        observed = observations.Observations(
            Party.MODEL_HOLDER,
            threat_model.configuration("mean"),
            {Observation.CLIENT_UPLOAD: _upload(3, {})},
        )
        with self.assertRaises(observations.NotVisibleError):
            interaction.item_scores(observed, _POSITIONS)


if __name__ == "__main__":
    absltest.main()
