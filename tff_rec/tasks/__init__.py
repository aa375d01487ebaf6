"""Losses and metrics per task."""

from tff_rec.tasks import implicit
from tff_rec.tasks import rating
