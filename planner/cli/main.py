"""The `planner` command group and the one error boundary: every exception becomes a message on
stderr and a documented exit code (docs/cli.md)."""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from planner import __version__
from planner.cli.globals import GlobalOptions, add_global_options, global_params
from planner.cli.prestart import prepare
from planner.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_INVALID, PlanError, PlannerError
from planner.gcpause import exit_now, own_process
from planner.render.style import force_color

# where a bug report is explained: a page of the docs, named by its path in planner's source
REPORTING_DOC = "docs/errors.md#reporting-a-problem"


# command name -> module under planner.cli: imported only when that command runs, so that
# `planner --version` and the embedded worker's start do not load networkx, jsonschema, ...
COMMANDS = {
    "validate": "validate",
    "plan": "plan",
    "run": "run",
    "show": "show",
    "graph": "graph",
    "runs": "runs",
    "schema": "schema",
    "worker": "worker",
    "ops": "ops",
    "completion": "completion",
}


class _Group(click.Group):
    """Lists commands in the order of the docs and imports each one lazily."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"planner.cli.{module_name}")
        command = getattr(module, cmd_name)
        assert isinstance(command, click.Command)
        add_global_options(command)  # `planner validate -v x.yaml` as `planner -v validate ...`
        return command


@click.group(
    cls=_Group, params=global_params(), context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, "--version", prog_name="planner")
def cli() -> None:
    """planner: declarative transfer plans, validated, previewed and run against a Data
    Transfer API.

    The global options -v, -q and --color may also follow the command name.
    """


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the process exit code; nothing else in planner exits. Without
    `argv` (the console script, `python -m planner`) the process is planner's own: the command's
    start-up may freeze what it built, and the process ends here, with the exit code."""
    if argv is None:
        own_process()
        prepare(sys.argv[1:])  # done already by the console script: planner/cli/prestart.py
        exit_now(_main(sys.argv[1:]))
    return _main(argv)


def _main(args: list[str]) -> int:
    options = GlobalOptions()  # filled in by the options' callbacks, wherever they are given
    force_color(None)
    try:
        result = cli.main(args=args, prog_name="planner", standalone_mode=False, obj=options)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("planner: interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return EXIT_INVALID
    except PlanError as exc:
        from planner.render.diagnostics import render_diagnostics
        from planner.render.style import use_color

        color = use_color(sys.stderr)
        click.echo(render_diagnostics(exc.diagnostics, color), err=True, color=color)
        return exc.exit_code
    except PlannerError as exc:
        click.echo(f"planner: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("planner: interrupted", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the boundary: a bug, reported once
        click.echo(
            f"planner: internal error: {type(exc).__name__}: {exc}. This is a bug in planner: "
            "run the same command again with -v for the traceback, and report it as "
            f"{REPORTING_DOC} (in planner's source) describes.",
            err=True,
        )
        if options.verbose:
            traceback.print_exc()
        return EXIT_INTERNAL
    finally:
        force_color(None)
    return result if isinstance(result, int) else 0
