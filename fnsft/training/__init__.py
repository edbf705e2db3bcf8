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

One module per job: `_rules` (the type and range of every setting), `_config` (TrainingConfig, flags and config
files), `_run` (train: the run folder and its status), `_run_folder` (admitting a run), `_run_status` (status.json
and its heartbeat), `_loop` (the Trainer wiring), `_checkpoints` (atomic saves, resume), `_selective` (updating
only or never the networks' neurons), `_integrations` (networks in a user's own Trainer), `_progress` (progress
lines, stop requests) and `_report` (the forgetting report and model card). This package is their surface, imported
on first use so that reading a run's status does not import the Trainer.
"""

from .._surface import lazy_surface

__all__, __getattr__, __dir__ = lazy_surface(
    __name__,
    {
        ".choices": ("FORWARD_MASK_MODES", "NETWORK_MODES", "TRAINING_METHODS"),
        "_rules": ("CHECKPOINTING",),
        "_config": ("TrainingConfig", "config_from_args"),
        "_run": ("train",),
        "_loop": ("TrainingResult",),
        "_report": ("EVALUATED", "forgetting_report", "response_loss"),
        "_run_folder": ("RUN_OUTPUTS",),
        "_run_status": ("is_main_process", "read_progress", "read_run_status", "read_status"),
        "_integrations": ("load_adapter", "network_training"),
    },
)
