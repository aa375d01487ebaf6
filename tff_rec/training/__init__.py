"""The round loop and its hooks, checkpoints, metric outputs, the experiment."""

from tff_rec.training.attacks import AttackType
from tff_rec.training.attacks import MaliciousClients
from tff_rec.training.attacks import build_attacked_process
from tff_rec.training.checkpoint import CheckpointManager
from tff_rec.training.config import Algorithm
from tff_rec.training.config import ModelType
from tff_rec.training.config import Task
from tff_rec.training.config import TrainConfig
from tff_rec.training.experiment import run_experiment
from tff_rec.training.hooks import RoundHook
from tff_rec.training.rounds import run_rounds
from tff_rec.training.sampling import ClientSampler
from tff_rec.training.scenarios import SCENARIOS
from tff_rec.training.scenarios import make_config
