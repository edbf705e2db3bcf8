"""Fine-tuning with functional networks, on the Hugging Face Trainer.

Network modes (`network_mode`), and what the saved model contains:
- "none": ordinary fine-tuning.
- "lesion" / "preserve" (forward masking): the networks are switched off (or only they are kept) by the masking
  hooks during training; the saved weights/adapter carry no mask, so apply the same template mask at inference to
  reproduce the training condition.
- "train_only" / "freeze" (selective updates): only the networks' neurons are updated, or exactly they are kept
  frozen; the saved model needs no hooks.
`random_control=True` swaps the networks for random neurons with the same count per layer.

A run folder holds config.json, status.json, progress.jsonl (one line per log/eval), checkpoints/,
forgetting_report.json, final/ (PEFT adapter or full model, tokenizer, README.md model card, fnsft_training.json)
and, with merge=True, merged/ (the adapter merged into its base model).

One module per job: `config` (TrainingConfig, choices, flags and config files), `run` (train: the run folder and
its status), `loop` (the Trainer wiring), `progress` (progress lines, stop requests) and `report` (the forgetting
report and model card); this package re-exports their public names.
"""

from ..choices import FORWARD_MASK_MODES, NETWORK_MODES
from ..run_folder import RUN_OUTPUTS
from ..run_status import is_main_process, read_progress, read_status
from .config import CHECKPOINTING, METHODS, TrainingConfig, config_from_args
from .loop import TrainingResult
from .report import EVALUATED, forgetting_report, response_loss
from .run import train

__all__ = [
    "CHECKPOINTING",
    "EVALUATED",
    "FORWARD_MASK_MODES",
    "METHODS",
    "NETWORK_MODES",
    "RUN_OUTPUTS",
    "TrainingConfig",
    "TrainingResult",
    "config_from_args",
    "forgetting_report",
    "is_main_process",
    "read_progress",
    "read_status",
    "response_loss",
    "train",
]
