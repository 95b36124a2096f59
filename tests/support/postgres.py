"""Starts a throwaway PostgreSQL server from Debian's binaries, on loopback, for the storage tests."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    bin_dir: Path
    data_dir: Path
    port: int
    run_as: list[str]

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://workbench@127.0.0.1:{self.port}/postgres"

    def create_database(self) -> str:
        import psycopg

        name = f"wb_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=workbench dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://workbench@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run([*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)


def start(workdir: Path) -> PostgresServer:
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries are not installed (make test installs Debian's postgresql package "
                    "with apt-get; that was not possible on this machine)")
    run_as: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root: run the server as an unprivileged account.
        account = "postgres" if _has_user("postgres") else "nobody"
        run_as = ["runuser", "-u", account, "--"]
        shutil.chown(workdir, user=account)
    data_dir, socket_dir = workdir / "data", workdir / "sock"
    for folder in (data_dir, socket_dir):
        folder.mkdir()
        if run_as:
            shutil.chown(folder, user=run_as[2])
    init = subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "workbench", "--auth=trust",
                           "-E", "UTF8", "--no-sync"], capture_output=True, text=True, timeout=120)
    if init.returncode != 0:
        pytest.skip(f"initdb failed, so the PostgreSQL tests cannot run here: {init.stderr.strip()[:300]}")
    port = _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {socket_dir} -c fsync=off -c max_connections=60"
    started = subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", options, "-w", "-t", "60",
                              "-l", str(workdir / "server.log"), "start"], capture_output=True, text=True, timeout=90)
    if started.returncode != 0:
        log = (workdir / "server.log").read_text()[-500:] if (workdir / "server.log").exists() else ""
        pytest.skip(f"the PostgreSQL server did not start: {started.stderr.strip()[:200]} {log}")
    return PostgresServer(bin_dir=bin_dir, data_dir=data_dir, port=port, run_as=run_as)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
