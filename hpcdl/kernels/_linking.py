"""Kernels that only other kernels call are compiled for linking only: no O3, no machine code.

Numba compiles every ``@njit`` function into a library of its own and links the
libraries of its callees into it: each library then runs LLVM's full module passes (O3)
over all the code linked into it and emits machine code for all of it. A kernel compiled
``no_cpython_wrapper`` and ``no_cfunc_wrapper`` (``_core.JIT``) is never called from
Python, only linked into the kernels that call it, whose own O3 optimizes its code again
there, inlined. For such a kernel of this package, this module skips that library's module
passes and its machine code, and Numba's cache keeps its LLVM bitcode (the code the callers
link) instead of object code. Its functions still get Numba's per-function passes.

The entry points (``_core.PY``/``ENTRY``: a CPython wrapper) compile as before: full O3
over everything linked into them, machine code, object code in the cache. So the code that
runs is optimized as before, once, at the top; what is skipped is the optimization of the
same code at every level below. docs/kernels.md, "Compiling", has the measurements.

Uses Numba's codegen internals (checked in numba 0.68.1; applied on TESTED_NUMBA only): with a Numba that lacks them,
nothing is patched and every library compiles as Numba does by default.
"""

from __future__ import annotations

_PACKAGE = __name__.rpartition(".")[0]  # hpcdl.kernels


def _ours(state) -> bool:
    flags = state.flags
    return (
        flags.no_cpython_wrapper and flags.no_cfunc_wrapper and (state.func_id.modname or "").startswith(_PACKAGE + ".")
    )


# The Numba releases whose internals this patch was read against and tested with; any other
# release compiles as Numba does by default (slower to compile, the same code).
TESTED_NUMBA = ("0.68.",)


def install() -> None:
    """Patch Numba's lowering and JIT code libraries (once), on a Numba of TESTED_NUMBA only."""
    import numba

    if not numba.__version__.startswith(TESTED_NUMBA):
        return
    try:
        import llvmlite.binding as ll  # Numba internals: inside the try, which skips a Numba without them
        from numba.core import codegen, typed_passes  # as above

        lib_cls, cg_cls, lowering = codegen.JITCodeLibrary, codegen.JITCPUCodegen, typed_passes.NativeLowering
        originals = (
            lowering.run_pass,
            lib_cls._optimize_final_module,
            lib_cls._finalize_final_module,
            lib_cls.serialize_using_object_code,
            lib_cls._unserialize.__func__,
            cg_cls.set_env,
        )
        lib_cls._finalize_dynamic_globals, lib_cls._verify_declare_only_symbols  # noqa: B018 (exist?)
    except AttributeError:
        return
    if getattr(lib_cls, "linked_only", None) is not None:
        return
    run_pass, optimize, finalize, serialize, unserialize, set_env = originals
    lib_cls.linked_only = False

    def lowering_run_pass(self, state):
        if state.library is None and _ours(state):
            library = state.targetctx.codegen().create_library(state.func_id.func_qualname)
            library.enable_object_caching()
            library.linked_only = isinstance(library, lib_cls)
            state.library = library
        return run_pass(self, state)

    def optimize_final_module(self):
        if not self.linked_only:
            optimize(self)

    def finalize_final_module(self):
        if not self.linked_only:
            return finalize(self)
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True  # never handed to the execution engine: no machine code

    def serialize_using_object_code(self):
        return self.serialize_using_bitcode() if self.linked_only else serialize(self)

    def unserialize_library(cls, codegen_, state):
        name, kind, data = state
        if kind != "bitcode":  # Numba caches CPU code as object code: bitcode is ours
            return unserialize(cls, codegen_, state)
        library = codegen_.create_library(name)
        library.linked_only = True
        library._final_module = ll.parse_bitcode(data)
        library._finalize_final_module()
        return library

    def set_env_if_defined(self, env_name, env):
        if self._engine.is_symbol_defined(env_name):  # not so for a library compiled for linking
            set_env(self, env_name, env)

    lowering.run_pass = lowering_run_pass
    lib_cls._optimize_final_module = optimize_final_module
    lib_cls._finalize_final_module = finalize_final_module
    lib_cls.serialize_using_object_code = serialize_using_object_code
    lib_cls._unserialize = classmethod(unserialize_library)
    cg_cls.set_env = set_env_if_defined
