"""Renderers: text, json, github, graph formats; all read the same result objects."""
