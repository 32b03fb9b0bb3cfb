"""The dependency locks that ./bootstrap.sh installs with `pip install --require-hashes --no-deps`.

requirements.lock pins the whole environment with PyTorch's CPU build of torch (what made dvc.lock);
requirements-cuda.lock is the same set with PyPI's default torch and the CUDA packages it needs. Both come
from pip-compile (`./bootstrap.sh lock`) and must stay portable: a hash for every pin, and no package-index
address or local path in them (pip's own configuration says where packages come from).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ("requirements.lock", "requirements-cuda.lock")
ADDRESS = re.compile(r"[A-Za-z+]+://|\bfile:/")
"""Any URL or file location, comments included (option lines are refused by ``read_lock``: a lock holds pins)."""
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}$")


def logical_lines(text: str) -> list[str]:
    """The requirement lines of a pip requirements file: comments dropped, backslash continuations joined."""
    text = re.sub(r"\\\n", " ", text)
    lines = (re.sub(r"(^|\s)#.*", "", line).strip() for line in text.splitlines())
    return [line for line in lines if line]


def read_lock(name: str) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (pinned version, [hash options])}; fails on anything that is not `name==version --hash=...`."""
    pins = {}
    for line in logical_lines((ROOT / name).read_text()):
        req, *options = line.split()
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", req)
        assert match, f"{name}: not an exact pin: {line[:100]}"
        assert options and all(HASH.match(o) for o in options), f"{name}: {req} needs sha256 hashes only"
        pins[canonicalize_name(match[1])] = (match[2], options)
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    return [Requirement(r) for r in [*project["dependencies"], *extras.get("dev", [])]]


@pytest.mark.parametrize("name", LOCKS)
def test_lock_has_hashes_and_no_addresses(name):
    text = (ROOT / name).read_text()
    bad = [line for line in text.splitlines() if ADDRESS.search(line)]
    assert not bad, f"{name} must name no index, address or local path (pip's configuration does): {bad[:5]}"
    pins = read_lock(name)  # every requirement line is `name==version --hash=...`: no option lines
    assert len(pins) > 50


@pytest.mark.parametrize("name", LOCKS)
def test_every_declared_dependency_is_pinned(name):
    pins = read_lock(name)
    for req in declared():
        key = canonicalize_name(req.name)
        assert key in pins, f"{req.name} (pyproject.toml) is not pinned in {name}: run ./bootstrap.sh lock"
        version = pins[key][0]
        assert req.specifier.contains(version, prereleases=True), (
            f"{name} pins {req.name}=={version}, outside pyproject.toml's {req.specifier}: run ./bootstrap.sh lock"
        )


def test_locks_agree_and_differ_only_in_torch_build():
    cpu, cuda = read_lock("requirements.lock"), read_lock("requirements-cuda.lock")
    cpu_torch, cuda_torch = Version(cpu["torch"][0]), Version(cuda["torch"][0])
    assert cpu_torch.local == "cpu" and cuda_torch.local is None
    assert cpu_torch.public == cuda_torch.public
    assert not set(cpu["torch"][1]) & set(cuda["torch"][1]), "a torch file can't be in both builds"
    different = {k for k in cpu.keys() & cuda.keys() if cpu[k][0] != cuda[k][0]} - {"torch"}
    assert not different, f"the two locks pin these differently: {sorted(different)}; run ./bootstrap.sh lock"
    assert cpu.keys() <= cuda.keys(), f"only in requirements.lock: {sorted(cpu.keys() - cuda.keys())}"
    assert "setuptools" in cpu, "torch needs setuptools at run time: lock it (pip-compile --allow-unsafe)"
