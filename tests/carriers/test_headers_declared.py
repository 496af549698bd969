"""Every header an adapter's parser reads is declared in its module's ``HEADERS``.

The ingress keeps only declared push headers in the raw record and ``trackstream normalize``
documents the declared ones, so a header read but not declared would silently never arrive.
Webhook checks (``verify_webhook*``) read credentials, which are deliberately not kept.
"""

from __future__ import annotations

import ast
import inspect
from importlib import import_module

import pytest

import carriers
from carriers.base import HeaderUse

BUILT_IN = [name for name in carriers.ADAPTERS]


def _headers_read(module_name: str) -> set[str]:
    """Names passed to ``header(headers, X)`` outside the webhook checks, X resolved to its value."""
    module = import_module(f"carriers.{module_name}")
    tree = ast.parse(inspect.getsource(module))
    read: set[str] = set()

    def visit(node: ast.AST, in_verify: bool) -> None:
        if isinstance(node, ast.FunctionDef):
            in_verify = in_verify or node.name.startswith("verify_webhook")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "header"
                and len(node.args) == 2 and not in_verify):
            arg = node.args[1]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                read.add(arg.value.lower())
            elif isinstance(arg, ast.Name):
                read.add(str(getattr(module, arg.id)).lower())
            else:
                raise AssertionError(f"carriers.{module_name}: header name is not a constant: {ast.dump(arg)}")
        for child in ast.iter_child_nodes(node):
            visit(child, in_verify)

    visit(tree, False)
    return read


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_header_read_is_declared(name: str) -> None:
    declared = {use.name.lower() for use in carriers.headers_of(name)}
    assert _headers_read(name) <= declared


def test_the_scan_sees_the_headers_adapters_read() -> None:
    # guards the test above: if the scan found nothing it would pass for every adapter
    assert _headers_read("myparcel") >= {"x-myparcel-hook", "x-myparcel-hookid", "x-trackstream-shipment-barcodes"}
    assert _headers_read("dpd_nl") == {"x-trackstream-tracking-number"}
    assert "x-myparcel-authorization" not in _headers_read("myparcel")


def test_only_push_headers_are_kept_by_the_ingress() -> None:
    assert carriers.request_headers("myparcel") == ("x-myparcel-hook", "x-myparcel-hookid")
    assert carriers.request_headers("dpd_nl") == ()
    assert carriers.request_headers("no-such-carrier") == ()
    for name in BUILT_IN:
        for use in carriers.headers_of(name):
            assert isinstance(use, HeaderUse) and use.meaning
            # a credential is never a header the parser reads
            assert not any(word in use.name.lower() for word in ("authorization", "signature", "api-key"))
