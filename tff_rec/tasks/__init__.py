"""What differs between tasks: the task objects, their losses and metrics."""

from tff_rec.tasks.base import Task
from tff_rec.tasks.base import Trained
from tff_rec.tasks.implicit import ImplicitTask
from tff_rec.tasks.rating import RatingTask
