"""Scoring a model after a stage: each task's test set (the label generated greedily, exact match, and the
response loss) and the general-ability drift (next-token loss on general texts, and lm-evaluation-harness tasks
where a suite asks for them)."""

from __future__ import annotations

import torch
from torch import nn

from ..data import IGNORE_INDEX, SFTDataCollator, build_tokenized_dataset, render_conversation
from .tasks import Example, TaskData


def generated_label(text: str) -> str:
    """What the model answered: its first line, stripped."""
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def _prompt_ids(tokenizer, example: Example, template: str) -> list[int]:
    text = render_conversation([{"role": "user", "content": example.prompt}], tokenizer, template, True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@torch.inference_mode()
def generate_labels(
    model: nn.Module, tokenizer, examples: list[Example], template: str, batch_size: int = 8
) -> list[str]:
    """The greedy answer to each example's prompt, at most a few tokens longer than the longest label."""
    device = next(model.parameters()).device
    longest = max(len(tokenizer(e.label, add_special_tokens=False)["input_ids"]) for e in examples)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    answers = []
    for start in range(0, len(examples), batch_size):
        prompts = [_prompt_ids(tokenizer, e, template) for e in examples[start : start + batch_size]]
        width = max(len(ids) for ids in prompts)
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        attention = torch.zeros_like(ids)
        for row, prompt in enumerate(prompts):  # left padding: every prompt ends where generation starts
            ids[row, width - len(prompt) :] = torch.tensor(prompt)
            attention[row, width - len(prompt) :] = 1
        out = model.generate(
            input_ids=ids.to(device),
            attention_mask=attention.to(device),
            max_new_tokens=longest + 2,
            do_sample=False,
            pad_token_id=pad,
        )
        answers.extend(tokenizer.batch_decode(out[:, width:], skip_special_tokens=True))
    return [generated_label(answer) for answer in answers]


@torch.inference_mode()
def response_loss(model: nn.Module, tokenizer, task: TaskData, template: str, max_length: int) -> float:
    """Mean next-token loss over the label tokens of the task's test examples."""
    records = [{"prompt": e.prompt, "completion": e.label} for e in task.test]
    dataset = build_tokenized_dataset(records, tokenizer, template, max_length, cache=False)
    collate = SFTDataCollator.from_tokenizer(tokenizer)
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(dataset), 8):
        batch = collate([dataset[i] for i in range(start, min(start + 8, len(dataset)))])
        tokens = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
        loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
        total, count = total + float(loss) * tokens, count + tokens
    return total / max(count, 1)


def score_task(model: nn.Module, tokenizer, task: TaskData, template: str, max_length: int) -> dict:
    """Accuracy (exact match of the generated label), the test loss, and a few answers to look at."""
    answers = generate_labels(model, tokenizer, task.test, template)
    correct = [answer == example.label for answer, example in zip(answers, task.test, strict=True)]
    return {
        "accuracy": sum(correct) / len(correct),
        "loss": response_loss(model, tokenizer, task, template, max_length),
        "examples": [
            {"label": e.label, "answer": a} for e, a in list(zip(task.test, answers, strict=True))[:3]
        ],
    }


def general_loss(model: nn.Module, tokenizer, per_category: int, max_length: int) -> float | None:
    """Mean next-token loss per token on the shipped prompt set's eval texts (None when none are asked for)."""
    if per_category == 0:
        return None
    from ..analysis._evaluation import token_losses
    from ..data._texts import eval_texts

    losses = token_losses(model, tokenizer, eval_texts(count=per_category).texts, max_length=max_length)
    return sum(loss for loss, _ in losses) / max(sum(tokens for _, tokens in losses), 1)


def lm_eval_scores(model: nn.Module, tokenizer, tasks: list[str], limit: int) -> dict[str, dict[str, float]]:
    """task -> metric -> value from lm-evaluation-harness (`lm_eval.simple_evaluate` on this model in memory, at
    most `limit` examples per task); the suite config checked that the package is installed."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    harness_model = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=8)
    output = simple_evaluate(model=harness_model, tasks=list(tasks), limit=limit)
    return {
        task: {name: float(value) for name, value in metrics.items() if isinstance(value, int | float)}
        for task, metrics in output["results"].items()
    }
