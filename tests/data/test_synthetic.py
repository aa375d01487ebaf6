"""Synthetic wide-scale ratings."""

import numpy as np

from tff_rec.data import generic_csv
from tff_rec.data import synthetic


def test_dense_ratings_on_a_wide_scale(tmp_path):
    path = synthetic.write_wide_scale_csv(tmp_path / "r.csv", num_users=200)
    table = generic_csv.load_csv(path)
    assert table.num_users == 200
    assert table.num_items == 100
    assert table.ratings.min() >= -10 and table.ratings.max() <= 10
    assert table.ratings.std() > 3
    per_user = np.bincount(table.users)
    assert per_user.min() >= 36
    # Half the (user, item) pairs are rated.
    assert 0.4 < len(table.ratings) / (200 * 100) < 0.7


def test_seeded(tmp_path):
    a = synthetic.write_wide_scale_csv(tmp_path / "a.csv", num_users=20)
    b = synthetic.write_wide_scale_csv(tmp_path / "b.csv", num_users=20)
    c = synthetic.write_wide_scale_csv(tmp_path / "c.csv", num_users=20, seed=1)
    assert a.read_text() == b.read_text() != c.read_text()
