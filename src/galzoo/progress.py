"""Progress bars that suit both a terminal and a log file.

In a terminal the bar redraws a few times a second; in a log (DVC output piped to a file, CI) every redraw
is a line of text, so there it updates only every ``LOG_INTERVAL_S`` seconds.
"""
from __future__ import annotations

import sys

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs) -> tqdm:
    interactive = sys.stderr.isatty()
    kwargs.setdefault("mininterval", 0.1 if interactive else LOG_INTERVAL_S)
    kwargs.setdefault("dynamic_ncols", interactive)
    return tqdm(iterable, file=sys.stderr, disable=not enabled, **kwargs)
