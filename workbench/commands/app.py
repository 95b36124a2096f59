"""`workbench run | init | doctor`: start the app, make the workbench home, check the machine."""
from __future__ import annotations

import os
import sys
from pathlib import Path

# The Streamlit app (workbench/app.py) served together with the login-cookie routes (workbench/login_cookie.py).
APP_FILE = Path(__file__).resolve().parent.parent / "web.py"


def cmd_run(ctx) -> int:
    from core.home import open_store
    from core.jobs import queue, worker

    store = open_store()  # migrate before the first page asks
    # Jobs whose process died with the machine are marked interrupted; queued ones get a worker (it stays while
    # there is work; launching a job starts one again).
    queue.reconcile(store)
    worker.ensure_worker(store.settings)
    store.dispose()
    address, port = ctx.args.address, ctx.args.port
    if os.environ.get("WORKBENCH_SERVE_PORT"):
        # The OpenAI-compatible server beside the app: a child process in the same process group, so Ctrl-C in
        # the terminal ends both (it reads its port from WORKBENCH_SERVE_PORT).
        import subprocess

        subprocess.Popen([sys.executable, "-m", "workbench.cli", "serve", "--host", address])
    command = [sys.executable, "-m", "streamlit", "run", str(APP_FILE), "--server.port", str(port),
               "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    print(f"LLMOps Workbench: http://{'localhost' if address in ('127.0.0.1', '0.0.0.0') else address}:{port}",
          flush=True)
    os.chdir(APP_FILE.parent.parent)  # .streamlit/config.toml is read from the working folder
    os.execv(sys.executable, command)
    return 0


def cmd_init(ctx) -> int:
    from core.home import init_workbench

    report = init_workbench(with_models=not ctx.args.no_models,
                            progress=None if ctx.json else (lambda m: print(m, flush=True)))

    def text() -> None:
        print(f"Workbench home: {report.home}")
        print(f"Database: {report.database} (schema {report.schema_revision})")
        if report.admin_created:
            print(f"Created the first admin 'admin'; its password is in {report.admin_password_file}")
        for name in report.models_registered:
            print(f"Registered bundled model {name}")

    return ctx.show(report.to_dict(), text)


def cmd_doctor(ctx) -> int:
    from core.doctor import run_checks
    from core.settings import Settings

    checks = run_checks(Settings.from_env())
    failed = [c for c in checks if c.required and not c.ok]

    def text() -> None:
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.required else "note")
            print(f"[{mark}] {c.name}: {c.detail}")

    ctx.show({"ok": not failed, "checks": [c.to_dict() for c in checks]}, text)
    return 1 if failed else 0


def register(commands, add) -> None:
    run = add(commands, "run", cmd_run, "Start the app (http://localhost:8501).", json_flag=False)
    run.add_argument("--port", type=int, default=int(os.environ.get("WORKBENCH_PORT", 8501)))
    run.add_argument("--address", default=os.environ.get("WORKBENCH_ADDRESS", "127.0.0.1"),
                     help="Address to listen on; 0.0.0.0 to serve other machines.")
    init = add(commands, "init", cmd_init, "Create the workbench home, apply migrations, add the first admin and "
                                           "install the bundled models. Safe to repeat.")
    init.add_argument("--no-models", action="store_true", help="Skip installing the bundled models.")
    add(commands, "doctor", cmd_doctor, "Check Python, torch, GPUs, bundled models, the database and the home folder.")
