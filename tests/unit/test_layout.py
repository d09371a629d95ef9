"""The package's layout rules (src/imagegen/__init__.py states them), held by reading the code's imports.

Four floors, every import pointing down or level, and no circles:
    routes/ -> api/ jobs/ analysis/ -> providers/ images/ aws bucket apikeys -> orders catalog settings errors logs
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "imagegen"
FLOORS = {
    "routes": 3,
    "api": 2,
    "jobs": 2,
    "analysis": 2,
    "providers": 1,
    "images": 1,
    "aws": 1,
    "bucket": 1,
    "apikeys": 1,
    "orders": 0,
    "catalog": 0,
    "settings": 0,
    "errors": 0,
    "logs": 0,
}
# Imported at module level only where the module exists to use them (their cold start is the point).
THIRD_PARTY_AT_TOP = {"imagegen.aws": {"botocore"}, "imagegen.analysis.onnx": {"numpy", "PIL"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def room(module: str) -> str:
    """The floor's key of a module: its folder under imagegen, or its own name."""
    return module.split(".")[1] if module.count(".") else ""


def imports(path: Path, top_level_only: bool = False) -> list[tuple[str, int]]:
    """(module imported, line) for every import in the file; with top_level_only, those run at import."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:  # `if TYPE_CHECKING:` imports never run
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from imagegen.x import y` imports the module x.y when there is one, else names of x
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.append((child if child in MODULES else node.module, node.lineno))
    return found


def package_imports(path: Path) -> set[str]:
    """The package modules a file imports."""
    return {name for name, _ in imports(path) if name in MODULES and name != "imagegen"}


def test_the_package_is_in_floors():
    rooms = {room(name) for name in MODULES if name != "imagegen"}
    assert rooms == set(FLOORS), f"every folder and top module has a floor: {rooms ^ set(FLOORS)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "imagegen"))
def test_every_import_points_down_or_level(module):
    mine = FLOORS[room(module)]
    upward = [t for t in package_imports(MODULES[module]) if t != "imagegen" and FLOORS[room(t)] > mine]
    assert not upward, f"{module} (floor {mine}) imports from a floor above: {upward}"


def test_there_are_no_circles():
    graph = {name: package_imports(path) - {name} for name, path in MODULES.items()}
    # a package's own __init__ is not an edge (importing imagegen.x runs imagegen/__init__ first)
    graph = {name: {t for t in targets if t != "imagegen"} for name, targets in graph.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            pytest.fail("import circle: " + " -> ".join([*trail[trail.index(name) :], name]))
        if name in done:
            return
        for target in sorted(graph.get(name, ())):
            visit(target, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_errors_import_nothing_of_the_package():
    assert package_imports(MODULES["imagegen.errors"]) == set()


def test_only_settings_read_the_environment():
    """os.environ / os.getenv appear in settings, and in logs for Lambda's own AWS_LAMBDA_* variables."""
    readers = set()
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                readers.add(name)
    assert readers == {"imagegen.settings", "imagegen.logs"}
    for node in ast.walk(ast.parse(MODULES["imagegen.logs"].read_text())):
        reads = isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get" and node.args
        if reads and isinstance(node.args[0], ast.Constant) and "environ" in ast.unparse(node.func):
            assert node.args[0].value.startswith("AWS_LAMBDA_"), node.args[0].value


def test_providers_know_their_wire_format_only():
    """A provider never touches the bucket, a job, the HTTP edge or a route."""
    for name, path in MODULES.items():
        if room(name) == "providers":
            touched = {t for t in package_imports(path) if room(t) in ("jobs", "api", "routes", "bucket")}
            assert not touched, f"{name} imports {touched}"


def test_a_route_never_reaches_sideways_into_another():
    for name, path in MODULES.items():
        if room(name) == "routes":
            others = {t for t in package_imports(path) if room(t) == "routes" and t not in (name, "imagegen.routes")}
            assert not others, f"{name} imports {others}"


def test_one_path_answers_now_and_one_answers_later():
    """Only jobs/ calls a model: run (providers.calls), later (a provider's submit); routes go through api.respond."""
    callers = {}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                called = ast.unparse(node.func)
                if called in ("providers.calls", "provider.submit"):
                    callers.setdefault(called, set()).add(name)
    assert callers == {"providers.calls": {"imagegen.jobs.run"}, "provider.submit": {"imagegen.jobs.later"}}


PROVIDER_NAMES = ("bedrock", "sagemaker", "replicate")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if room(m) != "providers"))
def test_no_provider_is_named_outside_providers(module):
    """The registry (providers/__init__) is the only place a provider is named: no `provider == "..."`,
    no `import imagegen.providers.<name>`; which providers answer later is the catalog's. (The Replicate
    webhook route asks the registry for Replicate: its path is Replicate's.)"""
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(side, ast.Constant) and side.value in PROVIDER_NAMES for side in [node.left, *node.comparators]
        ):
            pytest.fail(f"{module}:{node.lineno} compares with a provider's name: {ast.unparse(node)}")
    named = {
        t for t in package_imports(MODULES[module]) if t.split(".")[-1] in PROVIDER_NAMES and room(t) == "providers"
    }
    assert not named, f"{module} imports {named}; ask the registry (imagegen.providers) instead"


# analyze runs its ONNX models in the function on several images at once: no provider, no job.
@pytest.mark.parametrize("module", sorted(m for m in MODULES if room(m) == "routes" and m != "imagegen.routes.analyze"))
def test_routes_parse_pick_call_jobs_and_answer(module):
    """A route never fans out, uses threads or touches the bucket: jobs/ does (through api.respond)."""
    tree = ast.parse(MODULES[module].read_text())
    used = {name for name, _ in imports(MODULES[module])}
    assert not used & {"threading", "concurrent.futures", "imagegen.bucket"}, f"{module} imports {used}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("aws.client", "bounded", "run.bounded"):
            pytest.fail(f"{module}:{node.lineno} calls {ast.unparse(node.func)}")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_third_party_packages_are_imported_where_used(module):
    """At module level only the standard library and the package: a cold start pays for what it uses."""
    allowed = THIRD_PARTY_AT_TOP.get(module, set())
    for name, line in imports(MODULES[module], top_level_only=True):
        top = name.split(".")[0]
        if top in ("imagegen", "__future__") or top in sys.stdlib_module_names:
            continue
        assert top in allowed, f"{module}:{line} imports {name} at module level; import it inside the function"


@pytest.mark.parametrize("handler", sorted((ROOT / "functions").glob("*/handler.py")), ids=lambda p: p.parent.name)
def test_a_handler_is_its_route(handler):
    """functions/<name>/handler.py -> imagegen.routes.<name> (and the HTTP edge's decorator), nothing else."""
    used = {name for name, _ in imports(handler) if name.startswith("imagegen")}
    route = f"imagegen.routes.{handler.parent.name}"
    assert route in used, f"{handler} does not use {route}"
    assert used <= {
        route,
        "imagegen.routes",
        "imagegen.api.events",
        *(f"imagegen.api.events.{n}" for n in ("Request", "api_handler")),
    }
