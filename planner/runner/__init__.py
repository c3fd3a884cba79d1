"""Execution: a compiled plan run against an engine (the Data Transfer API), journaled."""
