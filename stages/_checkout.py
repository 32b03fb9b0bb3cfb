"""Put this checkout's ``src/`` first on ``sys.path``, before any installed galzoo.

``dvc exp run --queue`` runs each experiment in its own copy of the repository, but an editable install
(``pip install -e .``) points at the original working tree: without this, a queued experiment would run
whatever the working tree holds when it starts, not the code it was queued with. Every stage script
imports this module first.
"""
import sys
from pathlib import Path

_SRC = str(Path(__file__).resolve().parent.parent / "src")
if sys.path[:1] != [_SRC]:
    sys.path.insert(0, _SRC)
