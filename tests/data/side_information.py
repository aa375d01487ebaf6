"""Interactions with user and item side information, for feature tests."""

from tff_rec.data import interactions as interactions_lib


def tiny_interactions(*, user_features=True, item_features=True, name="tiny"):
    """Four users, three items, with missing and odd side information."""
    users = {
        "age": {"u1": 17, "u2": 30, "u4": 56},  # u3 has no age
        "gender": {"u1": "M", "u2": "F", "u3": "M", "u4": " "},
        "occupation": {"u1": "student", "u2": "artist", "u3": "student"},
        "zip_code": {"u1": "55105", "u2": "T8H1N", "u3": "", "u4": "01002"},
    }
    items = {
        "genres": {"i1": ("Drama", "Comedy"), "i2": (), "i3": ("Action",)},
        "year": {"i1": 1995, "i2": None, "i3": 1968},
    }
    return interactions_lib.from_raw_ids(
        ["u1", "u1", "u2", "u3", "u4"],
        ["i1", "i2", "i3", "i1", "i3"],
        [1.0, 0.0, 1.0, 1.0, 0.0],
        user_features=users if user_features else None,
        item_features=items if item_features else None,
        name=name,
    )
