"""The round loop, metric outputs and the experiment runner."""

from tff_rec.training.config import Algorithm
from tff_rec.training.config import TrainConfig
from tff_rec.training.experiment import run_experiment
from tff_rec.training.federated import RoundSchedule
from tff_rec.training.federated import run_rounds
