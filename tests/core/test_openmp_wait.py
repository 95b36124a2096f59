"""PyTorch's OpenMP threads sleep while waiting (core sets OMP_WAIT_POLICY before torch loads), unless the
environment says otherwise: spinning threads made decoding 4-9x slower on a shared 2-core machine."""
import os
import subprocess
import sys

CODE = "import core, torch, os; torch.ones(4) @ torch.ones(4); print(os.environ['OMP_WAIT_POLICY'])"


def _policy(env: dict) -> str:
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_torch_threads_sleep_while_waiting_unless_the_environment_chooses():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy(env) == "PASSIVE"
    assert _policy({**env, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
