"""The ALFWorld family: household tasks in alfworld 0.4's text, one folder read as one unit.

env.py         ALFWorldEnv: the Gymnasium env (its docstring is the manual)
world.py       the episode state, task types, splits and procedural task generation
rules.py       the command grammar and feedback text: what each admissible command does
expert.py      the planner and the searcher experts
tables.py      ALFRED's receptacle/object classes, property tables and room templates
real.py        RealALFWorldEnv: the real alfworld engine behind the same interface (optional extra)
game_files.py  a layout exported as a real ALFWorld game file (parity tests, benchmarks)
"""

from envs.alfworld.env import ALFWorldEnv

__all__ = ["ALFWorldEnv"]
