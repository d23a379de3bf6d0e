"""The process's heap: memory already freed, given back to the system between stages."""

from __future__ import annotations

import ctypes


def trim_heap() -> None:
    """Give the heap memory already freed back to the system (glibc's ``malloc_trim(0)``, which
    releases the free pages of every thread's arena; nothing on other C libraries).

    A stage's large arrays, once freed, stay in the arena of the thread that allocated them; the
    next stage's model runs on threads of its own (CTranslate2's and torch's workers) and would
    allocate anew beside them. Trimming between stages keeps the peak to what is in use.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
