"""Under CI=true a missing tool or file fails the run: it is never a skip CI would not notice."""

from __future__ import annotations

import pytest

from tests import conftest


def test_a_missing_module_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="needed under CI"):
        conftest.require("no_such_module_for_imagegen")
    monkeypatch.setattr(conftest, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception):
        conftest.require("no_such_module_for_imagegen")


def test_ci_sets_ci_true_for_the_tests():
    text = (conftest.ROOT / ".ci" / "run").read_text()
    assert "export CI=${CI:-true}" in text
