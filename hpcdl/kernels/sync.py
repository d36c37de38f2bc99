"""A barrier for the threads of the per-sample engine, which train one sample together.

Numba has no atomics on the CPU, so the few needed are LLVM instructions emitted by
``@intrinsic`` functions: an acquire load and a release store of an int64 (plain
``mov`` on x86), the spin-wait hint ``pause``, a call to ``sched_yield``, and the
cycle counter that measures how long a member waited.

Each member has its own counter, ``SYNC_STRIDE`` int64s (128 bytes, two cache lines:
the adjacent-line prefetcher moves lines in pairs) away from the next member's, so
arriving writes only the member's own line. Barrier number k: store k into the own
counter (``arrive``), then wait until every other counter is >= k (``wait``); work that
the others do not need can go between the two. The release store publishes everything
the member wrote before it; the acquire loads make it visible after.
A waiting thread spins with ``pause`` for ``SPINS_BEFORE_YIELD`` rounds (~100 us, far
longer than a normal wait of well under a microsecond, and than a partner's start-up
after other work) and then yields its core on every round, so that on an
oversubscribed machine the member it waits for can run.
"""

import platform

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

SYNC_STRIDE = 16
SPINS_BEFORE_YIELD = 4000  # x 24 ns (one pause on the benchmark machine)
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
_AARCH64 = platform.machine().lower() in ("aarch64", "arm64")


def _counter_pointer(context, builder, signature, args):
    aryty = signature.args[0]
    ary = context.make_array(aryty)(context, builder, args[0])
    index = context.cast(builder, args[1], signature.args[1], types.intp)
    return cgutils.get_item_pointer(context, builder, aryty, ary, [index])


def _is_int64_array(arr) -> bool:
    return isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1


@intrinsic
def load_acquire(typingctx, arr, index):
    """arr[index] (int64), read with acquire ordering."""
    if not (_is_int64_array(arr) and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        return builder.load_atomic(_counter_pointer(context, builder, signature, args), ordering="acquire", align=8)

    return types.int64(arr, index), codegen


@intrinsic
def store_release(typingctx, arr, index, value):
    """arr[index] = value (int64), written with release ordering."""
    if not (_is_int64_array(arr) and isinstance(index, types.Integer) and isinstance(value, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(value, _counter_pointer(context, builder, signature, args), ordering="release", align=8)
        return context.get_dummy_value()

    return types.void(arr, index, value), codegen


@intrinsic
def cpu_relax(typingctx):
    """The spin-wait hint (x86 ``pause``, ARM ``yield``): frees the core's resources while waiting."""

    def codegen(context, builder, signature, args):
        # LLVM intrinsics, not inline assembly (llvmlite's JIT has no assembly parser)
        if _X86:
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause"
            )
            builder.call(fn, [])
        elif _AARCH64:
            fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(32)])
            builder.call(
                cgutils.get_or_insert_function(builder.module, fnty, "llvm.aarch64.hint"),
                [ir.Constant(ir.IntType(32), 1)],
            )
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def cycles(typingctx):
    """A fast clock; only differences are meaningful. x86: the time-stamp counter (rdtsc,
    ~2-3.5 GHz). Elsewhere, CLOCK_MONOTONIC in nanoseconds: LLVM's cycle counter on
    AArch64 is PMCCNTR_EL0, which Linux does not let user code read (SIGILL)."""

    def codegen(context, builder, signature, args):
        if _X86:
            fnty = ir.FunctionType(ir.IntType(64), [])
            return builder.call(cgutils.get_or_insert_function(builder.module, fnty, "llvm.readcyclecounter"), [])
        return _monotonic_ns(builder)

    return types.int64(), codegen


CLOCK_MONOTONIC = 1  # Linux


def _monotonic_ns(builder):
    """IR: clock_gettime(CLOCK_MONOTONIC) as int64 nanoseconds."""
    i32, i64 = ir.IntType(32), ir.IntType(64)
    timespec = ir.LiteralStructType([i64, i64])
    slot = cgutils.alloca_once(builder, timespec)
    fnty = ir.FunctionType(i32, [i32, timespec.as_pointer()])
    builder.call(
        cgutils.get_or_insert_function(builder.module, fnty, "clock_gettime"), [ir.Constant(i32, CLOCK_MONOTONIC), slot]
    )
    sec = builder.load(cgutils.gep_inbounds(builder, slot, 0, 0))
    nsec = builder.load(cgutils.gep_inbounds(builder, slot, 0, 1))
    return builder.add(builder.mul(sec, ir.Constant(i64, 1_000_000_000)), nsec)


@intrinsic
def sched_yield(typingctx):
    """POSIX sched_yield(): let another runnable thread have this core."""

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


@njit(cache=True)
def arrive(sync, member, epoch):
    """Tell the others this member has reached barrier ``epoch + 1`` (everything it wrote
    before is then visible to them); returns epoch + 1. ``epoch`` counts the barriers
    passed since the counters were zeroed."""
    epoch += 1
    store_release(sync, member * SYNC_STRIDE, epoch)
    return epoch


@njit(cache=True)
def wait(sync, member, n_members, epoch):
    """Wait until every other member has arrived at barrier ``epoch``; returns the
    cycles (``cycles()``) spent waiting."""
    start = cycles()
    for other in range(n_members):
        if other == member:
            continue
        spins = 0
        while load_acquire(sync, other * SYNC_STRIDE) < epoch:
            if spins < SPINS_BEFORE_YIELD:
                spins += 1
                cpu_relax()
            else:
                sched_yield()
    return cycles() - start


@njit(cache=True)
def barrier(sync, member, n_members, epoch):
    """arrive + wait; returns (epoch + 1, cycles spent waiting)."""
    epoch = arrive(sync, member, epoch)
    return epoch, wait(sync, member, n_members, epoch)
