"""The model section."""

import pytest

from tff_rec import errors
from tff_rec.tasks import config
from tff_rec.tasks import losses


def test_defaults_predict_ratings_with_mf():
    model = config.ModelConfig()
    assert model.task is config.Task.RATING
    assert model.model is config.ModelType.MF
    assert model.loss is losses.LossType.BCE


@pytest.mark.parametrize("model", ["gmf", "mlp", "neumf", "features"])
def test_click_models_need_the_implicit_task(model):
    with pytest.raises(errors.UserInputError, match="task='implicit'"):
        config.ModelConfig(model=model)
    assert config.ModelConfig(task="implicit", model=model).model.value == model


def test_loss_is_for_the_implicit_task():
    with pytest.raises(errors.UserInputError, match="loss: only for task='implicit'"):
        config.ModelConfig(loss="bpr")
    assert config.ModelConfig(task="implicit", loss="bpr").loss is losses.LossType.BPR
