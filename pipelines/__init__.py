"""absl entry points over the tff_rec library (``python -m pipelines.<name>``)."""

from tff_rec import verbosity

# Before anything loads TensorFlow, which reads its log level only then.
verbosity.configure()
