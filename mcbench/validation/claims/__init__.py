"""The source documents' claims (seeds 000-004), as written and corrected, and their Monte Carlo evidence.

- :mod:`.record`: :class:`SeedClaim`, the record of one formula or statement;
- :mod:`.relu_moments`: seed 000 (ReLU Gaussian moments);
- :mod:`.mlp_init`: seeds 001-004 (MLP variance, Xavier, He, Glorot's product formula);
- :mod:`.registry`: all of them;
- :mod:`.checks`: the validation checks and the errata verdicts.
"""

from mcbench.validation.claims.record import SeedClaim
from mcbench.validation.claims.registry import (
    ALL_SEED_CLAIMS,
    CLAIMS_BY_NAME,
    MLP_CLAIMS_BY_NAME,
)
from mcbench.validation.claims.relu_moments import SEED_CLAIMS
from mcbench.validation.claims.mlp_init import MLP_SEED_CLAIMS

__all__ = ["ALL_SEED_CLAIMS", "CLAIMS_BY_NAME", "MLP_CLAIMS_BY_NAME", "MLP_SEED_CLAIMS", "SEED_CLAIMS", "SeedClaim"]
