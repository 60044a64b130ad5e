"""The trust stage: stored raw outputs → calibrated confidences, flags and label sets.

Takes the per-member outputs ``listening`` stored and the librarian's review decisions,
and hands on calibrated confidences with their spread, review flags with reasons, and
the decided label sets ``writing`` exports. The science (metrics, scalers,
cross-validation, plots, the flag policy) is pure functions and small classes on NumPy
arrays of logits (members x tracks x classes), probabilities and binary labels; results
are dataclasses with ``to_dict``/``from_dict`` so storage can keep them as JSON. Never
imports torch or ``listening``: a calibration fit and the review commands start light.
"""
