"""How candidate processes allocate memory: glibc malloc settings and a warm heap.

A candidate runs in a freshly forked process whose heap it has never touched, so every
allocation of its training faults in new pages; and by default glibc gives tensors above
its mmap threshold back to the kernel on free, so each batch faults them in again. A
long-lived process trains on a warm heap. Measured on digits (bench/sandbox_overhead.py),
that difference was most of the sandbox's overhead. So the worker starts with settings that
keep freed memory in the heap, and each pre-forked process touches `PREFAULT_MB` of heap
while it waits for a job (off the caller's path); the candidate's training then reuses
those pages (unless a job is already waiting: a short candidate gains nothing from it).
glibc reads these variables when a process starts: the worker's environment
is where they take effect, and its forks inherit the allocator's state.
"""

from __future__ import annotations

TOP_PAD = 64 * 2**20
MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(256 * 2**20),  # tensors up to 256 MiB come from the heap
    "MALLOC_TRIM_THRESHOLD_": str(2**30),  # and freed memory stays there
    "MALLOC_TOP_PAD_": str(TOP_PAD),  # grow the heap in large steps
    "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",  # transparent huge pages: fewer faults
    # each thread's own arena reserves 64 MiB of address space: a candidate that starts 64
    # threads would spend its RLIMIT_AS on arenas (candidates get one or a few CPUs anyway)
    "MALLOC_ARENA_MAX": "4",
}
PREFAULT_MB = 192  # below the mmap threshold, so it is heap memory and stays after free
AUDIT_PREFAULT_MB = 32  # an auditor's: it holds a batch's activations, never training's
# address space the warm heap holds, free, for the candidate: its RLIMIT_AS grows by this
# much so that the warm-up does not eat into the room it has for threads and mappings
HEAP_HELD = PREFAULT_MB * 2**20 + TOP_PAD


def job_waiting(job_fd: int) -> bool:
    """Whether the worker has already written a job on `job_fd` (then warming up would only
    delay it)."""
    import select

    return bool(select.select([job_fd], [], [], 0)[0])


def prefault_heap(job_fd: int, mb: int = PREFAULT_MB) -> None:
    """Touch `mb` MiB of heap and free it, so the pages stay mapped for the next
    allocations; skipped when a job is already waiting on `job_fd`."""
    import torch

    if job_waiting(job_fd):
        return
    buf = torch.empty(mb * 2**20, dtype=torch.uint8)
    buf.fill_(1)
    del buf
