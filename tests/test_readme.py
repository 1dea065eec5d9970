"""The README's quick-start curl examples work as written against `cetate demo`."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

README = Path(__file__).parents[1] / "README.md"


def readme_commands() -> list[str]:
    text = README.read_text()
    block = text.split("## Quick start", 1)[1].split("## The command line", 1)[0]
    shell = "\n".join(re.findall(r"```sh\n(.*?)```", block, re.S))
    commands: list[str] = []
    current = ""
    for line in shell.splitlines():
        if line.startswith("#") or not line.strip() or line.startswith("make "):
            continue
        current += line + "\n"
        # a command ends where its line does not continue (\) and its quotes are balanced
        if not line.endswith("\\") and current.count("'") % 2 == 0:
            commands.append(current)
            current = ""
    return commands


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_examples(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cetate.cli",
            "demo",
            "--port",
            str(port),
            "--store",
            f"sqlite:///{tmp_path / 'demo.db'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CETATE_CITY_CACHE": str(tmp_path / "graphs")},
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "cetate demo did not start"
                time.sleep(0.2)
        commands = readme_commands()
        assert len(commands) >= 4
        outputs = []
        for command in commands:
            command = command.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
            result = subprocess.run(
                [
                    "bash",
                    "-c",
                    "set -o pipefail; " + command.replace("curl ", "curl -S --fail-with-body ", 1),
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
            outputs.append(result.stdout)
        assert "urn:ngsi-ld:OffStreetParking:helsinki:" in outputs[0]
        assert "151" in outputs[3] and "140" in outputs[3]
        assert "Apteekki" in outputs[4]
        assert '"duration_s"' in outputs[5] and '"LineString"' in outputs[5]
        assert outputs[6].count('"kind":"pharmacy"') == 2
    finally:
        server.terminate()
        server.wait(timeout=10)
