"""Functional Keras recommenders with a declared global/local split."""

from tff_rec.models.feature_model import build_feature_model
from tff_rec.models.matrix_factorization import RecommenderModel
from tff_rec.models.matrix_factorization import build_matrix_factorization
from tff_rec.models.ncf import build_gmf
from tff_rec.models.ncf import build_mlp
from tff_rec.models.ncf import build_neumf
