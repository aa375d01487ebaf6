"""Test metrics (ratings, top-K ranking), baselines and personalization."""

from tff_rec.evaluation.baselines import train_centralized
from tff_rec.evaluation.baselines import train_local_only
from tff_rec.evaluation.personalization import ClientTrainer
from tff_rec.evaluation.ranking_metrics import RankingEvaluator
from tff_rec.evaluation.ranking_metrics import metric_names
from tff_rec.evaluation.rating_metrics import MatrixFactorizationWeights
from tff_rec.evaluation.rating_metrics import RatingMetrics
from tff_rec.evaluation.rating_metrics import evaluate_global_model
from tff_rec.evaluation.rating_metrics import evaluate_reconstruction
from tff_rec.evaluation.rating_metrics import reconstruct_users
