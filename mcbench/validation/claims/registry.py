"""Every registered seed claim: seed 000 (ReLU moments) first, then seeds 001-004 (MLP initialisation)."""

from __future__ import annotations

from mcbench.validation.claims.mlp_init import MLP_SEED_CLAIMS
from mcbench.validation.claims.record import SeedClaim
from mcbench.validation.claims.relu_moments import SEED_CLAIMS

#: Seed 000's claims by name.
CLAIMS_BY_NAME: dict[str, SeedClaim] = {c.name: c for c in SEED_CLAIMS}
#: Seeds 001-004 claims by name.
MLP_CLAIMS_BY_NAME: dict[str, SeedClaim] = {c.name: c for c in MLP_SEED_CLAIMS}
#: Every registered claim, seed 000 first.
ALL_SEED_CLAIMS: list[SeedClaim] = SEED_CLAIMS + MLP_SEED_CLAIMS
