"""Saved evidence: loading with clear errors, the series both renderers draw, and the benchmark's own helpers."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from fnsft.analysis._evidence import EVIDENCE_JSON, curve_series, forgetting_rows, load_evidence, setup_line
from fnsft.errors import EvidenceError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "evidence"))


def curve(mode: str) -> dict:
    """A two-point curve in the shape masking_curve writes."""
    rows = [
        {
            "components": n,
            "neuron_fraction": fraction,
            "network": {"all": network},
            "random_mean": {"all": random},
            "random_std": {"all": 0.01 * n},
        }
        for n, fraction, network, random in ((1, 0.01, 3.5, 3.1), (2, 0.025, 4.5, 3.2))
    ]
    return {"mode": mode, "baseline": {"all": 3.0}, "chance_loss": 10.8, "rows": rows}


def forgetting() -> dict:
    summary = {
        "full fine-tuning": {
            "learning_mean": 7.0,
            "learning_std": 0.1,
            "forgetting_mean": 0.15,
            "forgetting_std": 0.02,
            "seeds": 3,
            "random_control": False,
        },
        "full, random neurons frozen": {
            "learning_mean": 6.9,
            "learning_std": 0.2,
            "forgetting_mean": 0.12,
            "forgetting_std": 0.03,
            "seeds": 3,
            "random_control": True,
        },
    }
    return {"steps": 30, "summary": summary}


def evidence() -> dict:
    return {
        "setup": {"model": "m", "networks": "t", "components": 2, "eval_texts": 16, "random_draws": 3},
        "lesion_curve": curve("lesion"),
        "preserve_curve": curve("preserve"),
        "forgetting": forgetting(),
    }


def test_curve_series_reads_percent_and_losses():
    series = curve_series(curve("lesion"))
    assert series.mode == "lesion"
    assert series.percent == pytest.approx([1.0, 2.5])
    assert series.components == [1, 2]
    assert series.network == [3.5, 4.5]
    assert series.random_mean == [3.1, 3.2]
    assert series.random_std == pytest.approx([0.01, 0.02])
    assert (series.baseline, series.chance) == (3.0, 10.8)


def test_forgetting_rows_keep_methods_spread_and_controls():
    rows = forgetting_rows(forgetting())
    assert [row["method"] for row in rows] == ["full fine-tuning", "full, random neurons frozen"]
    assert [row["random_control"] for row in rows] == [False, True]
    assert (rows[1]["learned"], rows[1]["learned_std"], rows[1]["forgotten_std"]) == (6.9, 0.2, 0.03)


def test_setup_line_names_model_networks_and_seeds():
    line = setup_line(evidence())
    assert line.startswith("m, networks from t (2 components), 16 held-out texts, 3 random draws")
    assert "30 steps, 3 seeds" in line
    older = {
        **evidence(),
        "setup": {**evidence()["setup"], "earlier_networks": {"sections": ["forgetting"], "networks": "v0"}},
    }
    assert setup_line(older).endswith("; forgetting measured on v0.")


def test_load_evidence_round_trip(tmp_path):
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(evidence()))
    assert load_evidence(path) == evidence()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No evidence file at .* Run `python benchmarks/evidence/run.py`"),
        ("{not json", "not valid JSON"),
        ('{"setup": {}}', "holds none of lesion_curve, preserve_curve, forgetting"),
        ("[1, 2]", "holds none of"),
    ],
)
def test_unusable_evidence_files_say_why(tmp_path, content, message):
    path = tmp_path / "evidence.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(EvidenceError, match=message):
        load_evidence(path)


def test_evidence_figures_carry_the_numbers():
    from fnsft.viz._figures import forgetting_figure, masking_curve_figure

    figure = masking_curve_figure(curve_series(curve("preserve")))
    network, random = figure.data
    assert list(network.y) == [3.5, 4.5] and list(random.y) == [3.1, 3.2]
    assert list(random.error_y.array) == pytest.approx([0.01, 0.02])
    lines = [shape.y0 for shape in figure.layout.shapes]
    assert lines == [3.0, 10.8]  # unmasked and, for preservation, the uniform guess
    assert len(masking_curve_figure(curve_series(curve("lesion"))).layout.shapes) == 1
    pareto = forgetting_figure(forgetting_rows(forgetting()))
    assert [(t.name, t.x[0], t.y[0]) for t in pareto.data] == [
        ("full fine-tuning", 0.15, 7.0),
        ("full, random neurons frozen", 0.12, 6.9),
    ]
    assert [t.marker.symbol for t in pareto.data] == ["circle", "circle-open"]


def test_the_committed_evidence_is_complete():
    """The README and the app show this file: every section, and the forgetting runs with several seeds (two at
    least, for a sample spread and a paired sign; the rerun on the shipped networks has two)."""
    saved = load_evidence(EVIDENCE_JSON)
    assert {"lesion_curve", "preserve_curve", "forgetting"} <= saved.keys()
    for row in forgetting_rows(saved["forgetting"]):
        assert row["seeds"] >= 2, row["method"]
        assert math.isfinite(row["learned"]) and math.isfinite(row["forgotten"])


def test_target_task_reverses_words_and_holds_out_unseen_sentences(tmp_path):
    from target_task import write_task

    task = json.loads(write_task(tmp_path, train=50, held_out=10).read_text())
    assert (len(task["train"]), len(task["validation"])) == (50, 10)
    for item in task["train"] + task["validation"]:
        assert item["output"].split() == item["input"].split()[::-1]
    assert not {i["input"] for i in task["train"]} & {i["input"] for i in task["validation"]}
    assert write_task(tmp_path / "again", train=50, held_out=10).read_text() == json.dumps(task, indent=0)


def test_forgetting_summary_uses_the_sample_spread():
    from forgetting import summarise

    runs = [
        {"method": "LoRA", "seed": 0, "learned": 1.0, "forgotten": 0.1},
        {"method": "LoRA", "seed": 1, "learned": 3.0, "forgotten": 0.3},
        {
            "method": "LoRA, networks lesioned",
            "seed": 0,
            "learned": 0.5,
            "forgotten": 0.0,
            "with_training_mask": {"learned": 2.0, "forgotten": 0.4},
        },
    ]
    summary = summarise(runs)
    assert list(summary) == ["LoRA", "LoRA, networks lesioned"]
    assert summary["LoRA"]["learning_mean"] == 2.0
    assert summary["LoRA"]["learning_std"] == pytest.approx(math.sqrt(2))  # ddof=1 over 2 seeds
    assert summary["LoRA"]["forgetting_std"] == pytest.approx(0.1 * math.sqrt(2))
    assert summary["LoRA, networks lesioned"]["learning_std"] == 0.0  # one seed: no spread to report
    assert summary["LoRA, networks lesioned"]["with_training_mask"]["learning"]["mean"] == 2.0
    assert (summary["LoRA"]["network_mode"], summary["LoRA"]["random_control"]) == ("none", False)


def test_the_evidence_command_runs_on_another_model_given_by_flag(embedded_tokenizer, tmp_path):
    """The at-scale path (--model, no shipped template, so networks are discovered) end to end on a tiny model."""
    import importlib.util

    from conftest import tiny_llama

    folder = tmp_path / "tiny"
    tiny_llama(layers=2, intermediate=32, hidden=32, vocab=len(embedded_tokenizer)).save_pretrained(folder)
    embedded_tokenizer.save_pretrained(folder)
    spec = importlib.util.spec_from_file_location(
        "evidence_run", Path(__file__).resolve().parents[1] / "benchmarks" / "evidence" / "run.py"
    )
    command = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(command)
    out = tmp_path / "out"
    command.main(
        ["--model", str(folder), "--device", "cpu", "--discovery-tokens", "512", "--texts-per-category", "1"]
        + ["--draws", "2", "--points", "1,2", "--forgetting-seeds", "2", "--steps", "1", "--out", str(out)]
        + ["--methods", "lora-lesion", "--gain-tops", "1", "--paper-points", "1,2", "--drift-seeds", "1"]
    )
    saved = load_evidence(out / "evidence.json")
    assert saved["lesion_curve_mean"]["fill"] == "mean" and saved["lesion_curve"]["fill"] == "zero"
    assert [row["components"] for row in saved["preserve_curve_mean"]["rows"]] == [1, 2]
    sweep = saved["gain_sweep"]["sweeps"][0]
    assert sweep["gains"] == [0.0, 0.5, 1.0, 1.5, 2.0] and len(sweep["random"]) == 2
    assert sweep["network"][2] == saved["lesion_curve"]["baseline"]  # gain 1 is the unmasked model
    assert sweep["network"][0] == saved["lesion_curve"]["rows"][0]["network"]  # gain 0 is the lesion
    paper = saved["paper_protocol"]
    assert paper["protocol"]["granularity"] == "mlp_output" and len(paper["network_sizes"]) == 10
    assert {"lesion_curve", "preserve_curve", "lesion_curve_mean", "preserve_curve_mean"} <= set(paper)
    drift_runs = saved["drift"]["runs"]
    assert [run["method"] for run in drift_runs] == [
        "no fine-tuning (rediscovery alone)",
        "full fine-tuning",
        "full, networks frozen",
        "full, train only networks",
    ]
    assert drift_runs[0]["mean_iou_vs_base_rediscovery"] == 1.0
    assert set(saved["drift"]["summary"]["full fine-tuning"]) == {
        "seeds",
        "vs_template",
        "vs_base_rediscovery",
    }
    assert saved["setup"]["model"] == "tiny" and saved["setup"]["eval_texts"] == 8
    assert [row["components"] for row in saved["lesion_curve"]["rows"]] == [1, 2]
    assert len(saved["preserve_curve"]["rows"][0]["random"]) == 2
    rows = forgetting_rows(saved["forgetting"])
    assert [row["method"] for row in rows] == ["LoRA, networks lesioned"]
    assert all(row["seeds"] == 2 for row in rows)
    assert "with_training_mask" in saved["forgetting"]["summary"]["LoRA, networks lesioned"]
    assert sorted(path.name for path in out.glob("*.png")) == [
        "drift.png",
        "forgetting_pareto.png",
        "gain_sweep.png",
        "lesion_curve.png",
        "lesion_curve_mean.png",
        "preservation_curve.png",
        "preservation_curve_mean.png",
    ]
    assert not list((out / "runs").glob("*/final"))  # weights of the sweep are not kept
    earlier = saved["drift"]["runs"]
    command.main(  # one method rerun: the others' drift runs are kept, that one replaced
        ["--model", str(folder), "--device", "cpu", "--discovery-tokens", "512", "--sections", "drift"]
        + ["--steps", "1", "--drift-methods", "full-train-only", "--out", str(out)]
    )
    rerun = load_evidence(out / "evidence.json")["drift"]["runs"]
    assert [run["method"] for run in rerun] == [run["method"] for run in earlier]
    assert rerun[1:3] == earlier[1:3] and rerun[3]["method"] == "full, train only networks"
    with pytest.raises(SystemExit, match="unknown lora-typo; choose from full, lora"):
        command.main(["--model", str(folder), "--skip-curves", "--methods", "lora-typo", "--out", str(out)])


def test_compare_flags_numbers_outside_the_stated_spread():
    from compare import compare

    reference = evidence()
    same = evidence()
    same["lesion_curve"]["rows"][0]["network"]["all"] += 0.005  # inside the 0.01 floor
    assert compare(reference, same) == ([], [], 12)
    drifted = evidence()
    drifted["forgetting"]["summary"]["full fine-tuning"]["forgetting_mean"] = 0.21  # 0.06 > 2 x 0.02 + 0.01
    drifted["preserve_curve"]["rows"][1]["random_mean"]["all"] = 3.2 + 0.049  # 2 x 0.02 + 0.01 = 0.05: inside
    del drifted["forgetting"]["summary"]["full, random neurons frozen"]
    misses, missing, compared = compare(reference, drifted)
    assert misses == ["full fine-tuning: forgotten: 0.2100 vs 0.1500 ± 0.0200 (+0.0600)"]
    assert missing == ["full, random neurons frozen: forgotten", "full, random neurons frozen: learned"]
    assert compared == 10


def test_report_prints_the_readme_tables():
    from report import curve_table, forgetting_table, masked_table

    lesion = curve_table(curve("lesion")).splitlines()
    assert lesion[0].startswith("| top networks | neurons | networks lesioned |")
    assert lesion[2] == "| 1 | 1.0% | 3.50 | 3.10 ± 0.01 | 5.0 |"  # (3.5 - 3) / (3.1 - 3)
    assert curve_table(curve("preserve")).splitlines()[3] == "| 2 | 2.5% | 4.50 | 3.20 ± 0.02 | -1.30 |"
    assert (
        forgetting_table(forgetting()).splitlines()[2]
        == "| full fine-tuning | 7.00 ± 0.10 | +0.150 ± 0.020 |"
    )
    summary = forgetting()
    summary["summary"]["full fine-tuning"]["with_training_mask"] = {
        "learning": {"mean": 2.0, "std": 0.5},
        "forgetting": {"mean": 0.4, "std": 0.05},
    }
    assert masked_table(summary).splitlines()[2:] == ["| full fine-tuning | 2.00 ± 0.50 | +0.400 ± 0.050 |"]


def test_paired_table_differences_within_each_seed():
    from report import paired_table

    runs = [
        {"method": "full, networks frozen", "seed": 0, "learned": 7.0, "forgotten": 0.08},
        {"method": "full, networks frozen", "seed": 1, "learned": 7.2, "forgotten": 0.10},
        {"method": "full fine-tuning", "seed": 0, "learned": 7.1, "forgotten": 0.10},
        {"method": "full fine-tuning", "seed": 1, "learned": 7.1, "forgotten": 0.14},
    ]
    lines = paired_table({"runs": runs}).splitlines()
    assert lines[2:] == [
        "| full, networks frozen − full fine-tuning | +0.000 ± 0.141 (1/2 < 0) | -0.030 ± 0.014 (2/2 < 0) |"
    ]
