"""Empirical privacy audit: attacks, their statistics, and the threat model."""

from tff_rec.privacy.audit.canary_epsilon import EmpiricalEpsilon
from tff_rec.privacy.audit.canary_epsilon import estimate_epsilon
from tff_rec.privacy.audit.observations import NotVisibleError
from tff_rec.privacy.audit.observations import Observations
from tff_rec.privacy.audit.runner import AuditOptions
from tff_rec.privacy.audit.runner import run_audit
from tff_rec.privacy.audit.threat_model import CONFIGURATIONS
from tff_rec.privacy.audit.threat_model import Configuration
from tff_rec.privacy.audit.threat_model import Observation
from tff_rec.privacy.audit.threat_model import Party
from tff_rec.privacy.audit.threat_model import visible
