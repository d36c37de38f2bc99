"""Numba's on-disk cache for the kernels, invalidated when ANY kernel module changes.

Numba keys a cached function by its own source file only, but the cached machine code
includes every function it calls: after an edit to _core.py, the driver in hogwild.py
would go on running the old _core code from the cache. Here every function of this
package gets the stamp of all its modules (name, mtime, size), so a change to any of
them recompiles them all. Uses Numba's cache-locator classes, which are not a public
API: with a Numba that lacks them, its default (per-file) invalidation applies.
"""

from __future__ import annotations

import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def package_stamp(directory: str = _HERE) -> tuple:
    """(file name, mtime, size) of every module of hpcdl/kernels (or of ``directory``)."""
    stamp = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".py"):
            st = os.stat(os.path.join(directory, name))
            stamp.append((name, st.st_mtime, st.st_size))
    return tuple(stamp)


def _with_package_stamp(base: type) -> type:
    class Locator(base):
        def get_source_stamp(self):
            return package_stamp()

        @classmethod
        def from_function(cls, py_func, py_file):
            if os.path.dirname(os.path.abspath(py_file)) != _HERE:
                return None  # not ours: the next locator (Numba's own) decides
            return super().from_function(py_func, py_file)

    Locator.__name__ = f"Kernels{base.__name__}"
    return Locator


def install() -> None:
    """Put package-stamped versions of Numba's locators first (once)."""
    try:
        from numba.core import caching  # Numba internals: inside the try, which skips a Numba without them

        impl = caching.CacheImpl
        bases = [caching.UserProvidedCacheLocator, caching.InTreeCacheLocator, caching.UserWideCacheLocator]
    except AttributeError:
        return
    if any(cls.__name__.startswith("Kernels") for cls in impl._locator_classes):
        return
    impl._locator_classes[:0] = [_with_package_stamp(base) for base in bases]
