"""absl entry points over the tff_rec library (``python -m pipelines.<name>``)."""

import os

# TensorFlow's C++ INFO/WARNING lines (CUDA probing, grappler) drown the
# pipelines' own output; errors still show. Set before TensorFlow loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
