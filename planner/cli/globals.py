"""The global options `-v`, `-q` and `--color`: accepted before the command name
(`planner -v validate x.yaml`) and after it (`planner validate x.yaml -v`), with the same meaning.

A command that has an option of the same name keeps its own (`planner worker serve -v` logs every
request); `validate` and `run` read `-q` from here whichever place it was given in.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from planner.render.style import force_color

COLOR_MODES = {"auto": None, "always": True, "never": False}


@dataclass
class GlobalOptions:
    """What the global options said, wherever on the command line they were given."""

    verbose: int = 0
    quiet: bool = False
    color: str = "auto"


def global_options() -> GlobalOptions:
    """The global options of the command being run (defaults outside a command)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.find_root().obj if ctx is not None else None
    return found if isinstance(found, GlobalOptions) else GlobalOptions()


def _options(ctx: click.Context) -> GlobalOptions:
    return ctx.find_root().ensure_object(GlobalOptions)


def _verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    _options(ctx).verbose += value


def _quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _options(ctx).quiet = True


def _color(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        _options(ctx).color = value
        forced = COLOR_MODES[value]
        force_color(forced)
        ctx.color = ctx.find_root().color = forced  # click.echo keeps or strips styles by it


def global_params() -> list[click.Option]:
    """Fresh `-v`, `-q` and `--color` options (one set per command that takes them)."""
    return [
        click.Option(
            ["-v", "--verbose"],
            count=True,
            expose_value=False,
            callback=_verbose,
            help="More detail; tracebacks for internal errors.",
        ),
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_quiet,
            help="Less output (validate: problems only; run: the final summary only).",
        ),
        click.Option(
            ["--color"],
            type=click.Choice(list(COLOR_MODES)),
            default=None,
            expose_value=False,
            callback=_color,
            help="Colour the output: auto (a terminal without NO_COLOR), always or never.",
        ),
    ]


def add_global_options(command: click.Command) -> None:
    """Let `command` (and, for a group, its subcommands) take the global options, except those
    whose names it already uses for options of its own."""
    if getattr(command, "_has_global_options", False):
        return
    taken = {name for param in command.params for name in param.opts + param.secondary_opts}
    command.params += [p for p in global_params() if not taken & set(p.opts)]
    command._has_global_options = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_global_options(sub)
