"""Tests for tff_rec.data.user_groups."""

from __future__ import annotations

import numpy as np
from absl.testing import absltest

from tff_rec.data import interactions as interactions_lib
from tff_rec.data import user_groups


class UserLabelsTest(absltest.TestCase):
    def test_genre_label_is_most_frequent_first_genre(self):
        # u1 rated two Comedy-first items and one Action-first: Comedy.
        # u2 rated one Drama-first and one Action-first: tie -> Action.
        # u3 rated only an item without genres: 'unknown'.
        data = interactions_lib.from_raw_ids(
            ["u1"] * 3 + ["u2"] * 2 + ["u3"],
            ["c1", "c2", "a1", "d1", "a1", "n1"],
            [1.0] * 6,
            item_features={
                "genres": {
                    "c1": ("Comedy",),
                    "c2": ("Comedy", "Drama"),
                    "a1": ("Action", "Comedy"),
                    "d1": ("Drama",),
                    "n1": (),
                }
            },
        )
        labels = user_groups.user_labels(data, "genre")
        names = np.array(["Action", "Comedy", "Drama", "unknown"])
        self.assertEqual(names[labels].tolist(), ["Comedy", "Action", "unknown"])


if __name__ == "__main__":
    absltest.main()
