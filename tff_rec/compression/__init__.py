"""Communication compression: quantized, sparse updates and quantized broadcast."""

from tff_rec.compression.aggregation import SecureQuantizedSumFactory
from tff_rec.compression.aggregation import compress_updates
from tff_rec.compression.aggregation import secure_quantized_mean
from tff_rec.compression.broadcast import BroadcastFactory
from tff_rec.compression.broadcast import build_broadcast_process
from tff_rec.compression.byte_counts import BYTE_KEYS
from tff_rec.compression.byte_counts import byte_metrics
from tff_rec.compression.codec import NormBound
from tff_rec.compression.codec import UpdateCodec
