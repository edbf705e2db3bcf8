"""What a run learned and forgot: losses before and after training, the forgetting report, the model card."""

from __future__ import annotations

import torch
from torch import nn

from ..choices import FORWARD_MASK_MODES
from ..data import SAMPLE_DATA
from ._config import TrainingConfig

EVALUATED = "unmasked model (no forward hooks), as saved in final/"


@torch.no_grad()
def response_loss(model: nn.Module, dataset, collator, batch_size: int = 8) -> float:
    """Mean loss over the labelled (response) tokens of a tokenised dataset."""
    if dataset is None or len(dataset) == 0:
        return float("nan")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(dataset), batch_size):
        batch = collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"][:, 1:]
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().reshape(-1, logits.shape[-1]),
            labels.reshape(-1),
            ignore_index=-100,
            reduction="sum",
        )
        total += float(losses)
        count += int((labels != -100).sum())
    model.train(was_training)
    return total / max(count, 1)


def _general_losses(model, tokenizer, config: TrainingConfig) -> dict[str, float]:
    from ..analysis._evaluation import loss_by_category, token_losses
    from ..data._texts import eval_texts

    texts = eval_texts(config.general_eval, config.eval_texts_per_category)
    was_training = model.training
    model.eval()
    losses = loss_by_category(token_losses(model, tokenizer, texts.texts), texts.categories)
    model.train(was_training)
    return losses


def measure_losses(model, tokenizer, validation, collator, config) -> dict:
    return {
        "target_loss": response_loss(model, validation, collator),
        "general_loss": _general_losses(model, tokenizer, config),
    }


def forgetting_report(before: dict, after: dict) -> dict:
    """How much was learned (target loss decrease) and forgotten (general loss increase, per category)."""
    general = {
        category: {
            "before": before["general_loss"][category],
            "after": after["general_loss"][category],
            "increase": after["general_loss"][category] - before["general_loss"][category],
        }
        for category in before["general_loss"]
    }
    return {
        "target": {
            "before": before["target_loss"],
            "after": after["target_loss"],
            "gain": before["target_loss"] - after["target_loss"],
        },
        "general": general,
        "learned": before["target_loss"] - after["target_loss"],
        "forgotten": general["all"]["increase"],
    }


def _networks_line(networks: dict | None) -> str:
    if not networks:
        return "none"
    text = (
        f"template {networks['template']}, components {networks['components']}, {networks['neurons']} neurons"
    )
    if networks["random_control"]:
        text += " (random control: random neurons of the same count per layer)"
    return text


def model_card(config: TrainingConfig, networks: dict | None, report: dict, base_id: str) -> str:
    """README.md of final/: what was trained from what, how, and what it learned and forgot."""
    method = config.method
    if method != "full":
        method += f" (r={config.lora_r}, alpha={config.lora_alpha}, dropout={config.lora_dropout})"
    lines = [
        f"# {base_id} fine-tuned with fnsft",
        "",
        f"- base model: {base_id}",
        f"- method: {method}",
        f"- network mode: {config.network_mode}",
        f"- networks: {_networks_line(networks)}",
        f"- dataset: {config.dataset or SAMPLE_DATA.name} (loss on {config.loss_on}, max length {config.max_length})",
        f"- learning rate {config.learning_rate}, batch size {config.batch_size} x {config.gradient_accumulation} "
        f"accumulation, {report.get('steps')} steps (max_steps {config.max_steps}, epochs {config.epochs}), "
        f"warmup {config.warmup_ratio}, weight decay {config.weight_decay}, seed {config.seed}",
        f"- trainable parameters: {report.get('trainable_parameters')}",
    ]
    if config.network_mode in FORWARD_MASK_MODES:
        lines += ["", "Trained with the networks masked by forward hooks; the weights carry no mask."]
    if "target" in report:
        lines += ["", f"## Forgetting report ({EVALUATED})", "", *_report_table(report)]
    if "with_training_mask" in report:
        lines += [
            "",
            "## The same, with the training mask applied",
            "",
            *_report_table(report["with_training_mask"]),
        ]
    lines += ["", "Load it with `fnsft.load_model('<this folder>')`."]
    return "\n".join(lines) + "\n"


def _report_table(report: dict) -> list[str]:
    rows = [("target (held-out)", report["target"]["before"], report["target"]["after"])]
    rows += [(f"general: {name}", v["before"], v["after"]) for name, v in report["general"].items()]
    return [
        "| loss | before | after | change |",
        "| --- | ---: | ---: | ---: |",
        *(f"| {name} | {b:.4f} | {a:.4f} | {a - b:+.4f} |" for name, b, a in rows),
    ]
