"""Layer-contribution study: load a sweep, C(k) with bootstrap CIs, strategies, correlations, tables, plots.

python -m layerverl.analysis multirun/alfworld-gigpo-tiny --out docs/results/alfworld-gigpo-tiny
"""

from layerverl.analysis.compare import compare
from layerverl.analysis.contribution import ContributionResult, SettingResult, analyze
from layerverl.analysis.ensembles import ensemble_report, jaccard, majority_vote
from layerverl.analysis.runs import RunRecord, Sweep, load_sweep
from layerverl.analysis.stats import (
    align_by_depth,
    bootstrap_success,
    contribution,
    correlations,
    percentile_ci,
)
from layerverl.analysis.strategies import strategy_commands, write_profile

__all__ = [
    "ContributionResult",
    "RunRecord",
    "SettingResult",
    "Sweep",
    "align_by_depth",
    "analyze",
    "bootstrap_success",
    "compare",
    "contribution",
    "correlations",
    "ensemble_report",
    "jaccard",
    "load_sweep",
    "majority_vote",
    "percentile_ci",
    "strategy_commands",
    "write_profile",
]
