"""CPU execution settings scoped to a block: thread count, denormal flushing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def single_thread() -> Iterator[None]:
    """Run the block on one intra-op thread, then restore the caller's thread count."""
    # many tiny matrix products (a GRU of hidden C // 2, a sampling loop on small tensors) cost
    # more to split over threads than they save; on a shared 2-core machine 1 thread measured 10x
    # faster
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush denormal floats to zero inside the block, then restore IEEE behaviour.

    Denormals (tiny adaLN gates, Adam moments, the tails of a noise schedule) make CPU kernels
    up to 6x slower; flushing them changes results only below 1e-38. The setting is process-wide
    CPU state, so it is switched off again on exit rather than leaked into the caller's code.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
