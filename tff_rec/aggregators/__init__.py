"""Aggregators of client model updates: mean, secure, differentially private, robust."""

from tff_rec.aggregators.factory import AggregatorType
from tff_rec.aggregators.factory import configure_aggregator
from tff_rec.aggregators.laplace import LaplaceSumQuery
from tff_rec.aggregators.laplace import laplace_aggregator
from tff_rec.aggregators.robust import robust_aggregator
