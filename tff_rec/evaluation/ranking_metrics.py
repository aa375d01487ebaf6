"""Leakage-proof top-K evaluation of implicit-feedback recommenders.

Two protocols, computed from the same scores:

* Full ranking: each evaluated user's test items are ranked among every item
  the user did not train on (`hr@K`, `ndcg@K`, `recall@K`). This is the
  protocol to trust; Krichene and Rendle, "On Sampled Metrics for Item
  Recommendation", KDD 2020, show that sampled metrics can reorder models.
* Sampled ranking, the protocol of He et al., "Neural Collaborative
  Filtering", WWW 2017, arXiv:1708.05031: each test item is ranked against
  `num_negatives` (99 in the paper) items sampled once, uniformly without
  replacement, from the items the user interacted with neither in training nor
  in test (`sampled_hr@K`, `sampled_ndcg@K`). Reported for comparison with the
  literature.

Nothing the user trained on is ever a candidate, and no sampled negative is an
item of the user's train or test data. Ties are broken pessimistically: a
positive's rank is the number of candidates (itself included) scoring at
least as high, so a model that scores everything equally gets no hits.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from collections.abc import Sequence

import numpy as np

from tff_rec import errors
from tff_rec.data import interactions as interactions_lib

DEFAULT_TOP_K = 10
DEFAULT_NUM_NEGATIVES = 99
DEFAULT_BATCH_USERS = 256

#: Maps int user ids of shape [n] to scores of shape [n, num_items] over the
#: whole catalogue; higher means more relevant.
ScoreFn = Callable[[np.ndarray], np.ndarray]

_FULL_METRICS = ("hr", "ndcg", "recall")
_SAMPLED_METRICS = ("sampled_hr", "sampled_ndcg")


def metric_names(top_k: int | Sequence[int] = DEFAULT_TOP_K) -> list[str]:
    """Returns the metric keys of `RankingEvaluator`, e.g. ``hr@10``."""
    return [
        f"{name}@{k}"
        for k in _resolve_top_k(top_k)
        for name in _FULL_METRICS + _SAMPLED_METRICS
    ]


def sample_negatives(
    rng: np.random.Generator, num_items: int, exclude: np.ndarray, n: int
) -> np.ndarray:
    """Samples `n` distinct items uniformly from those not in `exclude`.

    Uses rejection sampling when most of the catalogue is allowed, and draws
    from the explicit set difference otherwise.

    Args:
      rng: the random generator to draw from.
      num_items: catalogue size; items are ``0..num_items-1``.
      exclude: item ids that must not be drawn (duplicates allowed).
      n: how many items to draw.

    Returns:
      An int64 array of `n` distinct item ids, in random order.

    Raises:
      UserInputError: if `exclude` has ids outside the catalogue or fewer than
        `n` items are left to draw from.
    """
    exclude = np.unique(np.asarray(exclude, np.int64))
    if exclude.size and (exclude[0] < 0 or exclude[-1] >= num_items):
        raise errors.UserInputError(
            f"excluded item ids must lie in [0, {num_items}), got "
            f"{exclude[0]}..{exclude[-1]}"
        )
    available = num_items - exclude.size
    if n > available:
        raise errors.UserInputError(
            f"cannot sample {n} negatives: only {available} of the {num_items} "
            "items are not excluded"
        )
    if 2 * exclude.size > num_items or 2 * n > available:
        return rng.choice(np.setdiff1d(np.arange(num_items), exclude), n, replace=False)
    # The first n distinct accepted draws of an i.i.d. uniform sequence are a
    # uniform sample without replacement.
    chosen = np.empty(0, np.int64)
    while chosen.size < n:
        draw = rng.integers(0, num_items, size=2 * (n - chosen.size) + 8)
        chosen = np.concatenate([chosen, draw[~_isin_sorted(draw, exclude)]])
        _, first = np.unique(chosen, return_index=True)
        chosen = chosen[np.sort(first)]
    return chosen[:n]


class RankingEvaluator:
    """Top-K metrics of a scorer on held-out interactions.

    The constructor indexes the train and test items of every user and draws
    the sampled negatives once, so every model evaluated with the same
    evaluator sees the same candidates.

    Attributes:
      num_items: catalogue size.
      top_k: the cutoffs K, as a tuple.
      num_negatives: sampled negatives per test row.
      users: sorted ids of the users with at least one test item.
      test_users: user of each distinct (user, item) test pair, sorted by user
        then item.
      test_items: item of each test pair.
      sampled_negatives: int64 array [num_test_pairs, num_negatives], the
        negatives each test pair is ranked against in the sampled protocol.
    """

    def __init__(
        self,
        train: interactions_lib.Interactions,
        test: interactions_lib.Interactions,
        *,
        top_k: int | Sequence[int] | None = None,
        num_negatives: int | None = None,
        seed: int = 0,
        batch_users: int | None = None,
    ):
        """Indexes the data and samples the negatives.

        Args:
          train: the training interactions; defines the id space.
          test: the held-out interactions, with the same item vocabulary.
          top_k: one cutoff or several; None becomes `DEFAULT_TOP_K`.
          num_negatives: negatives per test pair in the sampled protocol; None
            becomes `DEFAULT_NUM_NEGATIVES`.
          seed: seed of the negative sampling.
          batch_users: users scored per call of the score function; None
            becomes `DEFAULT_BATCH_USERS`.

        Raises:
          UserInputError: if an option is out of range, `test` is empty or
            outside the id space of `train`, or a user has fewer than
            `num_negatives` items left to sample from.
        """
        self.top_k = _resolve_top_k(DEFAULT_TOP_K if top_k is None else top_k)
        self.num_negatives = (
            DEFAULT_NUM_NEGATIVES if num_negatives is None else num_negatives
        )
        self._batch_users = DEFAULT_BATCH_USERS if batch_users is None else batch_users
        for name, value in (
            ("num_negatives", self.num_negatives),
            ("batch_users", self._batch_users),
        ):
            if value < 1:
                raise errors.UserInputError(f"{name} must be >= 1, got {value}")
        self.num_items = train.num_items
        self._num_users = train.num_users
        if test.num_items != self.num_items:
            raise errors.UserInputError(
                f"the test table has {test.num_items} items but the train table "
                f"has {self.num_items}; both must share the item vocabulary"
            )
        if len(test) == 0:
            raise errors.UserInputError("the test table has no interactions")
        for name, ids, size in (
            ("user", test.users, self._num_users),
            ("item", test.items, self.num_items),
        ):
            if ids.min() < 0 or ids.max() >= size:
                raise errors.UserInputError(
                    f"test {name} ids span {ids.min()}..{ids.max()}, outside the "
                    f"train table's {size} {name}s"
                )
        self._train_ptr, train_items = self._index(train.users, train.items)
        self._test_ptr, test_items = self._index(test.users, test.items)
        counts = np.diff(self._test_ptr)
        self.users = np.flatnonzero(counts)
        self.test_users = np.repeat(np.arange(self._num_users), counts)
        self.test_items = test_items
        self._train_items = train_items
        self.sampled_negatives = self._sample(np.random.default_rng(seed))

    def _index(self, users: np.ndarray, items: np.ndarray):
        """Returns CSR (indptr, items) of the distinct pairs, sorted."""
        keys = np.unique(users.astype(np.int64) * self.num_items + items)
        ptr = np.searchsorted(keys // self.num_items, np.arange(self._num_users + 1))
        return ptr, keys % self.num_items

    def _sample(self, rng: np.random.Generator) -> np.ndarray:
        seen = {}
        for user in self.users:
            seen[user] = np.union1d(
                self._train_items[self._train_ptr[user] : self._train_ptr[user + 1]],
                self.test_items[self._test_ptr[user] : self._test_ptr[user + 1]],
            )
        short = [
            u for u, s in seen.items() if self.num_items - s.size < self.num_negatives
        ]
        if short:
            worst = max(short, key=lambda u: seen[u].size)
            raise errors.UserInputError(
                f"num_negatives={self.num_negatives} is more than the items left "
                f"to {len(short)} of the {len(seen)} evaluated users in a "
                f"catalogue of {self.num_items} items (user {worst} interacted "
                f"with {seen[worst].size}); lower num_negatives"
            )
        negatives = np.empty((len(self.test_users), self.num_negatives), np.int64)
        for row, user in enumerate(self.test_users):
            negatives[row] = sample_negatives(
                rng, self.num_items, seen[user], self.num_negatives
            )
        return negatives

    def per_user(
        self, score_fn: ScoreFn, users: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Computes every metric for each evaluated user.

        Args:
          score_fn: the model's scorer, called once per batch of users.
          users: restrict to these user ids (e.g. one client's); users without
            test items are skipped. None means all evaluated users.

        Returns:
          ``users`` (sorted ids) and one float64 array per name of
          `metric_names`, aligned with it. All NaN, with a warning, if the
          scores of an evaluated user contain NaN.

        Raises:
          UserInputError: if `users` has ids outside the id space.
          ValueError: if `score_fn` returns an array of the wrong shape.
        """
        selected = self.users
        if users is not None:
            users = np.unique(np.asarray(users, np.int64))
            if users.size and (users[0] < 0 or users[-1] >= self._num_users):
                raise errors.UserInputError(
                    f"user ids must lie in [0, {self._num_users}), got "
                    f"{users[0]}..{users[-1]}"
                )
            selected = np.intersect1d(selected, users)
        out = {
            name: np.full(selected.size, np.nan) for name in metric_names(self.top_k)
        }
        for start in range(0, selected.size, self._batch_users):
            batch = selected[start : start + self._batch_users]
            scores = np.asarray(score_fn(batch))
            if scores.shape != (batch.size, self.num_items):
                raise ValueError(
                    f"score_fn returned scores of shape {scores.shape} for "
                    f"{batch.size} users; expected ({batch.size}, {self.num_items})"
                )
            if np.isnan(scores).any():
                warnings.warn(
                    "The model's scores contain NaN (training diverged); "
                    "ranking metrics are NaN.",
                    stacklevel=2,
                )
                return {"users": selected} | {
                    name: np.full(selected.size, np.nan) for name in out
                }
            for name, values in self._score_batch(batch, scores).items():
                out[name][start : start + batch.size] = values
        return {"users": selected} | out

    def _score_batch(self, batch: np.ndarray, scores: np.ndarray):
        n = batch.size
        train_rows, train_pos = _csr_rows(self._train_ptr, batch)
        test_rows, test_pos = _csr_rows(self._test_ptr, batch)
        positives = self.test_items[test_pos]
        # A train item that is also a test item of the user stays a candidate.
        excluded = np.zeros((n, self.num_items), bool)
        excluded[train_rows, self._train_items[train_pos]] = True
        excluded[test_rows, positives] = False
        pos_scores = scores[test_rows, positives][:, None]
        rank = np.sum((scores[test_rows] >= pos_scores) & ~excluded[test_rows], axis=1)
        neg_scores = scores[test_rows[:, None], self.sampled_negatives[test_pos]]
        sampled_rank = 1 + np.sum(neg_scores >= pos_scores, axis=1)
        num_test = np.bincount(test_rows, minlength=n)
        ideal = np.concatenate(
            [[0.0], np.cumsum(_discount(np.arange(1, max(self.top_k) + 1)))]
        )

        def per_user_sum(values):
            return np.bincount(test_rows, weights=values, minlength=n)

        metrics = {}
        for k in self.top_k:
            hit = rank <= k
            sampled_hit = sampled_rank <= k
            metrics[f"hr@{k}"] = (per_user_sum(hit) > 0).astype(np.float64)
            metrics[f"ndcg@{k}"] = (
                per_user_sum(hit * _discount(rank)) / ideal[np.minimum(k, num_test)]
            )
            metrics[f"recall@{k}"] = per_user_sum(hit) / num_test
            metrics[f"sampled_hr@{k}"] = per_user_sum(sampled_hit) / num_test
            metrics[f"sampled_ndcg@{k}"] = (
                per_user_sum(sampled_hit * _discount(sampled_rank)) / num_test
            )
        return metrics

    def evaluate(
        self, score_fn: ScoreFn, users: np.ndarray | None = None
    ) -> dict[str, float]:
        """Computes the mean of every metric over the evaluated users.

        Args:
          score_fn: the model's scorer, called once per batch of users.
          users: restrict to these user ids; None means all evaluated users.

        Returns:
          One mean per name of `metric_names`, plus ``num_users``, the number
          of users averaged over. NaN metrics if that number is 0 or the model
          scored NaN (with a warning).

        Raises:
          UserInputError: if `users` has ids outside the id space.
          ValueError: if `score_fn` returns an array of the wrong shape.
        """
        per_user = self.per_user(score_fn, users)
        num_users = per_user.pop("users").size
        means = {
            name: float(np.mean(values)) if num_users else float("nan")
            for name, values in per_user.items()
        }
        return means | {"num_users": num_users}


def _resolve_top_k(top_k: int | Sequence[int]) -> tuple[int, ...]:
    ks = (top_k,) if isinstance(top_k, int | np.integer) else tuple(top_k)
    if not ks or any(isinstance(k, bool) or int(k) != k or k < 1 for k in ks):
        raise errors.UserInputError(
            f"top_k must be a positive integer or a non-empty list of them, "
            f"got {top_k!r}"
        )
    return tuple(dict.fromkeys(int(k) for k in ks))


def _discount(rank: np.ndarray) -> np.ndarray:
    return 1.0 / np.log2(rank + 1.0)


def _isin_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    if not sorted_set.size:
        return np.zeros(values.shape, bool)
    index = np.minimum(np.searchsorted(sorted_set, values), sorted_set.size - 1)
    return sorted_set[index] == values


def _csr_rows(ptr: np.ndarray, batch: np.ndarray):
    """Returns (row in batch, position in the CSR values) of the batch's entries."""
    starts, lengths = ptr[batch], ptr[batch + 1] - ptr[batch]
    rows = np.repeat(np.arange(batch.size), lengths)
    offsets = np.arange(rows.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return rows, starts[rows] + offsets
