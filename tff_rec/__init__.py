"""tff_rec: federated recommenders on TensorFlow Federated.

Subpackages: `data` (loading, splits, partitioning into clients), `models`,
`tasks`, `algorithms` (TFF learning processes), `aggregators`,
`compression` (compressed updates and broadcast, byte counts), `evaluation`,
`training` (round loop and experiment runner), `runtime` (execution
contexts).
"""

__version__ = "0.1.0"
