"""Renderers: text, json, github, graph formats and the progress reporters of a run; all read the
same result objects."""
