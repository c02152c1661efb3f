"""The README's code examples run as written."""
import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_example_runs(i, capsys):
    namespace = {}
    exec(compile(BLOCKS[i], f"README block {i}", "exec"), namespace)
    if "est" in namespace:
        import minelib

        assert abs(namespace["est"].mi - minelib.gaussian_mi(0.5, 2)) < 0.1
    if "mi" in namespace:
        assert float(namespace["mi"]) > 0.2  # the encoder learned to carry information about u
