"""gradlab: exact per-sample, per-weight gradients of small nets, and the claims about
label smoothing and back-propagation put to the test."""
from . import datasets
from .grads import (deltas, error_term, forward, grad, logit_losses, logits, loss,
                    per_sample_grads, sample_losses)
from .nets import MLP
from .targets import one_hot, smooth_labels
from .grid import Grid
from .sweep import SweepResult, sweep
from .training import History, train

__version__ = "0.1.0"

__all__ = [
    "Grid", "History", "MLP", "SweepResult", "datasets", "deltas", "error_term", "forward", "grad", "logit_losses", "logits", "loss",
    "one_hot", "per_sample_grads", "sample_losses", "smooth_labels", "sweep", "train",
]
