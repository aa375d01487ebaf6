"""The evaluation section."""

import pytest

from tff_rec import errors
from tff_rec.evaluation import config


def test_what_comes_after_the_rounds_may_change_on_resume():
    assert config.EvaluationConfig.resumable_names() == {
        "personalize_steps",
        "baselines",
        "centralized_epochs",
        "centralized_l2",
        "centralized_batch_size",
        "centralized_learning_rate",
    }


def test_rules():
    with pytest.raises(errors.UserInputError, match="eval_every must be >= 1"):
        config.EvaluationConfig(eval_every=0)
    assert config.EvaluationConfig(personalize_steps=0).personalize_steps == 0
