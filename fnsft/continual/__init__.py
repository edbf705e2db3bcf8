"""Continual learning: a task sequence learned stage by stage with each method, every task scored after every
stage into an accuracy matrix `a[t][T]`, summarised as average accuracy, backward and forward transfer.

    >>> suite = fnsft.continual.load_suite(fnsft.continual.OFFLINE_SUITE)  # run it with run_suite(suite)
    >>> [task.name for task in suite.tasks]
    ['passage-kind', 'sentiment', 'prompt-topic', 'parity']
    >>> accuracy = [[0.75, 0.5], [0.25, 1.0]]  # a[t][T] of two tasks
    >>> fnsft.continual.summarise(accuracy, single_task=[None, 0.75])  # FWT: a[1][1] against task 1 alone
    {'AA': 0.75, 'BWT': -0.25, 'FWT': 0.25}
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
