"""The command line: one thin module per command, one error boundary in main.py."""
