"""Running a DVC stage script: a galzoo error ends the stage with its message, not a traceback."""
from __future__ import annotations

import sys
from typing import Callable

from galzoo.errors import GalzooError


def run_stage(main: Callable[[], None]) -> None:
    try:
        main()
    except GalzooError as exc:
        print(f"galzoo: error: {exc}", file=sys.stderr)
        sys.exit(1)
