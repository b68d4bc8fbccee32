"""numba kernels: flat contiguous arrays and scalars in, caller-allocated arrays out.

``blocks``: shared pieces (activations, forward/backward passes over a block of rows) and the
whole-data drivers; ``training``: one run's SGD loop (`train_chunk`) and its records;
``fused``: online steps for blocks of runs, generated per net shape; ``runs``: its pieces with
the run index innermost (update, records); ``rng``: numpy's PCG64 permutation stream, drawn
inside kernels. Two implementations of a step: `train_chunk`'s (any shape, one run) and the
generated one (online, small nets, blocks of runs).

numba's on-disk cache checks only a kernel's own source file, so a cached ``train_each``
(in training.py) would keep running an old ``_forward_block`` after blocks.py changed. Before any
kernel loads, `_clear_stale_caches` compares a digest of all its sources with the one
stored beside the caches and deletes every cached kernel of this package when they differ.
Generated kernels (`fused`) live in a folder named by that digest, so a change retires them too.
"""
import hashlib
import shutil
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_SOURCES = ("blocks.py", "training.py", "runs.py", "rng.py", "fused.py")


def _cache_dir():
    """The folder numba keeps this package's caches in: the first locator that applies and can
    write, as numba chooses (in-tree __pycache__, NUMBA_CACHE_DIR, or the user-wide cache)."""
    from numba.core.caching import CacheImpl

    from .blocks import _exp64  # creating a dispatcher loads no cache; its first call does
    for cls in CacheImpl._locator_classes:
        try:
            locator = cls.from_function(_exp64.py_func, str(_HERE / _SOURCES[0]))
            if locator is None:
                continue
            locator.ensure_cache_path()
            return Path(locator.get_cache_path())
        except Exception:  # a locator that does not apply here, or an unwritable folder
            continue
    return None


def _digest():
    return hashlib.sha256(b"".join((_HERE / name).read_bytes() for name in _SOURCES)).hexdigest()


def _clear_stale_caches():
    digest = _digest()
    folder = _cache_dir()
    if folder is None:
        return
    stamp = folder / "gradlab-kernels.sha256"
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    for name in _SOURCES:
        for path in folder.glob(f"{Path(name).stem}.*.nb[ic]"):
            path.unlink(missing_ok=True)
    for path in folder.glob("generated-*"):
        shutil.rmtree(path, ignore_errors=True)
    try:
        stamp.write_text(digest)
    except OSError:
        pass


_clear_stale_caches()
_generated = None


def generated_folder():
    """Where `fused` writes and imports its generated kernels (created on first use)."""
    global _generated
    if _generated is None:
        from .fused import writable_folder
        _generated = writable_folder(_cache_dir(), _digest())
    return _generated


from .blocks import *  # noqa: E402,F401,F403
from .blocks import _exp, _tanh  # noqa: E402,F401  (tested directly)
from . import fused  # noqa: E402,F401
from .rng import pcg64_state  # noqa: E402,F401
from .training import (LOGIT_GAP, N_STATS, PAST_TARGET, TEST_ACC, TEST_LOSS, TRAIN_ACC,  # noqa: E402,F401
                       TRAIN_LOSS, WEIGHT_NORM, record, train_chunk, train_each)
