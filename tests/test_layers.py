"""The one-way import rule and the light start: core never imports streamlit, and nothing heavy at import."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_core_never_imports_streamlit():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "core").rglob("*.py")
                 if any(line.lstrip().startswith(("import streamlit", "from streamlit"))
                        for line in p.read_text().splitlines())]
    assert offenders == []


def test_importing_core_and_the_cli_loads_neither_streamlit_nor_torch():
    code = ("import sys, core.home, core.governance.users, core.models.registry, core.doctor, workbench.cli; "
            "print(sorted(m for m in ('streamlit', 'torch', 'transformers', 'peft') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "[]"
