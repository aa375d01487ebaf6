"""Loading, splitting and partitioning interaction data."""

from tff_rec.data.client_data import FederatedData
from tff_rec.data.client_data import build_federated_data
from tff_rec.data.client_data import client_dataset
from tff_rec.data.client_data import preprocess
from tff_rec.data.client_data import to_client_data
from tff_rec.data.download import ensure_movielens_100k
from tff_rec.data.features import ItemFeatures
from tff_rec.data.features import UserFeatures
from tff_rec.data.features import encode_item_features
from tff_rec.data.features import encode_user_features
from tff_rec.data.interactions import Interactions
from tff_rec.data.interactions import from_raw_ids
from tff_rec.data.loaders import DATASETS
from tff_rec.data.loaders import load_csv
from tff_rec.data.loaders import load_dataset
from tff_rec.data.loaders import load_ml1m
from tff_rec.data.loaders import load_ml100k
from tff_rec.data.loaders import load_ml_latest
from tff_rec.data.loaders import load_recbole_atomic
from tff_rec.data.partition import Partition
from tff_rec.data.partition import PartitionType
from tff_rec.data.partition import make_partition
from tff_rec.data.splits import Split
from tff_rec.data.splits import SplitType
from tff_rec.data.splits import make_split
