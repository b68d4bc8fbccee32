"""``MLPClassifier``: gradlab's net and training loop behind scikit-learn's estimator API.

scikit-learn is an optional dependency (``pip install 'gradlab[sklearn]'``); this module is
imported on first use of ``gradlab.MLPClassifier``, so ``import gradlab`` never needs it.
"""
import numpy as np
from scipy.special import log_softmax

from . import _checks
from .grads import forward, logits
from .nets import HIDDEN_ACTIVATIONS, MLP
from .datasets import train_test_split as split
from .training import OptimizerState, plan_run, run_plan
from ._kernels import TEST_ACC

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data
except ImportError as err:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("gradlab.MLPClassifier needs scikit-learn >= 1.6: "
                      "pip install 'gradlab[sklearn]'") from err

__all__ = ["MLPClassifier"]


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """A multi-layer perceptron classifier trained by `gradlab.train` (SGD or Adam in numba).

    The net is ``gl.MLP([n_features_in_, *hidden, K], hidden=activation, output=...)``:

    - more than two classes: ``K = n_classes`` softmax outputs;
    - two classes: ONE sigmoid output ``o = P(classes_[1] | x)`` (as scikit-learn's own
      MLP), trained with per-node binary CE (or MSE). ``label_smoothing=a`` then turns the
      targets 1 / 0 into ``1 - a/2`` / ``a/2`` (the K = 2 case of ``(1 - a) t + a / K``),
      the same targets a 2-unit softmax would get; ``decision_function`` is the logit ``z``
      and ``predict`` is ``z > 0``.

    Training minimises ``1/B sum_n [L(x_n, t'_n) - beta H(o_n)] + l2/2 ||W||^2 + l1 |W|_1``
    over ``epochs`` passes with batches of ``batch_size`` rows (None: the full batch), by
    ``solver="sgd"`` (``v = momentum v + g``, ``w -= lr v + lr weight_decay w``; Nesterov's
    with ``nesterovs_momentum=True``) or ``solver="adam"`` (``beta_1``, ``beta_2``,
    ``epsilon``; AdamW when ``weight_decay`` > 0); see `gradlab.train`. The solver options
    keep scikit-learn's names and meanings (each solver ignores the other's).

    ``early_stopping=True`` holds out a stratified ``validation_fraction`` of the rows,
    records their accuracy after every epoch (``validation_scores_``), stops once it has not
    risen above the best by ``tol`` for more than ``n_iter_no_change`` epochs, and keeps the
    net of the best epoch (``best_validation_score_``), as scikit-learn does. Without it,
    unlike scikit-learn, training runs all ``epochs`` (no stop on a training-loss plateau:
    the claims gradlab checks are about what happens late in training).
    ``random_state`` (int) seeds both the initialisation (``gl.MLP(..., seed)``) and the
    shuffling (``gl.train(..., seed)``), so one seed gives a bit-identical model; None draws
    a seed from NumPy's global generator, as scikit-learn does.

    Attributes after ``fit``: ``classes_`` (sorted labels, any type), ``n_features_in_``,
    ``net_`` (the trained `gradlab.MLP`), ``history_`` (the `gradlab.History` of the last
    ``fit`` / ``partial_fit`` call, one record per epoch), ``coefs_`` / ``intercepts_``
    (``W_l`` of shape (fan_in, fan_out) and ``b_l``, views into ``net_.params``, as in
    scikit-learn's MLP), ``n_iter_`` (epochs run in total).
    """

    def __init__(self, hidden=(7,), activation="tanh", loss="ce", label_smoothing=0.0, l1=0.0, l2=0.0,
                 weight_decay=0.0, confidence_penalty=0.0, lr=0.01, momentum=0.0, batch_size=1,
                 epochs=200, random_state=None, dtype="float64", solver="sgd", beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, nesterovs_momentum=False, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4):
        self.hidden = hidden
        self.activation = activation
        self.loss = loss
        self.label_smoothing = label_smoothing
        self.l1 = l1
        self.l2 = l2
        self.weight_decay = weight_decay
        self.confidence_penalty = confidence_penalty
        self.lr = lr
        self.momentum = momentum
        self.batch_size = batch_size
        self.epochs = epochs
        self.random_state = random_state
        self.dtype = dtype
        self.solver = solver
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol

    # ------------------------------------------------------------------ fitting

    def fit(self, X, y):
        """Train a fresh net for ``epochs`` epochs on (X, y); returns self."""
        X, y = validate_data(self, X, y, reset=True, dtype=(np.float64, np.float32))
        classes, y_index = self._classes(y)
        epochs, seed = self._epochs(), self._seed()
        early = _checks.flag("early_stopping", self.early_stopping)
        net = self._new_net(X.shape[1], classes.size, seed)
        optimizer = OptimizerState.fresh(net)
        history = self._train(net, X, y_index, epochs, seed, optimizer, early)
        if not early:
            self.validation_scores_ = self.best_validation_score_ = None
        self.classes_, self._seed_, self.n_iter_ = classes, seed, int(history.step.size - 1)
        self._optimizer = optimizer
        self._set_history(history)
        return self

    def partial_fit(self, X, y, classes=None):
        """One epoch of training on (X, y), continuing from the current net.

        The first call needs ``classes`` (every label that will ever occur) and starts a
        fresh net as ``fit`` does; later calls may omit it. The optimizer's state (momentum,
        Adam's moments and step count) carries over from the previous ``fit`` / ``partial_fit``
        call, as in scikit-learn, so the calls train as one uninterrupted run would.
        Each call shuffles with a seed derived from (``random_state``, ``n_iter_``), so the
        same sequence of calls gives the same model.
        """
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        X, y = validate_data(self, X, y, reset=first, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        if first:
            all_classes, _ = self._classes(classes)
            seed, n_iter = self._seed(), 0
            net = self._new_net(X.shape[1], all_classes.size, seed)
        else:
            all_classes, seed, n_iter, net = self.classes_, self._seed_, self.n_iter_, self.net_
            if classes is not None and not np.array_equal(np.unique(classes), all_classes):
                raise ValueError(f"classes={classes!r} differs from the classes of the first call, "
                                 f"{all_classes!r}")
        unknown = ~np.isin(y, all_classes)
        if unknown.any():
            raise ValueError(f"y holds labels that are not in classes: {np.unique(y[unknown])!r}")
        call_seed = int(np.random.SeedSequence([seed, n_iter]).generate_state(1)[0])
        optimizer = getattr(self, "_optimizer", None)
        if first or optimizer is None or optimizer.velocity.shape != (2 * net.n_params,) \
                or optimizer.velocity.dtype != net.dtype:
            optimizer = OptimizerState.fresh(net)
        else:  # a copy: a call that fails leaves the estimator as it was
            optimizer = OptimizerState(optimizer.velocity.copy(), optimizer.steps)
        history = self._train(net, X, np.searchsorted(all_classes, y), 1, call_seed, optimizer)  # no early stopping
        self.classes_, self._seed_, self.n_iter_ = all_classes, seed, n_iter + 1
        self._optimizer = optimizer
        self._set_history(history)
        return self

    def _classes(self, y):
        """(sorted distinct labels, index of each label among them); two classes at least."""
        check_classification_targets(y)
        classes, index = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(f"y has only one class ({classes.tolist()[0]!r}); a classifier needs at least 2 "
                             "classes")
        return classes, index

    def _new_net(self, n_features, n_classes, seed):
        """[d, *hidden, K] with K softmax outputs, or one sigmoid output for two classes."""
        _checks.choice("activation", self.activation, HIDDEN_ACTIVATIONS)
        return MLP([n_features, *self._hidden(), 1 if n_classes == 2 else n_classes], hidden=self.activation,
                   output="sigmoid" if n_classes == 2 else "softmax", seed=seed,
                   dtype=_checks.float_dtype("dtype", self.dtype))

    def _train(self, net, X, y_index, epochs, seed, optimizer, early_stopping=False):
        """`gradlab.train` with this estimator's settings, one record per epoch, continuing
        from the `OptimizerState` ``optimizer`` (updated in place). With
        ``early_stopping``, a stratified ``validation_fraction`` of the rows (drawn from the
        seed) is held out, its accuracy recorded after every epoch, training stops once it has
        not risen above the best by ``tol`` for more than ``n_iter_no_change`` epochs, and the
        net of the best epoch is kept (scikit-learn's rule)."""
        X = X.astype(net.dtype, copy=False)
        solver = _checks.choice("solver", self.solver, ("sgd", "adam"))
        args = dict(loss=self.loss, smoothing=_checks.fraction("label_smoothing", self.label_smoothing),
                    l2=self.l2, l1=self.l1, weight_decay=self.weight_decay,
                    confidence_penalty=self.confidence_penalty, lr=self.lr, optimizer=solver,
                    momentum=self.momentum if solver == "sgd" else 0.0,
                    nesterov=bool(_checks.flag("nesterovs_momentum", self.nesterovs_momentum) and solver == "sgd"
                                  and self.momentum),
                    betas=(self.beta_1, self.beta_2), eps=self.epsilon, epochs=epochs, seed=seed)
        if not early_stopping:
            batch = self._batch(X.shape[0])
            plan = plan_run(net, X, y_index, batch_size=batch, record_every=-(-X.shape[0] // batch), **args)
            return run_plan(plan, progress=False, optimizer_state=optimizer)
        share = _checks.number("validation_fraction", self.validation_fraction, 0.0, 1.0, low_open=True)
        if share >= 1.0:
            raise ValueError(f"validation_fraction must be < 1; got {share}")
        patience = _checks.integer("n_iter_no_change", self.n_iter_no_change, low=1)
        tol = _checks.number("tol", self.tol, low=0.0)
        Xtr, Xval, ytr, yval = split(X, y_index, test_size=share, seed=seed, stratify=True)
        batch = self._batch(Xtr.shape[0])
        plan = plan_run(net, Xtr, ytr, batch_size=batch, record_every=-(-Xtr.shape[0] // batch),
                        X_test=Xval, y_test=yval, **args)
        best = dict(score=-np.inf, params=net.params.copy(), bad=0)

        def after_epoch(params, stats, n_written):
            score = stats[n_written - 1, TEST_ACC]
            best["bad"] = best["bad"] + 1 if score < best["score"] + tol else 0
            if score > best["score"]:
                best.update(score=score, params=params.copy())
            return best["bad"] > patience

        history = run_plan(plan, progress=False, after_chunk=after_epoch, epochs_per_call=1, optimizer_state=optimizer)
        history.net = MLP.from_params(net.sizes, best["params"], net.hidden, net.output)
        self.validation_scores_ = history.test_acc[1:].tolist()
        self.best_validation_score_ = float(best["score"])
        return history

    def _batch(self, n):
        return n if self.batch_size is None else min(_checks.integer("batch_size", self.batch_size, low=1), n)

    def _set_history(self, history):
        self.history_ = history
        self._set_net(history.net)

    def _set_net(self, net):
        self.net_ = net
        self.coefs_ = net.weights
        self.intercepts_ = net.biases

    # ------------------------------------------------------------------ prediction

    def decision_function(self, X):
        """Logits: (n, K) for K > 2 classes; (n,) the logit of ``classes_[1]`` for two."""
        X = self._inputs(X)
        z = logits(self.net_, X)
        return z[:, 0] if self.classes_.size == 2 else z

    def predict_proba(self, X):
        """(n, n_classes) class probabilities, columns in the order of ``classes_``."""
        X = self._inputs(X)
        o = forward(self.net_, X)
        return np.hstack([1.0 - o, o]) if self.classes_.size == 2 else o

    def predict_log_proba(self, X):
        """log of `predict_proba`, computed from the logits (log-softmax; two classes:
        (-softplus(z), -softplus(-z))), so it stays finite where the probabilities round to 0."""
        z = self.decision_function(X)
        if z.ndim == 1:
            return np.column_stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)])
        return log_softmax(z, axis=1)

    def predict(self, X):
        """The class of the largest logit (two classes: ``classes_[1]`` where ``z > 0``)."""
        z = self.decision_function(X)
        return self.classes_[(z > 0).astype(np.intp) if z.ndim == 1 else z.argmax(axis=1)]

    def _inputs(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return X.astype(self.net_.dtype, copy=False)

    # ------------------------------------------------------------------ parameters

    def _hidden(self):
        hidden = self.hidden
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (hidden,)
        try:
            return [_checks.integer("hidden", h, low=1) for h in hidden]
        except TypeError as err:
            raise TypeError(f"hidden must be a sequence of positive layer widths; got {self.hidden!r}") from err

    def _epochs(self):
        return _checks.integer("epochs", self.epochs, low=1)

    def _seed(self):
        rs = self.random_state
        if isinstance(rs, bool):
            raise TypeError(f"random_state must be an int, a numpy RandomState or None; got {rs!r}")
        if isinstance(rs, (int, np.integer)):
            if rs < 0:
                raise ValueError(f"random_state must be a non-negative integer or None; got {rs}")
            return int(rs)
        try:
            return int(check_random_state(rs).randint(0, 2**31 - 1))
        except ValueError as err:
            raise ValueError(f"random_state must be an int, a numpy RandomState or None; got {rs!r}") from err

    # ------------------------------------------------------------------ pickling

    def __setstate__(self, state):
        # net_.weights / biases are views of net_.params; pickle stores them as separate
        # arrays, so rebuild the net to make the views (and coefs_) share memory again
        super().__setstate__(state)
        if "net_" in state:
            old = state["net_"]
            net = MLP.from_params(old.sizes, old.params, old.hidden, old.output)
            if "history_" in state:
                self.history_.net = net
            self._set_net(net)
