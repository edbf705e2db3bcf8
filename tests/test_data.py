"""The training-data layer: format detection, file loading, templates, response-only labels, caching."""

from __future__ import annotations

import copy
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset, DatasetDict

from fnsft.data import (
    IGNORE_INDEX,
    SAMPLE_DATA,
    DatasetFormatter,
    SFTDataCollator,
    build_tokenized_dataset,
    load_records,
    load_train_validation,
    preview,
    render_conversation,
    tokenize_example,
    train_validation_split,
)
from fnsft.errors import DatasetFormatError

EOS = "<|im_end|>"
SMOL_SYSTEM = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
)


def user(content: str) -> dict:
    return {"role": "user", "content": content}


def assistant(content: str) -> dict:
    return {"role": "assistant", "content": content}


def system(content: str) -> dict:
    return {"role": "system", "content": content}


QA = [user("What is the capital of Veltra?"), assistant("Amberhold is the capital.")]
MULTI_TURN = [
    system("Answer briefly."),
    user("How many moons does Veltra have?"),
    assistant("Two."),
    user("Name them."),
    assistant("Orin and Pell."),
]


@pytest.fixture(scope="module")
def plain_tokenizer(embedded_tokenizer):
    """The embedded tokenizer without a chat template, as a base model's would be."""
    tokenizer = copy.deepcopy(embedded_tokenizer)
    tokenizer.chat_template = None
    return tokenizer


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FNSFT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "datasets"


def trained_spans(example: dict, tokenizer) -> list[str]:
    """The decoded runs of consecutive non-masked labels."""
    spans, run = [], []
    for label in [*example["labels"], IGNORE_INDEX]:
        if label != IGNORE_INDEX:
            run.append(label)
        elif run:
            spans.append(tokenizer.decode(run))
            run = []
    return spans


# ------------------------------------------------------------------------------------------- formats

FORMAT_CASES = [
    (
        "alpaca",
        {"instruction": "Name the capital.", "input": "Veltra", "output": "Amberhold."},
        [
            {"role": "user", "content": "Name the capital.\n\nVeltra", "input": "Veltra"},
            assistant("Amberhold."),
        ],
    ),
    (
        "sharegpt",
        {
            "conversations": [
                {"from": "system", "value": "Be brief."},
                {"from": "human", "value": "Hi"},
                {"from": "gpt", "value": "Hello."},
                {"from": "user", "value": "Moons?"},
                {"from": "assistant", "value": "Two."},
            ]
        },
        [system("Be brief."), user("Hi"), assistant("Hello."), user("Moons?"), assistant("Two.")],
    ),
    (
        "openai",
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": " Hello. "},
                {"role": "user", "content": "Trailing question nobody answers"},
            ]
        },
        [system("Be brief."), user("Hi"), assistant("Hello.")],
    ),
    (
        "dolly",
        {
            "instruction": "Summarise.",
            "context": "Pell is red.",
            "response": "Red moon.",
            "category": "summary",
        },
        [
            {"role": "user", "content": "Summarise.\n\nPell is red.", "input": "Pell is red."},
            assistant("Red moon."),
        ],
    ),
    (
        "prompt_completion",
        {"prompt": "Veltra's star is", "completion": " Kessa."},
        [user("Veltra's star is"), assistant("Kessa.")],
    ),
    ("prompt_response", {"prompt": "Hi", "response": "Hello."}, [user("Hi"), assistant("Hello.")]),
    ("question_answer", {"question": "Moons?", "answer": "Two."}, [user("Moons?"), assistant("Two.")]),
    (
        "system_user_assistant",
        {"system": "Be brief.", "user": "Moons?", "assistant": "Two."},
        [system("Be brief."), user("Moons?"), assistant("Two.")],
    ),
    ("text", {"text": "Veltra has two moons."}, [{"role": "text", "content": "Veltra has two moons."}]),
]


@pytest.mark.parametrize(("name", "record", "expected"), FORMAT_CASES, ids=[case[0] for case in FORMAT_CASES])
def test_every_format_is_detected_and_normalised(name, record, expected):
    data = DatasetFormatter.normalize([record])
    assert data.format == name
    assert data.conversations == [expected]
    assert data.dropped_empty == 0


def test_detection_prefers_structured_columns_over_text():
    assert DatasetFormatter.detect_format(["text", "instruction", "input", "output"]) == "alpaca"
    assert DatasetFormatter.detect_format(["instruction", "context", "response"]) == "dolly"
    assert DatasetFormatter.detect_format(["id", "messages"]) == "openai"


def test_unknown_format_error_names_columns_and_expected_formats():
    with pytest.raises(DatasetFormatError) as error:
        DatasetFormatter.normalize([{"query": "Moons?", "reply": "Two."}])
    message = str(error.value)
    assert "'query'" in message and "'reply'" in message
    for expected in (
        "alpaca: instruction, output (optional: input, system)",
        "sharegpt: conversations",
        "text: text",
    ):
        assert expected in message


@pytest.mark.parametrize(("name", "record", "expected"), FORMAT_CASES, ids=[case[0] for case in FORMAT_CASES])
def test_detect_format_also_takes_the_records_themselves(name, record, expected):
    assert DatasetFormatter.detect_format([record]) == name
    assert DatasetFormatter.detect_format([{"id": 1}, record]) == name  # keys of every record count


def test_detect_format_on_records_gives_the_same_error_for_unknown_columns():
    records = [{"query": "Moons?", "reply": "Two."}]
    with pytest.raises(DatasetFormatError) as from_records:
        DatasetFormatter.detect_format(records)
    with pytest.raises(DatasetFormatError) as from_columns:
        DatasetFormatter.detect_format(["query", "reply"])
    assert str(from_records.value) == str(from_columns.value)
    assert "Columns found: ['query', 'reply']" in str(from_records.value)


def test_empty_responses_are_dropped_and_counted(caplog):
    records = [
        {"question": "Moons?", "answer": "Two."},
        {"question": "Rings?", "answer": "   "},
        {"question": "Sky?", "answer": None},
    ]
    data = DatasetFormatter.normalize(records)
    assert (data.n_records, len(data.conversations), data.dropped_empty) == (3, 1, 2)
    assert "Dropped 2 of 3" in caplog.text


def test_multi_turn_with_an_empty_assistant_turn_is_dropped():
    records = [{"messages": [user("Hi"), assistant(""), user("Again"), assistant("Hello.")]}]
    assert DatasetFormatter.normalize(records).dropped_empty == 1


def test_unknown_role_is_reported_with_record_and_turn():
    records = [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "tool", "value": "{}"}]}]
    with pytest.raises(DatasetFormatError, match=r"Record 0, turn 1: role 'tool'"):
        DatasetFormatter.normalize(records)


# ------------------------------------------------------------------------------------------- sources

RECORDS = [{"question": f"Q{i}?", "answer": f"A{i}."} for i in range(3)]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("data.json", lambda path: path.write_text(json.dumps(RECORDS))),
        ("data.json", lambda path: path.write_text(json.dumps({"data": RECORDS}))),
        ("lines.json", lambda path: write_jsonl(path, RECORDS)),
        ("data.jsonl", lambda path: write_jsonl(path, RECORDS)),
        ("data.csv", lambda path: path.write_text("question,answer\nQ0?,A0.\n\nQ1?,A1.\nQ2?,A2.\n")),
        ("data.parquet", lambda path: pq.write_table(pa.Table.from_pylist(RECORDS), path)),
    ],
    ids=["json-list", "json-data", "jsonl-named-json", "jsonl", "csv", "parquet"],
)
def test_each_file_type_loads(tmp_path, name, write):
    path = tmp_path / name
    write(path)
    assert load_records(path) == RECORDS


def test_malformed_jsonl_reports_file_and_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"question": "Q?", "answer": "A."}\n\n{"question": "Q2?", "answer": \n')
    with pytest.raises(DatasetFormatError, match=r"broken\.jsonl, line 3"):
        load_records(path)


def test_malformed_json_and_csv_report_the_line(tmp_path):
    json_path = tmp_path / "broken.json"
    json_path.write_text('[\n  {"question": "Q?",\n   "answer": }\n]')
    with pytest.raises(DatasetFormatError, match=r"broken\.json, line 3"):
        load_records(json_path)
    csv_path = tmp_path / "broken.csv"
    csv_path.write_text("question,answer\nQ?,A.\nQ2?,A2.,extra\n")
    with pytest.raises(DatasetFormatError, match=r"broken\.csv, line 3: 3 fields"):
        load_records(csv_path)


def test_missing_file_and_offline_hub_id_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(DatasetFormatError, match="does not exist"):
        load_records(tmp_path / "absent.jsonl")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetFormatError, match="offline mode"):
        load_records("someone/some-dataset")


def test_datasets_sources_and_their_own_validation_split():
    train = Dataset.from_list(RECORDS)
    assert load_records(train) == RECORDS
    both = DatasetDict({"train": train, "test": Dataset.from_list(RECORDS[:1])})
    assert load_train_validation(both) == (RECORDS, RECORDS[:1])
    assert load_records(both, split="test") == RECORDS[:1]
    with pytest.raises(DatasetFormatError, match="Split 'dev' not found"):
        load_records(both, split="dev")


def test_json_with_splits_uses_its_validation_split(tmp_path):
    path = tmp_path / "splits.json"
    path.write_text(json.dumps({"train": RECORDS[1:], "validation": RECORDS[:1]}))
    assert load_train_validation(path) == (RECORDS[1:], RECORDS[:1])


def test_train_validation_split_is_deterministic_and_disjoint():
    records = list(range(50))
    train, validation = train_validation_split(records, 0.2, seed=3)
    assert (train, validation) == train_validation_split(records, 0.2, seed=3)
    assert len(validation) == 10 and sorted(train + validation) == records
    assert not set(train) & set(validation)
    assert validation != train_validation_split(records, 0.2, seed=4)[1]
    assert [len(part) for part in train_validation_split([1, 2], 0.01)] == [1, 1]
    assert train_validation_split([1], 0.5) == ([1], [])


def test_load_train_validation_splits_a_single_file(tmp_path):
    path = tmp_path / "data.jsonl"
    records = [{"question": f"Q{i}?", "answer": f"A{i}."} for i in range(20)]
    write_jsonl(path, records)
    train, validation = load_train_validation(path, validation_fraction=0.1, seed=0)
    assert len(validation) == 2 and len(train) == 18
    assert (train, validation) == train_validation_split(records, 0.1, 0)


# ------------------------------------------------------------------------------------------- templates


def test_alpaca_rendering_is_exact(plain_tokenizer):
    conversation = [
        system("Answer briefly."),
        *DatasetFormatter.normalize([FORMAT_CASES[0][1]]).conversations[0],
    ]
    assert render_conversation(conversation, plain_tokenizer, "auto") == (
        "Answer briefly.\n\n### Instruction:\nName the capital.\n\n### Input:\nVeltra\n\n### Response:\n"
        f"Amberhold.{EOS}"
    )
    assert render_conversation(MULTI_TURN[1:], None, "alpaca") == (
        "### Instruction:\nHow many moons does Veltra have?\n\n### Response:\nTwo.\n\n"
        "### Instruction:\nName them.\n\n### Response:\nOrin and Pell."
    )


def test_chatml_rendering_is_exact(plain_tokenizer):
    assert render_conversation(MULTI_TURN[:3], plain_tokenizer, "chatml") == (
        "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\nHow many moons does Veltra have?"
        "<|im_end|>\n<|im_start|>assistant\nTwo.<|im_end|>\n"
    )
    assert render_conversation(QA[:1], None, "chatml", add_generation_prompt=True).endswith(
        "<|im_start|>assistant\n"
    )


def test_auto_uses_the_tokenizer_chat_template(embedded_tokenizer):
    assert render_conversation(QA, embedded_tokenizer) == (
        f"{SMOL_SYSTEM}<|im_start|>user\nWhat is the capital of Veltra?<|im_end|>\n"
        "<|im_start|>assistant\nAmberhold is the capital.<|im_end|>\n"
    )


def test_chat_template_is_required_for_chat(plain_tokenizer):
    with pytest.raises(DatasetFormatError, match="needs a tokenizer with a chat template"):
        render_conversation(QA, plain_tokenizer, "chat")


# ------------------------------------------------------------------------------------------- labels


@pytest.mark.parametrize("template", ["chat", "chatml", "alpaca"])
def test_response_labels_are_exactly_each_assistant_turn_plus_eos(embedded_tokenizer, template):
    single = tokenize_example(QA, embedded_tokenizer, template)
    assert trained_spans(single, embedded_tokenizer) == [f"Amberhold is the capital.{EOS}"]
    multi = tokenize_example(MULTI_TURN, embedded_tokenizer, template)
    assert trained_spans(multi, embedded_tokenizer) == [f"Two.{EOS}", f"Orin and Pell.{EOS}"]
    assert multi["attention_mask"] == [1] * len(multi["input_ids"])


def test_answer_quoted_in_the_prompt_is_not_trained(embedded_tokenizer):
    conversation = [user("Say exactly: Orin and Pell."), assistant("Orin and Pell.")]
    example = tokenize_example(conversation, embedded_tokenizer)
    assert trained_spans(example, embedded_tokenizer) == [f"Orin and Pell.{EOS}"]


def test_boundaries_fall_back_to_offsets_when_a_prefix_tokenises_differently(embedded_tokenizer):
    tokenizer = copy.deepcopy(embedded_tokenizer)
    # "assistant: " alone ends in a space token, which the whole text merges into " Two": prefixes mismatch.
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    conversation = [user("Moons?"), assistant("Two."), user("Names?"), assistant("Orin and Pell.")]
    example = tokenize_example(conversation, tokenizer, "chat")
    assert trained_spans(example, tokenizer) == [
        " Two.",
        " Orin and Pell.",
        EOS,
    ]  # EOS appended: none in turn


def test_plain_text_is_trained_whole_with_eos_appended(embedded_tokenizer):
    example = tokenize_example([{"role": "text", "content": "Veltra has two moons."}], embedded_tokenizer)
    assert example["input_ids"][-1] == embedded_tokenizer.eos_token_id
    assert example["labels"] == example["input_ids"]


def test_loss_on_all_masks_nothing_but_padding(embedded_tokenizer):
    long_example = tokenize_example(MULTI_TURN, embedded_tokenizer, loss_on="all")
    short_example = tokenize_example(QA, embedded_tokenizer, loss_on="all")
    assert long_example["labels"] == long_example["input_ids"]
    batch = SFTDataCollator.from_tokenizer(embedded_tokenizer)([long_example, short_example])
    padded = batch["attention_mask"] == 0
    assert padded[1].sum() == len(long_example["input_ids"]) - len(short_example["input_ids"]) > 0
    assert ((batch["labels"] == IGNORE_INDEX) == padded).all()


def test_collator_pads_ids_with_pad_id_and_labels_with_ignore_index():
    collate = SFTDataCollator(pad_token_id=7)
    batch = collate(
        [
            {"input_ids": [1, 2, 3], "attention_mask": [1, 1, 1], "labels": [-100, 2, 3]},
            {"input_ids": [4], "attention_mask": [1], "labels": [4]},
        ]
    )
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 7, 7]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 2, 3], [4, -100, -100]]


def test_every_batch_pads_with_the_pad_token_else_end_of_sequence_else_zero():
    from types import SimpleNamespace

    from fnsft.data._padding import pad_id

    tokenizers = [(5, 2), (None, 2), (None, None)]
    assert [pad_id(SimpleNamespace(pad_token_id=p, eos_token_id=e)) for p, e in tokenizers] == [5, 2, 0]


# ------------------------------------------------------------------------------------------- truncation


def test_truncation_cuts_the_end_when_the_prompt_is_short(embedded_tokenizer):
    conversation = [user("Tell me about Veltra."), assistant(" ".join(["Veltra has two moons."] * 40))]
    full = tokenize_example(conversation, embedded_tokenizer, "chatml", max_length=4096)
    cut = tokenize_example(conversation, embedded_tokenizer, "chatml", max_length=64)
    assert len(cut["input_ids"]) == 64
    assert cut["input_ids"] == full["input_ids"][:64]
    assert sum(label != IGNORE_INDEX for label in cut["labels"]) > 32


def test_truncation_keeps_response_tokens_when_the_prompt_is_too_long(embedded_tokenizer):
    conversation = [user(" ".join(["Orin is silver."] * 60)), assistant("Pell is red.")]
    full = tokenize_example(conversation, embedded_tokenizer, "chatml", max_length=4096)
    cut = tokenize_example(conversation, embedded_tokenizer, "chatml", max_length=48)
    assert len(cut["input_ids"]) == 48
    assert cut["input_ids"] == full["input_ids"][-48:]
    assert trained_spans(cut, embedded_tokenizer) == [f"Pell is red.{EOS}"]


def test_examples_with_no_trained_token_are_dropped_and_counted(embedded_tokenizer, cache):
    tokenizer = copy.deepcopy(embedded_tokenizer)
    # A template that leaves out any message mentioning SKIP, so that example has no response to train on.
    tokenizer.chat_template = (
        "{% for m in messages %}{% if 'SKIP' not in m['content'] %}{{ m['role'] }}: {{ m['content'] }}\n"
        "{% endif %}{% endfor %}"
    )
    assert tokenize_example([user("Hi"), assistant("SKIP this")], tokenizer, "chat") is None
    records = [{"question": "Moons?", "answer": "Two."}, {"question": "Hi", "answer": "SKIP this"}]
    dataset = build_tokenized_dataset(records, tokenizer, "chat", cache=False)
    assert len(dataset) == 1 and dataset.build_info.dropped_no_response == 1
    with pytest.raises(DatasetFormatError, match="No usable example"):
        build_tokenized_dataset(records[1:], tokenizer, "chat", cache=False)


# ------------------------------------------------------------------------------------------- dataset and cache


def test_build_caches_on_disk_and_keys_on_max_length(embedded_tokenizer, cache):
    first = build_tokenized_dataset(SAMPLE_DATA, embedded_tokenizer, max_length=128)
    assert not first.build_info.cache_hit
    assert first.build_info.format == "alpaca" and first.build_info.template == "chat"
    assert len(first) == first.build_info.n_examples == first.build_info.n_records
    second = build_tokenized_dataset(SAMPLE_DATA, embedded_tokenizer, max_length=128)
    assert second.build_info.cache_hit
    assert second.build_info.cache_path == first.build_info.cache_path
    assert second.to_dict() == first.to_dict()
    other = build_tokenized_dataset(SAMPLE_DATA, embedded_tokenizer, max_length=64)
    assert not other.build_info.cache_hit
    assert other.build_info.cache_path != first.build_info.cache_path
    assert sorted(path.name for path in cache.iterdir()) == sorted(
        [first.build_info.cache_path.name, other.build_info.cache_path.name]
    )  # no staging folder left behind


def test_cache_key_changes_with_data_template_and_loss(embedded_tokenizer, cache):
    base = build_tokenized_dataset(RECORDS, embedded_tokenizer).build_info.cache_path
    variants = [
        build_tokenized_dataset(RECORDS[:2], embedded_tokenizer),
        build_tokenized_dataset(RECORDS, embedded_tokenizer, template="chatml"),
        build_tokenized_dataset(RECORDS, embedded_tokenizer, loss_on="all"),
    ]
    paths = {variant.build_info.cache_path for variant in variants}
    assert base not in paths and len(paths) == 3
    assert not any(variant.build_info.cache_hit for variant in variants)


def test_preview_of_the_sample_data(embedded_tokenizer):
    shown = preview(SAMPLE_DATA, n=2, tokenizer=embedded_tokenizer)
    assert (shown.format, shown.template) == ("alpaca", "chat")
    assert shown.n_records == shown.n_conversations == shown.splits["train"] >= 50
    assert shown.dropped_empty == 0 and len(shown.examples) == len(shown.rendered) == 2
    question = shown.examples[0][0]["content"]
    assert f"<|im_start|>user\n{question}<|im_end|>" in shown.rendered[0]
    assert preview(SAMPLE_DATA, n=1).rendered[0].startswith(f"### Instruction:\n{question}\n")
