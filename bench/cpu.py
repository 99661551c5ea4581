"""CPU time of the processes involved (Linux /proc), to tell where the time goes: the server
process, the PostgreSQL backends serving the benchmark's database, and the benchmark itself.
Elsewhere the numbers are simply missing."""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def machine_times() -> tuple[float, float, float] | None:
    """(busy, steal, total) CPU seconds of the whole machine so far, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + values[4]  # idle + iowait
    steal = values[7] if len(values) > 7 else 0
    total = sum(values[:8])
    return (total - idle) / _TICK, steal / _TICK, total / _TICK


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _all_processes() -> dict[int, tuple[str, float]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        name = text[text.find("(") + 1:text.rfind(")")]
        fields = text.rsplit(")", 1)[1].split()
        found[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / _TICK)
    return found


def other_load(seconds: float = 1.0, exclude: tuple[int, ...] = ()) -> dict | None:
    """What other processes keep busy over `seconds`, taken while the benchmark and its server
    are idle: {"busy_cores": 0.9, "top": ["pytest 0.85", ...]}. None where /proc is missing."""
    try:
        before = _all_processes()
        time.sleep(seconds)
        after = _all_processes()
    except OSError:
        return None
    skip = {os.getpid(), *exclude}
    usage = sorted(((cpu - before[pid][1], name) for pid, (name, cpu) in after.items()
                    if pid in before and pid not in skip), reverse=True)
    busy = sum(used for used, _name in usage) / seconds
    return {"busy_cores": round(busy, 2),
            "top": [f"{name} {used / seconds:.2f}" for used, name in usage[:3] if used > 0]}


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class CpuMeter:
    """CPU seconds used between start() and stop() by the server, the PostgreSQL backends of
    `database` (found through pg_stat_activity) and this process."""

    def __init__(self, server_pid: int | None, pg_conninfo: str | None, database: str | None):
        self.server_pid = server_pid
        self.pg_conninfo = pg_conninfo
        self.database = database
        self.result: dict = {}

    def _pg_pids(self) -> list[int]:
        if not self.pg_conninfo:
            return []
        try:
            import psycopg

            with psycopg.connect(self.pg_conninfo, autocommit=True) as conn:
                rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                                    "AND pid <> pg_backend_pid()", (self.database,)).fetchall()
            return [r[0] for r in rows]
        except Exception:  # noqa: BLE001 - measuring is best effort
            return []

    def _snapshot(self, pids) -> dict[int, float]:
        return {pid: cpu for pid in pids if (cpu := process_cpu_seconds(pid)) is not None}

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._own0 = own_cpu_seconds()
        self._server0 = process_cpu_seconds(self.server_pid) if self.server_pid else None
        self._pg0 = self._snapshot(self._pg_pids())
        self._machine0 = machine_times()

    def stop(self, units: int | None = None) -> dict:
        wall = time.perf_counter() - self._t0
        own = own_cpu_seconds() - self._own0
        server = None
        if self._server0 is not None:
            now = process_cpu_seconds(self.server_pid)
            server = None if now is None else now - self._server0
        pg = None
        if self.pg_conninfo:
            after = self._snapshot(set(self._pg0) | set(self._pg_pids()))
            pg = sum(after[p] - self._pg0.get(p, 0.0) for p in after)

        machine = machine_times()
        others = steal = None
        if machine and self._machine0:
            busy = machine[0] - self._machine0[0]
            steal = machine[1] - self._machine0[1]
            others = max(0.0, busy - steal - own - (server or 0.0) - (pg or 0.0))

        def share(cpu):
            return None if cpu is None or not wall else round(100 * cpu / wall, 1)

        def per_unit(cpu):
            return None if cpu is None or not units else round(1000 * cpu / units, 2)

        self.result = {
            "wall_s": round(wall, 3),
            "server_cpu_percent": share(server),
            "postgres_cpu_percent": share(pg),
            "bench_cpu_percent": share(own),
            "server_cpu_ms_per_op": per_unit(server),
            "postgres_cpu_ms_per_op": per_unit(pg),
            "bench_cpu_ms_per_op": per_unit(own),
            # Everything else on the machine meanwhile, and CPU the hypervisor took away.
            "other_cpu_percent": share(others),
            "steal_percent": share(steal),
        }
        return self.result
