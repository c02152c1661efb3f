"""docs/settings.md is generated from the code and must match it."""
from pathlib import Path

from minelib.experiments import docs
from minelib.experiments.registry import NAMES

SETTINGS_MD = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_settings_md_matches_the_code():
    assert SETTINGS_MD.read_text() == docs.document(), (
        "docs/settings.md is stale: regenerate it with `python -m minelib.experiments.docs > docs/settings.md`")


def test_every_experiment_has_a_section_with_a_row_per_setting():
    text = docs.document()
    for name in NAMES:
        assert f"\n## {name}\n" in text
    assert "| tag | meaning |" in text and "PAPER" in text
