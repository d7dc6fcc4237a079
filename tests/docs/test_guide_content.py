"""The hand-written guide keeps up with the code: every test warning the assessment can
raise is explained, and every configurable type is shown."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs.conftest import DOCS

import hyperloop.core.assessment as assessment
from hyperloop.analysis.configurables import Kind


def warning_codes() -> set[str]:
    source = Path(assessment.__file__).read_text()
    return set(re.findall(r'Warning\(\s*"([a-z0-9-]+)"', source))


def test_every_warning_code_has_a_section_saying_what_to_do():
    codes = warning_codes()
    assert len(codes) >= 9  # SPEC §4 lists nine warnings
    text = (DOCS / "user-guide" / "warnings.md").read_text()
    sections = dict(
        re.findall(r"^## [^\n]*\{ #([a-z0-9-]+) \}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    )
    missing = sorted(codes - set(sections))
    assert not missing, f"warnings without a section in docs/user-guide/warnings.md: {missing}"
    for code in codes:
        assert "**What to do:**" in sections[code], code


def test_configurables_page_shows_every_kind():
    text = (DOCS / "workflows" / "configurables.md").read_text()
    example = (DOCS / "examples" / "configurables_tour.py").read_text()
    for kind in Kind:
        assert f"| {kind.value}" in text, kind.value
    for cls in ("FixedArray", "VariableArray", "Matrix", "LabelledMatrix", "ConfigurableAxis"):
        assert f"= {cls}(" in example
