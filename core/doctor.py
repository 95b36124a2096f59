"""Checks that the workbench can run here: Python, torch, GPUs, bundled models, database, home folder."""
from __future__ import annotations

import os
import platform
import sys
import tempfile
from dataclasses import asdict, dataclass

from core.models.bundled import BUNDLED_MODELS, is_installed, locate_package_file
from core.settings import Settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def _python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, f"Python {platform.python_version()} at {sys.executable}"
                 + ("" if ok else "; the workbench needs 3.11 or newer"))


def _torch() -> list[Check]:
    try:
        import torch
    except ImportError as exc:
        return [Check("torch", False, f"PyTorch is not installed ({exc}); run `make setup`.")]
    checks = [Check("torch", True, f"PyTorch {torch.__version__}, {torch.get_num_threads()} CPU threads")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            free, total = torch.cuda.mem_get_info(i)
            checks.append(Check(f"cuda:{i}", True, f"{props.name}, {total / 2**30:.1f} GiB, {free / 2**30:.1f} GiB free",
                                required=False))
    else:
        checks.append(Check("cuda", False, "No CUDA device: fine-tunes and generation run on the CPU, and QLoRA is not offered.",
                            required=False))
    return checks


def _models(settings: Settings) -> list[Check]:
    checks = []
    for model in BUNDLED_MODELS:
        try:
            source = locate_package_file(model)
        except Exception as exc:  # a missing package is a finding, not a crash
            checks.append(Check(f"model {model.name}", False, str(exc)))
            continue
        if is_installed(settings.models_dir, model):
            checks.append(Check(f"model {model.name}", True, f"in {settings.models_dir / model.name}"))
        else:
            checks.append(Check(f"model {model.name}", False,
                                f"package present ({source.name}) but not yet in the model store; run `workbench init`."))
    return checks


def _database(settings: Settings) -> Check:
    from core.storage import migrate
    from core.storage.db import Store

    store = Store(settings)
    try:
        seconds = store.check()
        revision = migrate.current_revision(store)
        head = migrate.head_revision()
        detail = f"{settings.database_label} answered in {seconds * 1000:.1f} ms; schema {revision or 'empty'}"
        if revision != head:
            return Check("database", False, detail + f", expected {head}: run `workbench init`.")
        return Check("database", True, detail)
    except Exception as exc:
        return Check("database", False, f"{settings.database_label} is not reachable: {str(exc).splitlines()[0]}")
    finally:
        store.dispose()


def _home(settings: Settings) -> Check:
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.home, prefix=".doctor-"):
            pass
        stat = os.statvfs(settings.home)
        free = stat.f_bavail * stat.f_frsize / 2**30
        return Check("home", True, f"{settings.home} is writable, {free:.1f} GiB free")
    except OSError as exc:
        return Check("home", False, f"{settings.home} is not writable: {exc.strerror}")


def run_checks(settings: Settings) -> list[Check]:
    return [_python(), *_torch(), _home(settings), _database(settings), *_models(settings)]
