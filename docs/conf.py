"""Sphinx configuration of ssibench's documentation site: ``python -m sphinx -W -b html docs <out>``.

The pages of the loss choices, the config groups, the CLI and the results schema are generated from
``conf/`` and the code at each build (``_ext/generated_pages.py``, into ``generated/``, not committed).
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "ssibench"
author = "ssibench maintainers"
copyright = "ssibench maintainers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.mathjax", "generated_pages"]
exclude_patterns = ["_build", "embedded"]
html_theme = "alabaster"
html_static_path = []
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the signatures stay short; the docstrings say the types
