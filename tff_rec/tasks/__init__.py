"""What differs between tasks: losses and metrics, and the task objects."""

from tff_rec.tasks import losses
