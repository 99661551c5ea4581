"""The application under test, served by waitress in a separate process.

A separate process keeps the benchmark's client threads off the server's GIL, as in
production where clients are browsers. The server is what `sagsflow serve` runs (create_app,
deploy, waitress) without the scheduler, on a free port that it reports on stdout.

Run by the benchmark as ``python -m bench.server --url URL --threads N [--profile-dir DIR]``.
With --profile-dir, the app is wrapped in a cProfile middleware the benchmark switches on for
its single-client phases through ``POST /__bench/profile/<name>/start`` and ``.../stop``;
every request in between is profiled (only in the thread that serves it) and the summed
stats go to DIR/<name>.prof.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ProfilingMiddleware:
    def __init__(self, app, folder: Path):
        self.app = app
        self.folder = folder
        self.lock = threading.Lock()
        self.name: str | None = None
        self.stats: pstats.Stats | None = None
        self.requests = 0

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/__bench/profile/"):
            return self._control(path, start_response)
        if self.name is None:
            return self.app(environ, start_response)
        profile = cProfile.Profile()
        profile.enable()
        try:
            body = list(self.app(environ, start_response))
        finally:
            profile.disable()
            with self.lock:
                if self.stats is None:
                    self.stats = pstats.Stats(profile)
                else:
                    self.stats.add(profile)
                self.requests += 1
        return body

    def _control(self, path, start_response):
        _, _, _, name, action = path.split("/", 4)
        with self.lock:
            if action == "start":
                self.name, self.stats, self.requests = name, None, 0
                result = {"profiling": name}
            else:
                result = {"profiled": self.name, "requests": self.requests, "file": None}
                if self.stats is not None and self.name:
                    target = self.folder / f"{self.name}.prof"
                    self.stats.dump_stats(str(target))
                    result["file"] = str(target)
                self.name, self.stats = None, None
        body = json.dumps(result).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--profile-dir")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("spiff").setLevel(logging.WARNING)

    from waitress.server import create_server

    from api import create_app
    from api.cli import deploy_processes

    app = create_app({"SQLALCHEMY_DATABASE_URI": args.url})
    deploy_processes(app, "bench")
    wsgi = app
    if args.profile_dir:
        wsgi = ProfilingMiddleware(app, Path(args.profile_dir))
    server = create_server(wsgi, host="127.0.0.1", port=0, threads=args.threads,
                           ident="sagsflow")

    def stop(_signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"PORT {server.effective_port}", flush=True)
    try:
        server.run()
    finally:
        server.close()


class ServerProcess:
    """Starts `python -m bench.server` and stops it again."""

    def __init__(self, url: str, threads: int, workdir: Path, profile_dir: Path | None = None):
        self.url = url
        self.threads = threads
        self.workdir = workdir
        self.profile_dir = profile_dir
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen | None = None
        self.port: int | None = None

    def __enter__(self) -> ServerProcess:
        env = dict(os.environ)
        env["SAGSFLOW_INSTANCE_DIR"] = str(self.workdir / "instance")
        env.setdefault("SECRET_KEY", "bench-secret")
        env.pop("DATABASE_URL", None)
        command = [sys.executable, "-m", "bench.server", "--url", self.url,
                   "--threads", str(self.threads)]
        if self.profile_dir:
            command += ["--profile-dir", str(self.profile_dir)]
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=self._log)
        deadline = time.monotonic() + 60
        line = self.process.stdout.readline().decode()
        if not line.startswith("PORT ") or time.monotonic() > deadline:
            self.__exit__(None, None, None)
            raise RuntimeError(f"the server did not start; see {self.log_path}:\n"
                               + self.log_tail())
        self.port = int(line.split()[1])
        return self

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def count_in_log(self, needle: str) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(needle)
        except OSError:
            return 0

    def __exit__(self, *_exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process and self.process.stdout:
            self.process.stdout.close()
        self._log.close()


if __name__ == "__main__":
    main()
