"""The front end: YAML source with positions, schema, variables, paths, models, loading."""
