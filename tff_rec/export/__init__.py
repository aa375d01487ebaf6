"""SavedModel export of trained recommenders in TF Serving's layout."""

from tff_rec.export.exporter import RunArtifacts
from tff_rec.export.exporter import build_serving_module
from tff_rec.export.exporter import export_run
from tff_rec.export.exporter import load_run
from tff_rec.export.serving import RECOMMEND
from tff_rec.export.serving import RECOMMEND_FROM_HISTORY
from tff_rec.export.serving import SCORE_FROM_HISTORY
from tff_rec.export.serving import SERVING_DEFAULT
from tff_rec.export.serving import SIGNATURE_NAMES
from tff_rec.export.serving import RecommenderServingModule
from tff_rec.export.serving import build_inference_model
