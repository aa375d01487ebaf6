"""Functional Keras recommenders with a declared global/local split."""

from tff_rec.models.matrix_factorization import RecommenderModel
from tff_rec.models.matrix_factorization import build_matrix_factorization
