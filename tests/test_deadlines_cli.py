"""`sagsflow deadlines list|due` as an operator runs them: one real process per command, with a
fresh SQLite database and instance folder given by environment variables."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAGSFLOW = Path(sys.executable).parent / "sagsflow"


class Cli:
    def __init__(self, tmp: Path, **env):
        self.tmp = tmp
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("SAGSFLOW_") and k not in ("DATABASE_URL", "SECRET_KEY")}
        self.env.update(DATABASE_URL=f"sqlite:///{tmp / 'x.db'}", SAGSFLOW_INSTANCE_DIR=str(tmp),
                        **env)

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([str(SAGSFLOW), *args], env=self.env, cwd=self.tmp,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, *commands: tuple[str, ...]) -> list[subprocess.CompletedProcess]:
        """Independent commands at the same time, to keep the suite fast."""
        results = []
        for proc in [self.start(*c) for c in commands]:
            out, err = proc.communicate(timeout=120)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        return results


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


def test_due_prints_the_danish_date_or_date_and_time(cli):
    sel50, receipt, weekend, hours, hours_utc, adults = cli.run(
        ("deadlines", "due", "sel50_4m", "2025-01-31"),
        ("deadlines", "due", "kvittering_6hd", "2025-01-10"),
        ("deadlines", "due", "kvittering_6hd", "2025-01-11T10:00"),
        ("deadlines", "due", "underretning_24t", "2025-03-29T12:00"),
        ("deadlines", "due", "underretning_24t", "2025-03-29T11:00:00Z"),
        ("deadlines", "due", "naeste_opfoelgning", "2025-01-31", "--variant", "voksne"),
    )
    for result in (sel50, receipt, weekend, hours, hours_utc, adults):
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
    assert sel50.stdout == "2025-05-31\n"
    assert receipt.stdout == "2025-01-20\n"
    assert weekend.stdout == "2025-01-20\n"
    assert hours.stdout == "2025-03-30T13:00:00+02:00\n"
    assert hours_utc.stdout == "2025-03-30T13:00:00+02:00\n"
    assert adults.stdout == "2026-01-31\n"


def test_due_refuses_an_unknown_key_a_bad_date_and_an_amount_out_of_bounds(cli):
    unknown, bad_date, not_a_date, out_of_bounds = cli.run(
        ("deadlines", "due", "sel50_5m", "2025-01-31"),
        ("deadlines", "due", "sel50_4m", "2025-02-30"),
        ("deadlines", "due", "sel50_4m", "i morgen"),
        ("deadlines", "due", "partshoering_svar", "2025-03-03", "--amount", "90"),
    )
    for result in (unknown, bad_date, not_a_date, out_of_bounds):
        assert result.returncode == 1
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
    assert "error: no deadline with key 'sel50_5m'" in unknown.stderr
    assert "error: START must be a date (2025-01-31) or an ISO date and time" in bad_date.stderr
    assert "got '2025-02-30'" in bad_date.stderr
    assert "got 'i morgen'" in not_a_date.stderr
    assert "error: deadline 'partshoering_svar': amount 90 is outside 1–60 calendar days" \
        in out_of_bounds.stderr


def test_list_prints_the_effective_catalogue(cli):
    [listing] = cli.run(("deadlines", "list"))
    assert listing.returncode == 0, listing.stderr
    rows = [line.split("\t") for line in listing.stdout.splitlines()[:-1]]
    assert [row[0] for row in rows] == [
        "underretning_24t", "kvittering_6hd", "sel50_4m", "barnets_plan_3m",
        "foerste_opfoelgning", "naeste_opfoelgning", "sel85_afgoerelse", "partshoering_svar",
        "klage_genvurdering", "aktindsigt_7hd"]
    by_key = {row[0]: row[1:] for row in rows}
    assert by_key["sel50_4m"] == [
        "Børnefaglig undersøgelse afsluttet (Barnets lov § 20, tidl. SEL § 50)",
        "4 calendar months", "Barnets lov § 20, stk. 3; Serviceloven § 50", "catalogue",
        "reminders: 20 working days, 5 working days before",
        "on breach: task foreloebig_vurdering Udarbejd foreløbig vurdering caseworker; "
        "letter undersoegelse_forsinket parties",
        "pause: not allowed"]
    assert by_key["klage_genvurdering"][1:5] == [
        "4 weeks", "Retssikkerhedsloven § 66 (verificeres)", "catalogue",
        "reminders: 5 working days before"]
    assert by_key["sel85_afgoerelse"][-1] == (
        "pause: Afventer borgerens oplysninger; Afventer borgerens samtykke")
    assert by_key["partshoering_svar"][4] == "reminders: none"
    assert listing.stdout.splitlines()[-1] == "closing days: 06-05, 12-24, 12-31"


def test_the_municipalitys_overrides_file_in_the_instance_folder_is_used(cli):
    (cli.tmp / "deadlines.local.toml").write_text(
        '[calendar]\nclosing_days = ["12-24", "12-31"]\n\n'
        "[deadlines.sel85_afgoerelse]\namount = 12\n", encoding="utf-8")
    listing, sel85, receipt = cli.run(
        ("deadlines", "list"),
        ("deadlines", "due", "sel85_afgoerelse", "2025-01-06"),
        ("deadlines", "due", "kvittering_6hd", "2025-06-03"),
    )
    assert listing.returncode == 0, listing.stderr
    [row] = [line for line in listing.stdout.splitlines() if line.startswith("sel85_afgoerelse")]
    assert row.split("\t")[2:5] == ["12 weeks", "Retssikkerhedsloven § 3, stk. 2",
                                    "overridden (catalogue: 8 weeks)"]
    assert listing.stdout.splitlines()[-1] == "closing days: 12-24, 12-31"
    assert sel85.stdout == "2025-03-31\n"
    assert receipt.stdout == "2025-06-12\n"  # 5 June is a working day in this municipality


def test_an_override_out_of_bounds_stops_the_commands_and_the_app_naming_the_entry(tmp_path):
    overrides = tmp_path / "kommune.toml"
    overrides.write_text("[deadlines.sel85_afgoerelse]\namount = 60\n", encoding="utf-8")
    cli = Cli(tmp_path, SAGSFLOW_DEADLINE_OVERRIDES=str(overrides))
    listing, due, app_start = cli.run(
        ("deadlines", "list"),
        ("deadlines", "due", "sel50_4m", "2025-01-31"),
        ("processes", "list"),  # any command that starts the application
    )
    message = "deadline 'sel85_afgoerelse': amount: 60 is outside the allowed 1–52 weeks"
    for result in (listing, due):
        assert result.returncode == 1
        assert result.stdout == ""
        assert f"error: {overrides}: {message}" in result.stderr
    assert app_start.returncode != 0
    assert message in app_start.stderr


def test_a_bad_catalogue_stops_the_commands_and_the_app_naming_the_entry(tmp_path):
    processes = tmp_path / "processes"
    processes.mkdir()
    text = (ROOT / "processes" / "deadlines.toml").read_text(encoding="utf-8")
    text = text.replace('rule = { kind = "weeks", amount = 4 }',
                        'rule = { kind = "weeks", amount = -4 }')
    (processes / "deadlines.toml").write_text(text, encoding="utf-8")
    cli = Cli(tmp_path, SAGSFLOW_PROCESSES=str(processes))
    listing, app_start = cli.run(("deadlines", "list"), ("processes", "list"))
    message = "deadline 'klage_genvurdering': rule.amount: must be at least 1, got -4"
    assert listing.returncode == 1
    assert listing.stdout == ""
    assert message in listing.stderr
    assert app_start.returncode != 0
    assert message in app_start.stderr
