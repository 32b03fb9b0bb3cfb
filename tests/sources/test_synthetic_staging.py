"""The synthetic source is all or nothing, like the real ones: it builds its folder in a staging folder beside
``out_dir`` and renames it into place when complete, so an interrupted run (Ctrl-C, SIGTERM, a killed `dvc
repro`) leaves the previous output or nothing, never a full labels.csv beside a fraction of the images."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from galzoo.sources import synthetic
from galzoo.sources.synthetic import generate_dataset
from tests.conftest import REPO_ROOT

SEED = 20240601
SIZE = 32


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


def _interrupt_after(monkeypatch, n_renders: int, seen: list[bool], out: Path, exc: BaseException) -> None:
    """Make the renderer raise ``exc`` on call ``n_renders`` + 1; ``seen`` records whether ``out`` had changed."""
    real = synthetic.render_galaxy
    before = _hashes(out) if out.exists() else None
    calls = []

    def render(*args, **kwargs):
        seen.append((_hashes(out) if out.exists() else None) != before)
        calls.append(1)
        if len(calls) > n_renders:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(synthetic, "render_galaxy", render)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(143), RuntimeError("renderer died")],
                         ids=["ctrl-c", "sigterm", "crash"])
def test_an_interrupted_first_run_leaves_nothing(tmp_path, monkeypatch, exc):
    out = tmp_path / "raw"
    seen: list[bool] = []
    _interrupt_after(monkeypatch, 3, seen, out, exc)
    with pytest.raises(type(exc)):
        generate_dataset(out, 6, SEED, workers=1, image_size=SIZE, progress=False)
    assert not out.exists() and _leftovers(out) == []
    assert seen == [False] * 4, "nothing may appear at out_dir while the run is going on"


def test_an_interrupted_rerun_leaves_the_previous_output_byte_for_byte(tmp_path, monkeypatch):
    out = generate_dataset(tmp_path / "raw", 4, SEED, workers=1, image_size=SIZE, progress=False)
    previous = _hashes(out)
    seen: list[bool] = []
    _interrupt_after(monkeypatch, 5, seen, out, SystemExit(143))
    with pytest.raises(SystemExit):  # another seed and more images: every file would change
        generate_dataset(out, 8, SEED + 1, workers=1, image_size=SIZE, progress=False)
    assert _hashes(out) == previous and _leftovers(out) == []
    assert not any(seen), "the previous output must stay untouched while the new one is built"


def test_a_rerun_replaces_the_whole_folder(tmp_path):
    out = tmp_path / "raw"
    generate_dataset(out, 5, SEED, workers=1, image_size=SIZE, progress=False)
    (out / "stray.txt").write_text("from an earlier run")
    generate_dataset(out, 2, SEED, workers=1, image_size=SIZE, progress=False)
    assert sorted(_hashes(out)) == ["images/100000.jpg", "images/100001.jpg", "labels.csv", "morphology.csv"]
    assert _leftovers(out) == []


def test_staging_does_not_change_a_byte(tmp_path):
    """The same files as a run straight into the folder would write: dvc.lock records them."""
    one = generate_dataset(tmp_path / "one", 3, SEED, workers=1, image_size=SIZE, progress=False)
    two = generate_dataset(tmp_path / "two", 3, SEED, workers=2, image_size=SIZE, progress=False)
    assert _hashes(one) == _hashes(two)
    assert sorted(_hashes(one)) == [f"images/{100000 + i}.jpg" for i in range(3)] + ["labels.csv", "morphology.csv"]


STAGE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from galzoo.sources import synthetic
    from galzoo.stage import run_stage

    out = Path(sys.argv[1])
    real = synthetic.render_galaxy

    def render(*args, **kwargs):  # in the pool workers: say when the work is under way
        Path(f"{out}.started").touch()
        return real(*args, **kwargs)

    synthetic.render_galaxy = render
    run_stage(lambda: synthetic.generate_dataset(out, 4000, 1, workers=2, image_size=32, progress=False))
""")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_sigterm_to_the_download_stage_removes_the_staging_folder_and_its_pool(tmp_path):
    script, out = tmp_path / "stage.py", tmp_path / "raw"
    script.write_text(STAGE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.Popen([sys.executable, str(script), str(out)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not Path(f"{out}.started").exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = Path(f"/proc/{run.pid}/task/{run.pid}/children").read_text().split()
        assert len(workers) == 2 and list(tmp_path.glob(".raw.*.staging"))
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=10)
    finally:
        run.kill()
    assert run.returncode == 143 and "stage stopped by SIGTERM" in stderr
    assert "Traceback" not in stderr
    assert not out.exists() and not list(tmp_path.glob(".raw.*.staging"))
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "the pool's workers outlived the stage"
