"""Privacy accounting and noise calibration for differentially private
federated training, and the bias-only model released with the same guarantee
(`bias_reference`)."""

from tff_rec.privacy.accounting import AccountantType
from tff_rec.privacy.accounting import Mechanism
from tff_rec.privacy.accounting import PrivacyAccountant
from tff_rec.privacy.accounting import PrivacySpec
from tff_rec.privacy.accounting import Sampling
from tff_rec.privacy.accounting import default_delta
from tff_rec.privacy.accounting import epsilon
from tff_rec.privacy.accounting import round_event
from tff_rec.privacy.calibration import calibrate_noise_multiplier
from tff_rec.privacy.calibration import max_rounds
