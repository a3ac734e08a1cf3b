"""What every ``floodctl`` command group shares: the consoles and the group that prints a user's mistake as one line.

Errors a user can cause print one line (and the list of problems, if any) and exit 1; an
unexpected exception is reported as a bug with its traceback.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console

from floodctl.core.errors import FloodError

console = Console(stderr=False)
err_console = Console(stderr=True)


class FloodGroup(click.Group):
    """A click group that turns FloodError into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FloodError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, markup=True)
            for detail in exc.details[:50]:
                err_console.print(f"  - {detail}", highlight=False, markup=False)
            if len(exc.details) > 50:
                err_console.print(f"  … and {len(exc.details) - 50} more", highlight=False)
            ctx.exit(1)
        except KeyboardInterrupt:
            ctx.exit(130)
