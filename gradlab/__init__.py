"""gradlab: exact per-sample, per-weight gradients of small nets, and the claims about
label smoothing and back-propagation put to the test."""
from . import datasets, metrics
from .grads import (deltas, error_term, forward, grad, logit_losses, logits, loss,
                    per_sample_grads, sample_losses)
from .nets import MLP
from .targets import one_hot, smooth_labels
from .grid import Grid
from .sweep import SweepResult, sweep
from .training import History, train
from .learned import (UnitTables, ablate_units, class_mean_targets, class_patterns, hidden_activations,
                      hidden_target_loss, isolate_units, unit_tables)

__version__ = "0.1.0"


def __getattr__(name):
    """``gl.MLPClassifier`` (public, left out of ``__all__``) is imported on first use, as it
    needs scikit-learn, an optional dependency."""
    if name == "MLPClassifier":
        from .estimator import MLPClassifier
        return MLPClassifier
    raise AttributeError(f"module 'gradlab' has no attribute {name!r}")


__all__ = [
    "Grid", "History", "MLP", "SweepResult", "datasets", "deltas", "error_term", "forward", "grad", "logit_losses", "logits", "loss",
    "ablate_units", "class_mean_targets", "class_patterns", "hidden_activations", "hidden_target_loss",
    "isolate_units", "unit_tables", "UnitTables",
    "metrics", "one_hot", "per_sample_grads", "sample_losses", "smooth_labels", "sweep", "train",
]
