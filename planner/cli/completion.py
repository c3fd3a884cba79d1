"""`planner completion bash|zsh|fish`: print the shell completion script (click's own)."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_PLANNER_COMPLETE"  # the variable click's completion protocol reads


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash: planner completion bash > ~/.local/share/bash-completion/completions/planner
    zsh:  planner completion zsh > "${fpath[1]}/_planner"
    fish: planner completion fish > ~/.config/fish/completions/planner.fish
    """
    from click.shell_completion import get_completion_class

    from planner.cli.main import cli

    shell_class = get_completion_class(shell)
    assert shell_class is not None  # every name in SHELLS is one click knows
    click.echo(shell_class(cli, {}, "planner", COMPLETE_VAR).source())
