"""Builders of TFF learning processes."""

from tff_rec.algorithms.fed_avg import build_unweighted_fed_avg
from tff_rec.algorithms.fed_avg import build_weighted_fed_avg
from tff_rec.algorithms.fed_recon import build_fed_recon
from tff_rec.algorithms.optimizers import OptimizerType
from tff_rec.algorithms.optimizers import build_optimizer
