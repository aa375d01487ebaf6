"""Benchmarks of the tff_rec library on real data (``python -m benchmarks.<name>``)."""

import os

# TensorFlow's C++ INFO/WARNING lines (CUDA probing, grappler) drown the
# benchmarks' own output; errors still show. Set before TensorFlow loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
