"""rust_ext/data_processor_rs.pyi against the built extension: every public class, method, property and
function of the module has a stub, with the same parameters (names, kinds, which have defaults)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import data_processor_rs as dp
import pytest

STUB = Path(__file__).resolve().parents[2] / "rust_ext" / "data_processor_rs.pyi"
# what the stub declares for type checkers only: no runtime object
TYPING_ONLY_BASES = {"Protocol", "TypedDict"}


def _stub() -> dict[str, ast.AST]:
    return {
        node.name if isinstance(node, (ast.ClassDef, ast.FunctionDef)) else node.target.id: node
        for node in ast.parse(STUB.read_text()).body
        if isinstance(node, (ast.ClassDef, ast.FunctionDef))
        or (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name))
    }


STUBBED = _stub()


def _public(names) -> list[str]:
    return sorted(n for n in names if not n.startswith("_") and n != "data_processor_rs")


def _runtime_classes() -> list[str]:
    return [n for n in _public(vars(dp)) if isinstance(getattr(dp, n), type)]


def _runtime_functions() -> list[str]:
    return [n for n in _public(vars(dp)) if callable(getattr(dp, n)) and not isinstance(getattr(dp, n), type)]


def _members(cls: type) -> list[str]:
    """Public attributes a class defines itself (not those it inherits from object or Exception)."""
    return _public(cls.__dict__) + [n for n in ("__len__",) if n in cls.__dict__]


def _stub_members(node: ast.ClassDef) -> dict[str, ast.AST]:
    out: dict[str, ast.AST] = {}
    for item in node.body:
        if isinstance(item, ast.FunctionDef):
            out[item.name] = item
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            out[item.target.id] = item
    return out


def _stub_params(fn: ast.FunctionDef, *, method: bool) -> list[tuple[str, str, bool]]:
    """(name, kind, has default) per parameter, ``self`` left out."""
    a = fn.args
    positional = a.posonlyargs + a.args
    defaults = [False] * (len(positional) - len(a.defaults)) + [True] * len(a.defaults)
    out = [(p.arg, "positional", d) for p, d in zip(positional, defaults, strict=True)]
    out += [(p.arg, "keyword", d is not None) for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    return out[1:] if method else out


def _runtime_params(obj) -> list[tuple[str, str, bool]]:
    kinds = {
        inspect.Parameter.POSITIONAL_ONLY: "positional",
        inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
        inspect.Parameter.KEYWORD_ONLY: "keyword",
    }
    params = inspect.signature(obj).parameters.values()
    return [(p.name, kinds[p.kind], p.default is not inspect.Parameter.empty) for p in params]


def test_the_module_exposes_what_the_checks_below_walk():
    # a guard for the checks themselves: an empty walk would pass them all
    assert {"KeyIndex", "Table", "ProcessResult", "ParseError"} <= set(_runtime_classes())
    assert {"process", "parse_json", "write_iceberg_parquet"} <= set(_runtime_functions())


@pytest.mark.parametrize("name", _runtime_classes() + _runtime_functions())
def test_every_public_class_and_function_has_a_stub(name):
    assert name in STUBBED, f"data_processor_rs.{name} has no stub in {STUB.name}"
    kind = ast.ClassDef if isinstance(getattr(dp, name), type) else ast.FunctionDef
    assert isinstance(STUBBED[name], kind), f"{name} is stubbed as the wrong kind of thing"


@pytest.mark.parametrize("name", _runtime_classes())
def test_every_public_method_and_property_of_a_class_has_a_stub(name):
    cls = getattr(dp, name)
    stubbed = _stub_members(STUBBED[name])
    missing = [m for m in _members(cls) if m not in stubbed]
    assert not missing, f"{name} members without a stub: {missing}"
    for member in _members(cls):
        runtime = cls.__dict__[member]
        stub = stubbed[member]
        if inspect.isdatadescriptor(runtime):  # a #[getter]: a property (or an attribute) in the stub
            is_property = isinstance(stub, ast.FunctionDef) and any(
                isinstance(d, ast.Name) and d.id == "property" for d in stub.decorator_list
            )
            assert is_property or isinstance(stub, ast.AnnAssign), f"{name}.{member} should be a property"
        elif getattr(runtime, "__text_signature__", None):
            assert isinstance(stub, ast.FunctionDef), f"{name}.{member} should be a method"
            assert _stub_params(stub, method=True) == _runtime_params(runtime)[1:], (
                f"{name}.{member}: the stub's parameters differ from the extension's"
            )


@pytest.mark.parametrize("name", _runtime_functions())
def test_function_stubs_have_the_extensions_parameters(name):
    assert _stub_params(STUBBED[name], method=False) == _runtime_params(getattr(dp, name))


def _typing_only(node: ast.AST) -> bool:
    return any(isinstance(b, ast.Name) and b.id in TYPING_ONLY_BASES for b in getattr(node, "bases", []))


@pytest.mark.parametrize(
    "name",
    [n for n, node in STUBBED.items() if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and not _typing_only(node)],
)
def test_every_stubbed_class_and_function_exists(name):
    assert hasattr(dp, name), f"{STUB.name} declares {name}, which the extension does not have"
