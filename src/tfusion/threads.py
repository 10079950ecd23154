"""Thread-count control for many-small-op workloads."""

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
