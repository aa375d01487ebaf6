"""`tff_rec.data.rating_scale`: declared scales, parsing, range checks."""

from __future__ import annotations

import numpy as np
import pytest

from tff_rec import errors
from tff_rec.data import rating_scale


def test_movielens_declares_its_scale():
    assert rating_scale.declared("ml-1m", None) == rating_scale.RatingScale(1, 5)
    assert rating_scale.declared("ml-latest", None).low == 0.5
    assert rating_scale.declared("csv", None) is None
    assert rating_scale.declared("csv", "0, 10") == rating_scale.RatingScale(0, 10)


@pytest.mark.parametrize("text", ["5", "1,2,3", "a,b", "5,1", "1,1", "nan,5", "1,inf"])
def test_bad_scale_is_a_user_error(text):
    with pytest.raises(errors.UserInputError, match="rating_scale"):
        rating_scale.parse(text)


def test_scale_given_for_movielens_is_refused():
    with pytest.raises(errors.UserInputError, match="csv. only"):
        rating_scale.declared("ml-100k", "1,10")


@pytest.mark.parametrize("outlier", [99.0, -3.0, 0.0, 5.5])
def test_ratings_outside_the_scale_are_refused(outlier):
    ratings = np.array([1.0, 3.0, outlier, 5.0], np.float32)
    with pytest.raises(errors.UserInputError, match=r"1 ratings outside .* 1\.\.5"):
        rating_scale.check(ratings, rating_scale.RatingScale(1, 5), "ml-1m")


def test_ratings_inside_and_no_scale_pass():
    rating_scale.check(np.array([1.0, 5.0]), rating_scale.RatingScale(1, 5), "x")
    rating_scale.check(np.array([-7.0, 99.0]), None, "csv")


def test_public_offset_is_the_middle_and_needs_a_scale():
    assert rating_scale.public_offset(rating_scale.RatingScale(0.5, 5)) == 2.75
    with pytest.raises(errors.UserInputError, match="--rating_scale"):
        rating_scale.public_offset(None)
