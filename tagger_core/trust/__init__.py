"""Calibration science on arrays: metrics, scalers, cross-validation, review policy, plots.

Pure functions and small classes on NumPy arrays of logits (members x tracks x
classes), probabilities and binary labels (tracks x classes); results are
dataclasses with ``to_dict``/``from_dict`` so storage can keep them as JSON.
"""
