"""Validation: Monte Carlo against theory, with standard errors and Holm-corrected verdicts.

- :mod:`.stats`: z, p, Holm, verdicts, critical z and counts (every verdict rule);
- :mod:`.framework`: the types a check is made of (:class:`Check`, :class:`CheckOutput`,
  :class:`ValidationResult`);
- :mod:`.checks_relu`, :mod:`.checks_mlp`, :mod:`.claims`: the checks;
- :mod:`.runner`: the catalogue, the warm-up and :func:`run_validation`.
"""
