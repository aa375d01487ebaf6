"""Tests of membership inference on hand-built models with known members."""

from __future__ import annotations

import dataclasses

import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from tff_rec.data import interactions as interactions_lib
from tff_rec.evaluation import rating_metrics
from tff_rec.privacy.audit import membership
from tff_rec.privacy.audit import observations
from tff_rec.privacy.audit import statistics
from tff_rec.privacy.audit import threat_model

Observation = threat_model.Observation
Party = threat_model.Party
Weights = rating_metrics.MatrixFactorizationWeights

_NUM_ITEMS = 100
_DIM = 3
_PER_USER = 50
_MEMBERS = 30
_NON_MEMBERS = 30
_GLOBAL_BIAS = 3.0
_OPTIONS = dict(l2=1e-4, bias_l2=0.0)


def _interactions(users, items, ratings) -> interactions_lib.Interactions:
    num_users = int(np.max(users)) + 1
    return interactions_lib.Interactions(
        users=np.asarray(users, np.int32),
        items=np.asarray(items, np.int32),
        ratings=np.asarray(ratings, np.float32),
        timestamps=None,
        user_vocab=tuple(f"u{u}" for u in range(num_users)),
        item_vocab=tuple(f"i{i}" for i in range(_NUM_ITEMS)),
    )


def _fixture(seed: int = 0):
    """(initial, released, candidates, members, non_members).

    Members (users 0..29, user vectors of norm 2) rate exactly what the
    released model predicts for them; non-members (30..59) rate at random,
    and their rows of the released user tables kept their initial value
    (zero). The initial model predicts the global bias for everyone.
    """
    rng = np.random.default_rng(seed)
    num_users = _MEMBERS + _NON_MEMBERS
    members = np.arange(_MEMBERS)
    non_members = np.arange(_MEMBERS, num_users)
    user_embedding = rng.normal(size=(num_users, _DIM))
    user_embedding *= 2.0 / np.linalg.norm(user_embedding, axis=1, keepdims=True)
    user_embedding = user_embedding.astype(np.float32)
    user_bias = rng.normal(0.0, 0.5, num_users).astype(np.float32)
    user_embedding[non_members] = 0.0
    user_bias[non_members] = 0.0
    released = Weights(
        item_embedding=rng.normal(size=(_NUM_ITEMS, _DIM)).astype(np.float32),
        item_bias=rng.normal(0.0, 0.5, _NUM_ITEMS).astype(np.float32),
        global_bias=_GLOBAL_BIAS,
        user_embedding=user_embedding,
        user_bias=user_bias,
    )
    initial = Weights(
        item_embedding=np.zeros((_NUM_ITEMS, _DIM), np.float32),
        item_bias=np.zeros(_NUM_ITEMS, np.float32),
        global_bias=_GLOBAL_BIAS,
        user_embedding=np.zeros((num_users, _DIM), np.float32),
        user_bias=np.zeros(num_users, np.float32),
    )
    users = np.repeat(np.arange(num_users), _PER_USER)
    items = np.concatenate(
        [rng.choice(_NUM_ITEMS, _PER_USER, replace=False) for _ in range(num_users)]
    )
    ratings = released.predict(users, items)
    strangers = users >= _MEMBERS
    ratings[strangers] = rng.integers(1, 6, int(strangers.sum()))
    candidates = _interactions(users, items, ratings)
    return initial, released, candidates, members, non_members


def _without_users(weights: Weights) -> Weights:
    """The server's view under reconstruction: no user tables."""
    return dataclasses.replace(weights, user_embedding=None, user_bias=None)


def _observed(initial, released, party=Party.MODEL_HOLDER):
    return observations.Observations(
        party,
        threat_model.configuration("mean"),
        {Observation.INITIAL_MODEL: initial, Observation.RELEASED_MODEL: released},
    )


class MeanSquaredErrorsTest(parameterized.TestCase):
    def test_hand_computed(self):
        # Two users, three items. Predictions 1 + b_i + b_u + p_u q_i: user 0
        # gets 2 on item 0 (rated 3) and 2 on item 1 (rated 2): errors 1, 0;
        # user 1 gets 1 + 2 * 2 = 5 on item 2 (rated 3): error 4.
        weights = Weights(
            item_embedding=np.array([[1.0], [0.0], [2.0]]),
            item_bias=np.array([0.0, 1.0, 0.0]),
            global_bias=1.0,
            user_embedding=np.array([[1.0], [2.0]]),
            user_bias=np.array([0.0, 0.0]),
        )
        candidates = interactions_lib.Interactions(
            users=np.array([0, 0, 1], np.int32),
            items=np.array([0, 1, 2], np.int32),
            ratings=np.array([3.0, 2.0, 3.0], np.float32),
            timestamps=None,
            user_vocab=("a", "b"),
            item_vocab=("x", "y", "z"),
        )
        errors = membership.mean_squared_errors(
            weights, candidates, np.array([1, 0]), reconstruct=False, **_OPTIONS
        )
        np.testing.assert_allclose(errors, [4.0, 0.5])

    def test_reconstruction_fits_members_exactly(self):
        _, released, candidates, members, _ = _fixture()
        errors = membership.mean_squared_errors(
            _without_users(released),
            candidates,
            members,
            reconstruct=True,
            **_OPTIONS,
        )
        np.testing.assert_allclose(errors, 0.0, atol=1e-4)


class UserScoresTest(parameterized.TestCase):
    @parameterized.product(reconstruct=(False, True), seed=(0, 1, 2))
    def test_members_separated(self, reconstruct, seed):
        initial, released, candidates, members, non_members = _fixture(seed)
        if reconstruct:
            initial, released = _without_users(initial), _without_users(released)
        observed = _observed(initial, released)
        inside = membership.user_scores(
            observed, candidates, members, reconstruct=reconstruct, **_OPTIONS
        )
        outside = membership.user_scores(
            observed, candidates, non_members, reconstruct=reconstruct, **_OPTIONS
        )
        self.assertEqual(statistics.roc_auc(inside, outside), 1.0)
        self.assertEqual(observed.read, ("initial_model", "released_model"))

    @parameterized.named_parameters(("released_rows", False), ("reconstructed", True))
    def test_untrained_model_gives_no_signal(self, reconstruct):
        _, released, candidates, _, _ = _fixture()
        if reconstruct:
            released = _without_users(released)
        scores = membership.user_scores(
            _observed(released, released),
            candidates,
            np.arange(candidates.num_users),
            reconstruct=reconstruct,
            **_OPTIONS,
        )
        np.testing.assert_array_equal(scores, np.zeros(candidates.num_users))

    def test_score_is_error_drop(self):
        initial, released, candidates, members, _ = _fixture()
        options = dict(reconstruct=False, **_OPTIONS)
        scores = membership.user_scores(
            _observed(initial, released), candidates, members, **options
        )
        before = membership.mean_squared_errors(initial, candidates, members, **options)
        after = membership.mean_squared_errors(released, candidates, members, **options)
        np.testing.assert_allclose(scores, before - after)
        np.testing.assert_allclose(after, 0.0, atol=1e-10)

    def test_network_observer_cannot_score(self):
        initial, released, candidates, members, _ = _fixture()
        observed = _observed(initial, released, party=Party.NETWORK_OBSERVER)
        with self.assertRaises(observations.NotVisibleError):
            membership.user_scores(
                observed, candidates, members, reconstruct=False, **_OPTIONS
            )


if __name__ == "__main__":
    absltest.main()
