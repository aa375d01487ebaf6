"""Test metrics (ratings, top-K ranking), baselines and personalization."""

from tff_rec.evaluation.baselines import train_centralized
from tff_rec.evaluation.baselines import train_local_only
from tff_rec.evaluation.personalization import ClientTrainer
from tff_rec.evaluation.ranking import RankingEvaluator
from tff_rec.evaluation.ranking import metric_names
from tff_rec.evaluation.rating import MatrixFactorizationWeights
from tff_rec.evaluation.rating import RatingMetrics
from tff_rec.evaluation.rating import evaluate_global_model
from tff_rec.evaluation.rating import evaluate_reconstruction
from tff_rec.evaluation.rating import reconstruct_users
