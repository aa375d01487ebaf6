"""Populations resampled from real users."""

import numpy as np
from absl.testing import absltest

from tests import synthetic
from tff_rec import errors
from tff_rec.data import population


class ResampleUsersTest(absltest.TestCase):
    def test_each_new_user_is_a_copy_of_a_real_one(self):
        data = synthetic.make_interactions(num_users=30, num_items=20, per_user=5)
        big = population.resample_users(data, 200, seed=1)
        self.assertEqual(big.num_users, 200)
        self.assertEqual(big.num_items, data.num_items)
        self.assertEqual(len(big), 200 * 5)
        real = {
            u: sorted(
                zip(
                    data.items[data.users == u],
                    data.ratings[data.users == u],
                    strict=True,
                )
            )
            for u in range(data.num_users)
        }
        copies = set()
        for u in range(big.num_users):
            rows = sorted(
                zip(big.items[big.users == u], big.ratings[big.users == u], strict=True)
            )
            matches = [k for k, v in real.items() if v == rows]
            self.assertNotEmpty(matches)
            copies.add(matches[0])
        # 200 draws from 30 users reach nearly all of them.
        self.assertGreater(len(copies), 25)

    def test_activity_follows_the_data(self):
        data = synthetic.make_interactions(num_users=40, num_items=30, per_user=6)
        keep = np.flatnonzero((data.users % 2 == 0) | (np.arange(len(data)) % 3 == 0))
        uneven = data.subset(keep)
        big = population.resample_users(uneven, 5000, seed=0)
        self.assertAlmostEqual(
            np.mean(np.bincount(big.users)),
            len(uneven) / len(np.unique(uneven.users)),
            delta=0.2,
        )

    def test_seeded(self):
        data = synthetic.make_interactions(num_users=10, num_items=8, per_user=3)
        a = population.resample_users(data, 50, seed=3)
        b = population.resample_users(data, 50, seed=3)
        np.testing.assert_array_equal(a.items, b.items)

    def test_bad_size(self):
        data = synthetic.make_interactions(num_users=10, num_items=8, per_user=3)
        with self.assertRaisesRegex(errors.UserInputError, "num_users"):
            population.resample_users(data, 0, seed=0)


if __name__ == "__main__":
    absltest.main()
