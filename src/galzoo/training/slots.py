"""Several trainings at once on one machine (``dvc queue start -j N``, ``galzoo sweep --jobs N``): each
training process holds a numbered slot of the machine for its lifetime, and on a machine with several GPUs
slot k trains on GPU k mod (the number of GPUs), so N concurrent experiments spread over the GPUs instead of
all landing on cuda:0.

A slot is an exclusive ``flock`` on ``slot-<k>.lock`` in a folder of the machine's temporary directory: the
operating system releases it when the process ends, however it ends, so a crashed run never keeps one.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

SLOT_DIR_VARIABLE = "GALZOO_SLOT_DIR"
_held: list = []  # the open lock files of this process's slots: closing one would release it


def slot_dir() -> Path:
    """``$GALZOO_SLOT_DIR``, else ``galzoo-slots-<uid>`` in the temporary directory (one per user)."""
    override = os.environ.get(SLOT_DIR_VARIABLE)
    return Path(override) if override else Path(tempfile.gettempdir()) / f"galzoo-slots-{os.getuid()}"


def claim_slot(limit: int = 4096) -> int:
    """The lowest slot no other live process holds, held by this one until it exits."""
    folder = slot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(limit):
        handle = open(folder / f"slot-{index}.lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _held.append(handle)
        return index
    raise RuntimeError(f"{folder}: all {limit} training slots are held")


def gpu_for_slot(slot: int, gpus: int) -> int:
    """Slot k trains on GPU k mod ``gpus``: N <= ``gpus`` concurrent trainings get one GPU each."""
    return slot % gpus
