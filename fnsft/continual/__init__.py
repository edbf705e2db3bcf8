"""Continual learning: a task sequence learned stage by stage with each method, every task scored after every
stage into an accuracy matrix `a[t][T]`, summarised as average accuracy, backward and forward transfer.

    >>> suite = fnsft.continual.load_suite(fnsft.continual.OFFLINE_SUITE)  # doctest: +SKIP
    >>> results = fnsft.continual.run_suite(suite, "runs/cl")  # doctest: +SKIP
    >>> results["methods"]["networks"]["summary"]["BWT"]  # doctest: +SKIP
"""

from .._resources import bundled
from .config import METHODS, SuiteConfig, TaskSpec, load_suite, suite_from_dict, with_overrides
from .metrics import average_accuracy, backward_transfer, forward_transfer, paired_difference, summarise
from .results import collect_results
from .suite import run_suite

OFFLINE_SUITE = bundled("continual/offline.yaml")

__all__ = [
    "METHODS",
    "OFFLINE_SUITE",
    "SuiteConfig",
    "TaskSpec",
    "average_accuracy",
    "backward_transfer",
    "collect_results",
    "forward_transfer",
    "load_suite",
    "paired_difference",
    "run_suite",
    "suite_from_dict",
    "summarise",
    "with_overrides",
]
