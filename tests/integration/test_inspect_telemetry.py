"""Tracing: LangSmith traces the loop when its variables are set (to a local collector
here), and a search makes no network call at all when they are not."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# A short search in a fresh interpreter that logs every outward socket operation it makes
# (audit hooks see getaddrinfo and connect of all threads, tracer threads included).
PROBE = r"""
import json, socket, sys
from pathlib import Path
events = []
def hook(event, args):
    if event == "socket.connect" and args[0].family in (socket.AF_INET, socket.AF_INET6):
        events.append(["connect", repr(args[1])])
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "http.client.connect"):
        events.append([event, repr(args[:2])])
sys.addaudithook(hook)
from nasloop.config import build_config
from nasloop.runner import drive, new_run
out, budget = Path(sys.argv[1]), int(sys.argv[2])
cfg = build_config({}, {"run.budget": budget})
new_run(cfg, out)
drive(cfg, out)
from langchain_core.tracers.langchain import wait_for_all_tracers
wait_for_all_tracers()
print("NET " + json.dumps(events))
"""
TRACING_VARS = [k for k in os.environ if k.startswith(("LANGSMITH_", "LANGCHAIN_", "LANGFUSE_"))]


def probe(out: Path, budget: int, env: dict[str, str]) -> list[list[str]]:
    clean = {k: v for k, v in os.environ.items() if k not in TRACING_VARS}
    proc = subprocess.run([sys.executable, "-c", PROBE, str(out), str(budget)],
                          env={**clean, **env}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("NET "))
    return json.loads(line[4:])


class _Collector(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def _any(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        self.bodies.append(self.rfile.read(n) if n else b"")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PATCH = do_PUT = _any

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[int, list[bytes]]]:
    """A LangSmith-shaped endpoint on 127.0.0.1 that answers {} and keeps what it got."""
    _Collector.bodies = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[1], _Collector.bodies
    srv.shutdown()
    srv.server_close()


def test_no_network_call_without_tracing_variables(tmp_path: Path) -> None:
    assert probe(tmp_path / "run", 4, {}) == []  # seeds, then the improver and generator


def test_langsmith_traces_every_node_when_its_variables_are_set(
    tmp_path: Path, collector: tuple[int, list[bytes]]
) -> None:
    port, bodies = collector
    env = {"LANGSMITH_TRACING": "true", "LANGSMITH_API_KEY": "test-key",
           "LANGSMITH_ENDPOINT": f"http://127.0.0.1:{port}"}
    events = probe(tmp_path / "run", 1, env)
    assert events and all(str(port) in e[1] for e in events)  # the hook sees tracer traffic
    sent = b"".join(bodies)
    for node in ("plan", "generate", "check", "novelty", "evaluate", "record", "improve"):
        assert f'"name":"{node}"'.encode() in sent, node
