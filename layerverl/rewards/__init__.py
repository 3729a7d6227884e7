"""The rewards under the name users import: `from layerverl.rewards import compute_score`.

The code lives in `envs.rewards` (a task's score is part of the task, and envs sit below layerverl, so
an env can score its own step without importing upward); this module re-exports its public API.
"""

from envs import rewards as _rewards
from envs.rewards import *  # noqa: F403

__all__ = list(_rewards.__all__)
