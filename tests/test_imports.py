"""Imports stay cheap and the heavy stacks load only where they are needed, each checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "hydra", "omegaconf", "verl", "ray")
KEEPS_OUT = {  # module -> the heavy stacks that importing it must not load
    "envs": HEAVY,
    "envs.rewards": HEAVY,
    "layerverl.rewards": HEAVY,
    "agents": HEAVY,
    "agents.step_batch": HEAVY,
    "layerverl": HEAVY,
    "layerverl.algos": HEAVY,
    "layerverl.config": ("torch", "transformers", "verl", "ray"),  # run.py's config checks compose with Hydra
}


def loaded_after(statement: str, cwd) -> list[str]:
    """The top-level packages a fresh interpreter has loaded after running `statement`."""
    code = (
        f"import sys, json; {statement}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cwd)
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", sorted(KEEPS_OUT))
def test_import_loads_no_heavy_stack(module, tmp_path):
    loaded = set(loaded_after(f"import {module}", tmp_path))
    assert loaded.isdisjoint(KEEPS_OUT[module]), (
        f"import {module} loaded {sorted(loaded & set(KEEPS_OUT[module]))}"
    )


def test_scoring_a_math_answer_loads_no_torch(tmp_path):
    statement = "from layerverl.rewards import compute_score; assert compute_score('math', 'so \\\\boxed{2}', '2')['acc'] == 1.0"
    assert "torch" not in loaded_after(statement, tmp_path)


def test_verl_finds_our_estimators_as_a_plugin(tmp_path):
    """A vanilla verl process (nothing of ours imported) can select gigpo: verl loads the `verl.plugins` entry point.

    Run outside the repo root, where a stale `layerverl.egg-info` of an old build could shadow the installed metadata.
    """
    statement = (
        "from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY as r; "
        "assert {'gigpo', 'layerverl_grpo', 'layerverl_drgrpo'} <= set(r), sorted(r)"
    )
    loaded_after(statement, tmp_path)
