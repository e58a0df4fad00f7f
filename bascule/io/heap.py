"""Python's cyclic garbage collector, paused while Bascule builds one large structure in a burst.

The collector runs a pass every 700 new container objects, and every so often a full pass over every live
object. Reading a 100,000-resource export creates millions of dicts and lists that all stay alive, and an
offline program run creates a few hundred thousand Outputs, futures and tasks: the full passes then walk
a heap that keeps growing, so the time per resource grows with the number of resources (measured in
benchmarks/policy_check.py and benchmarks/plan_stack.py, figures in the README). Pausing the collector
over the burst makes the cost linear again. Nothing is leaked: reference counting frees acyclic garbage
as usual, and cyclic garbage made during the burst is collected once the collector runs again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused(*, age: bool) -> Iterator[None]:
    """Pause the cyclic collector over the block; a no-op when it is already off (a caller paused it).

    `age=True` is for a block that builds what the caller keeps (a parsed export, an inventory): what was
    made is moved into the oldest generation without a pass (`gc.freeze()` then `gc.unfreeze()`, which the
    gc documentation defines as putting the frozen objects "back into the oldest generation"), so the first
    young pass afterwards does not walk it all. It is still examined by the next full pass, so a cycle
    among it is freed as usual. Skipped when another part of the process has frozen objects itself, since
    `unfreeze` would release those too. `age=False` is for a block whose objects mostly die with it (a
    program run): the first pass afterwards frees its cycles.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if age and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()
