"""The package's structure: layering (the library never reaches up into its command line or app), no import
cycle, sizes, and the public API."""

from __future__ import annotations

import ast
from pathlib import Path

import fnsft

PACKAGE = Path(fnsft.__file__).parent
FRONT_ENDS = ("fnsft.cli", "fnsft.ui")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The fnsft modules a file imports, at top level or inside functions (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("fnsft"))
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            if not target.startswith("fnsft"):
                continue
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import figures`
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in files and m != name} for name, path in files.items()}


def _is_front_end(module: str) -> bool:
    return any(module == end or module.startswith(end + ".") for end in FRONT_ENDS)


def test_no_library_module_imports_the_command_line_or_the_app():
    graph = _graph()
    offenders = {
        module: sorted(filter(_is_front_end, imports))
        for module, imports in graph.items()
        if not _is_front_end(module) and any(map(_is_front_end, imports))
    }
    assert offenders == {}
    assert (
        "fnsft.data._texts" in graph["fnsft.analysis._evaluation"]
    )  # text loading comes from the data layer...
    assert (
        "fnsft.discovery._ica_mask" not in graph["fnsft.analysis._evaluation"]
    )  # ...not from the discovery module


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    # a package's __init__ imports its submodules lazily or to re-export them: that edge is not a cycle
    edges = {m: {t for t in imports if not t.startswith(m + ".")} for m, imports in graph.items()}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges[module]):
            assert state.get(target) != "open", f"import cycle: {' -> '.join([*path, target])}"
            if target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])


def test_every_library_module_imports():
    import importlib

    for module in sorted(_graph()):
        if not _is_front_end(module):
            importlib.import_module(module)


def test_no_library_file_or_function_is_oversized():
    too_long = []
    for path in PACKAGE.rglob("*.py"):
        if _is_front_end(_module_name(path)):
            continue
        text = path.read_text()
        if len(text.splitlines()) > 400:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.end_lineno - node.lineno >= 80
            ):
                too_long.append(f"{path.name}:{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert too_long == []


def test_the_command_line_offers_the_library_choices_and_defaults():
    from fnsft import choices
    from fnsft.cli import build_templates_parser, discovery_settings_from, eval_parser
    from fnsft.discovery._settings import DEFAULT_SETTINGS, setting_names

    actions = {action.dest: action for action in build_templates_parser()._actions}
    assert tuple(actions["threshold_rule"].choices) == choices.THRESHOLD_RULES
    assert tuple(actions["granularity"].choices) == choices.GRANULARITIES
    assert tuple(actions["ica_over"].choices) == choices.ICA_ORIENTATIONS
    assert tuple(actions["matrix_dtype"].choices) == choices.MATRIX_DTYPES
    settings = discovery_settings_from(build_templates_parser().parse_args([]), distributed=False)
    assert settings == DEFAULT_SETTINGS and (settings.num_components, settings.threshold) == (20, 3.0)
    assert set(setting_names()) <= set(actions)  # every setting has its flag
    assert tuple({a.dest: a for a in eval_parser()._actions}["mode"].choices) == choices.EVAL_MODES
    assert choices.USUAL_THRESHOLDS == {"zscore": 3.0, "percentile": 98.0, "topk": 50}
    from fnsft.discovery._ica_mask import ICAMask

    assert (ICAMask().num_components, ICAMask().threshold, ICAMask().ica_over) == (20, 3.0, "neurons")


def test_the_public_api_covers_every_job_and_not_the_internals():
    for name in ("ICAMask", "NetworkSelection", "masked", "measure_effect", "train", "TrainingConfig"):
        assert name in fnsft.__all__
    for internal in ("build_mask", "mlp_blocks"):
        assert internal not in fnsft.__all__ and not hasattr(fnsft, internal)
    from fnsft.masking import build_mask
    from fnsft.models import mlp_blocks

    assert callable(build_mask) and callable(mlp_blocks)  # still importable from their modules
    from fnsft.analysis import measure_effect
    from fnsft.masking import NetworkSelection
    from fnsft.training import TrainingConfig, train

    assert (fnsft.train, fnsft.TrainingConfig) == (train, TrainingConfig)
    assert (fnsft.measure_effect, fnsft.NetworkSelection) == (measure_effect, NetworkSelection)


def test_every_exported_name_has_a_docstring_example():
    import importlib

    def exported(name):
        return getattr(importlib.import_module(f"fnsft.{fnsft._EXPORTS[name]}"), name)

    missing = [name for name in fnsft.__all__ if ">>>" not in (exported(name).__doc__ or "")]
    assert missing == []


def test_no_export_is_shadowed_by_a_submodule_of_the_same_name():
    """Importing a submodule sets it as an attribute of the package: an export named like one would be replaced
    by the module (`fnsft.drift` was, once the training loop had imported the drift module)."""
    import importlib

    files = list(Path(fnsft.__file__).parent.rglob("*.py"))
    modules = {path.stem for path in files} | {path.parent.name for path in files}
    assert sorted(set(fnsft.__all__) & modules) == []
    importlib.import_module("fnsft.analysis._drift")
    assert callable(fnsft.drift) and fnsft.drift.__module__ == "fnsft.analysis._drift"


def test_the_top_level_reads_as_the_pipeline():
    """One folder per stage (issue 27), and continual learning over task sequences (issue 30); besides them only
    the shared choices and errors, the command line and private helpers."""
    public = sorted(path.name for path in PACKAGE.iterdir() if not path.name.startswith(("_", ".")))
    assert public == [
        "analysis",
        "choices.py",
        "cli.py",
        "continual",
        "data",
        "discovery",
        "errors.py",
        "masking",
        "models",
        "networks",
        "training",
        "ui",
        "viz",
    ]


def test_a_module_path_the_readme_once_named_still_imports_with_a_warning():
    import importlib
    import sys
    import warnings

    from fnsft.training import network_training

    sys.modules.pop("fnsft.integrations", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module("fnsft.integrations")
    assert old.network_training is network_training
    assert [str(w.message) for w in caught if w.category is DeprecationWarning] == [
        "fnsft.integrations moved: import its names from fnsft.training (this old path goes in fnsft 0.2)"
    ]


def test_benchmarks_use_only_the_public_api():
    """A benchmark that reaches into a private module breaks when the module changes (issue 27)."""
    private = []
    for path in (PACKAGE.parent / "benchmarks").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and not node.level
                and (node.module or "").startswith("fnsft")
            ):
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
                private += [
                    f"{path.name}: {n}" for n in names if any(p.startswith("_") for p in n.split("."))
                ]
    assert private == []
