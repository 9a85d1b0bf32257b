"""`ioc epidemics …`: weekly case reports from a file, and the baselines to judge them.

- `import FILE.csv`: the same report the API takes (commune, disease, week, cases), stored
  and judged in one transaction; `--history` loads past years for the seasonal baselines
  without raising alerts.
- `baselines FILE.csv`: baselines the health department computed itself (commune,
  disease, week number 1-53, mean, sd, years); they win over those computed from history.
"""

from __future__ import annotations

import csv
import getpass
import io
from pathlib import Path
from typing import Annotated

import typer

from config.settings import get_settings

epidemics_app = typer.Typer(
    help="Epidemics: weekly case counts per commune and disease, seasonal baselines.",
    no_args_is_help=True,
)
File = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]
MAX_FILE = 16 << 20


def _read(path: Path) -> bytes:
    if path.stat().st_size > MAX_FILE:
        raise typer.BadParameter(f"{path} is larger than {MAX_FILE >> 20} MiB")
    return path.read_bytes()


@epidemics_app.command("import")
def import_cases(
    path: File,
    history: Annotated[
        bool, typer.Option("--history", help="Past years for the baselines: store, no alerts")
    ] = False,
) -> None:
    """Import a weekly case report (CSV: commune,disease,week,cases)."""
    from processors.alerts.channels import channels_path, load_channels
    from processors.alerts.manager import AlertManager
    from processors.epidemics.service import EpidemicsConfig, receive_report
    from store.connect import connect

    settings = get_settings()
    config = EpidemicsConfig.load(settings.rules_paths() or None)
    manager = AlertManager(load_channels(channels_path(settings)))
    with connect(settings, autocommit=True) as conn, conn.transaction():
        result = receive_report(
            conn, _read(path), "csv", config=config, manager=manager,
            source=f"cli:{getpass.getuser()}:{path.name}", transport="file", history=history,
        )  # fmt: skip
    if result.unreadable is not None:
        typer.echo(f"{path}: {result.unreadable} (dead letter {result.dead_letter_id})", err=True)
        raise typer.Exit(1)
    for rejected in result.rejected:
        typer.echo(
            f"{path}: row {rejected.index + 1}: {rejected.reason}"
            f" (dead letter {rejected.dead_letter_id})",
            err=True,
        )
    typer.echo(
        f"{result.received} rows: {result.stored} stored, {len(result.rejected)} rejected,"
        f" {len(result.signals)} alert signals"
    )
    if result.rejected:
        raise typer.Exit(2)


@epidemics_app.command("baselines")
def load_baselines(path: File) -> None:
    """Load baselines (CSV: commune,disease,week,mean,sd,years; week is 1-53)."""
    from processors.epidemics.baseline import parse_baselines
    from processors.epidemics.service import EpidemicsConfig
    from store.connect import connect
    from store.epidemics import upsert_baselines

    settings = get_settings()
    config = EpidemicsConfig.load(settings.rules_paths() or None)
    text = _read(path).decode("utf-8-sig")
    rows, problems = parse_baselines(
        csv.DictReader(io.StringIO(text)), config.communes.by_id.keys(), config.rule.diseases
    )
    for problem in problems:
        typer.echo(f"{path}: {problem}", err=True)
    if problems:
        raise typer.Exit(2)
    with connect(settings, autocommit=True) as conn, conn.transaction():
        count = upsert_baselines(conn, rows, f"cli:{getpass.getuser()}:{path.name}")
    typer.echo(f"{count} baselines loaded")


@epidemics_app.command("simulate")
def simulate_reports(
    weeks: Annotated[int, typer.Option(min=1, max=104, help="Recent complete weeks")] = 8,
    history_years: Annotated[
        int, typer.Option(min=0, max=10, help="Past years for the baselines")
    ] = 5,
    seed: Annotated[int, typer.Option(help="Same seed, same counts")] = 2026,
    out: Annotated[
        Path | None, typer.Option(help="Write history.csv and weeks.csv here, post nothing")
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(help="A file holding an integrator's API token: post to the API"),
    ] = None,
) -> None:
    """The health department's reports, simulated: past years as history (for the
    baselines), then the recent weeks one report a week, for every commune of
    communes.yaml and every disease of the rules. Posted to the API (--token-file) or
    written as CSV (--out)."""
    from datetime import date

    import httpx

    from processors.epidemics.service import EpidemicsConfig
    from simulators.case_reports import (
        report_csv,
        report_rows,
        weeks_before,
        year_weeks,
    )

    if (out is None) == (token_file is None):
        raise typer.BadParameter("give exactly one of --out and --token-file")
    settings = get_settings()
    config = EpidemicsConfig.load(settings.rules_paths() or None)
    communes, diseases = sorted(config.communes.by_id), sorted(config.rule.diseases)
    recent = weeks_before(date.today(), weeks)
    first_year = recent[0][0]
    past = [w for y in range(first_year - history_years, first_year) for w in year_weeks(y)]
    history = report_csv(report_rows(communes, diseases, past, seed))
    reports = [report_csv(report_rows(communes, diseases, [w], seed)) for w in recent]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "history.csv").write_bytes(history)
        (out / "weeks.csv").write_bytes(
            b"".join([reports[0]] + [r.split(b"\n", 1)[1] for r in reports[1:]])
        )
        typer.echo(f"{out}: history.csv ({len(past)} weeks), weeks.csv ({len(recent)} weeks)")
        typer.echo(f"load with: ioc epidemics import --history {out / 'history.csv'}")
        return
    assert token_file is not None
    token = token_file.read_text(encoding="utf-8").strip()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    with httpx.Client(base_url=settings.api_base_url, timeout=60) as http:
        if history_years:
            typer.echo(
                "history is not posted (the API judges every week it takes): write it"
                " with --out and load it with ioc epidemics import --history",
                err=True,
            )
        for (year, week), body in zip(recent, reports, strict=True):
            answer = http.post("/api/v1/epidemics/cases", content=body, headers=headers)
            if answer.status_code not in (200, 207):
                typer.echo(
                    f"{year}-W{week:02d}: HTTP {answer.status_code}: {answer.text[:300]}", err=True
                )
                raise typer.Exit(1)
            got = answer.json()
            typer.echo(
                f"{year}-W{week:02d}: {got['stored']} stored, {len(got['alerts'])} alert changes"
            )
