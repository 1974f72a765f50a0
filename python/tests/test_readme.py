"""README's Python example runs as written against mrsm."""

import os
import re
import subprocess
import sys

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def example():
    text = open(README, encoding="utf-8").read()
    section = text.split("### Python: Meerschaum's `Job` class", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_s_python_example_runs(tmp_path):
    code = example()
    assert "import mrsm_jobs as mrsm" in code
    env = dict(os.environ, MRSM_ROOT_DIR=str(tmp_path / "root"))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert re.fullmatch(r"\d+", lines[0]), lines  # the pid
    assert "+00:00" in lines[1]  # began, aware
    assert lines[-1] == "2024-01-01 00:00:00+00:00" or re.match(r"\d{4}-", lines[-1]), lines
    # The job's output came through monitor_logs, and the job is gone.
    assert any(re.search(r"\d\d:\d\d:\d\d", line) for line in lines[4:-1]), lines
    assert not (tmp_path / "root" / "jobs" / "syncing-engine").exists()
