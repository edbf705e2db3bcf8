"""Does a new evidence run reproduce a reference one within the reference's stated spread?

    .venv/bin/python benchmarks/evidence/compare.py REFERENCE.json NEW.json

Every reported mean is compared: the curves' network and random losses per point, and each fine-tuning method's
learned and forgotten means. A number reproduces when |new - reference| <= 2 x the reference's std (over random
draws or seeds) + 0.01 nats, the floor covering values with no spread (the network curves are deterministic
given the template). Prints each miss and a count; exits 1 when anything misses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fnsft.analysis import curve_series, forgetting_rows, load_evidence  # noqa: E402

FLOOR = 0.01
CURVES = ("lesion_curve", "preserve_curve", "lesion_curve_mean", "preserve_curve_mean")
SPREADS = 2


def reported_numbers(evidence: dict) -> dict[str, tuple[float, float]]:
    """name -> (mean, std) of every number docs/evidence.md and the app report."""
    found = {}
    curves = [("", evidence.get(key)) for key in CURVES]
    curves += [("paper protocol ", evidence.get("paper_protocol", {}).get(key)) for key in CURVES]
    for prefix, curve in curves:
        if curve is not None:
            series = curve_series(curve)
            name = f"{prefix}{series.mode}" + (" (mean fill)" if curve.get("fill") == "mean" else "")
            for index, n in enumerate(series.components):
                found[f"{name} top {n}: networks"] = (series.network[index], 0.0)
                found[f"{name} top {n}: random"] = (series.random_mean[index], series.random_std[index])
    for row in forgetting_rows(evidence["forgetting"]) if "forgetting" in evidence else ():
        found[f"{row['method']}: learned"] = (row["learned"], row["learned_std"])
        found[f"{row['method']}: forgotten"] = (row["forgotten"], row["forgotten_std"])
    return found


def compare(reference: dict, new: dict) -> tuple[list[str], list[str], int]:
    """(misses, names missing from the new run, numbers compared)."""
    expected, got = reported_numbers(reference), reported_numbers(new)
    misses, missing = [], sorted(set(expected) - set(got))
    for name, (mean, std) in expected.items():
        if name in got:
            difference = got[name][0] - mean
            if abs(difference) > SPREADS * std + FLOOR:
                misses.append(f"{name}: {got[name][0]:.4f} vs {mean:.4f} ± {std:.4f} ({difference:+.4f})")
    return misses, missing, len(set(expected) & set(got))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("reference")
    parser.add_argument("new")
    args = parser.parse_args(argv)
    misses, missing, compared = compare(load_evidence(args.reference), load_evidence(args.new))
    for line in misses:
        print(f"MISS {line}")
    for name in missing:
        print(f"NOT IN NEW RUN {name}")
    print(f"{compared - len(misses)}/{compared} numbers reproduce within {SPREADS} std + {FLOOR} nats")
    return 1 if misses or missing else 0


if __name__ == "__main__":
    sys.exit(main())
