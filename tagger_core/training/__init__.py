"""Training models from scratch: a small reusable trainer and the data recipes it is fed."""

from tagger_core.training.trainer import (
    EpochRecord,
    TrainConfig,
    Trainer,
    TrainingCancelled,
    TrainResult,
    seed_everything,
)

__all__ = [
    "EpochRecord",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingCancelled",
    "seed_everything",
]
