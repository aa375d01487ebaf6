"""Benchmarks of the tff_rec library on real data (``python -m benchmarks.<name>``)."""

from tff_rec import verbosity

# Before anything loads TensorFlow, which reads its log level only then.
verbosity.configure()
