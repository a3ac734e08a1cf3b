"""``floodctl gis …``: check and load the county's spatial layers."""

from __future__ import annotations

from pathlib import Path

import click

from floodctl.core.cli import FloodGroup, console
from floodctl.core.settings import get_settings


@click.group(cls=FloodGroup)
def gis() -> None:
    """The county's spatial layers (towns, stations)."""


@gis.command("validate")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def gis_validate(path: Path | None) -> None:
    """Check layers (default: the packaged sample). PATH: a folder of layer files, or one file."""
    from floodctl.core.errors import ValidationFailed
    from gis_data import loader

    where = path or loader.DEFAULT_DIR
    problems = loader.validate_directory(where)
    if problems:
        raise ValidationFailed(f"{len(problems)} problem(s) in {where}", details=problems)
    console.print(f"ok: the layers in {where} are valid")


@gis.command("load")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def gis_load(path: Path | None) -> None:
    """Validate and load layers into the database (default: the packaged sample).

    PATH: a folder of layer files, or one file, which replaces only that layer."""
    from floodctl.core import db as database
    from floodctl.core.embedded import database_url
    from gis_data import loader

    with database.connect(database_url(get_settings()), wait_s=database.WAIT_FOR_DB_S) as conn:
        counts = loader.load_layers(conn, path or loader.DEFAULT_DIR)
    console.print("loaded " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
