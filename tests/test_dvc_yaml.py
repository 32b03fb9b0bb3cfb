"""dvc.yaml's dependencies: a stage depends on another stage's whole output folder, never on a file inside it.

Why: after DVC restores a stage from its run cache it checks dependencies through an index that still holds
dvc.lock's folder hash; a dependency on a file inside that folder then makes `dvc exp run` fail with
"failed to load directory" on any machine that never had the committed folder (a fresh clone).
"""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _paths(entries) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]


def resolved_stages() -> dict[str, dict]:
    """The stages of dvc.yaml with its vars, ``${data.source}`` and each ``foreach`` item filled in."""
    text = (ROOT / "dvc.yaml").read_text()
    pipeline = yaml.safe_load(text)
    values = {k: v for entry in pipeline.get("vars", []) for k, v in entry.items()}
    values["data.source"] = yaml.safe_load((ROOT / "params.yaml").read_text())["data"]["source"]

    def fill(value: str, item: str | None) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(item if m[1] == "item" else values.get(m[1], m[0])), value)

    stages = {}
    for name, stage in pipeline["stages"].items():
        items, body = ([None], stage) if "foreach" not in stage else (["x"], stage["do"])
        for item in items:
            stages[name] = {"deps": [fill(p, item) for p in _paths(body.get("deps"))],
                            "outs": [fill(p, item) for p in _paths(body.get("outs"))]}
    return stages


def test_no_stage_depends_on_a_file_inside_another_stage_s_output_folder():
    stages = resolved_stages()
    outputs = {out: name for name, stage in stages.items() for out in stage["outs"]}
    inside = [f"{name} depends on {dep}, inside {out} (an output of {owner}): depend on {out} itself"
              for name, stage in stages.items() for dep in stage["deps"]
              for out, owner in outputs.items() if dep.startswith(out.rstrip("/") + "/")]
    assert inside == []


def test_the_check_sees_the_pipeline_s_outputs():
    stages = resolved_stages()
    assert "data/crops" in stages["crop"]["outs"] and "data/crops" in stages["split"]["deps"]
