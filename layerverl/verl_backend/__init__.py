"""`backend=verl`: verl's Ray trainer (FSDP2 + vLLM) with layer-only training and layer-only weight sync.

Modules: `requirements` (the GPU/vLLM check that runs first), `config` (our config -> verl's
`ppo_trainer.yaml`), `episode` and `agent_loop` (one verl output per env step), `advantages` (GiGPO /
GRPO / Dr. GRPO over a verl batch), `estimators` (ours in verl's registry; verl loads it as a plugin),
`fsdp_freeze` (freeze before FSDP wraps, optimizer on what trains), `weight_sync` (send only the trained
layers, then check the rollout engine's copy), `trainer` (the verl trainer, worker and task runner
subclasses, and `run_verl`). Only `trainer` and `agent_loop` need verl's GPU extras at import time.
"""

from layerverl.verl_backend.requirements import MissingRequirementError, check_requirements

__all__ = ["MissingRequirementError", "check_requirements"]
