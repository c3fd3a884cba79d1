"""Object storage remotes (S3 and S3-compatible stores): the worker's second storage backend.

`location` parses a remote's URL (no third-party import: the CLI uses it); `client` makes the
store (obstore, imported only when an object remote is configured) and turns its errors into
StorageError; `backend` maps validated path segments to keys and answers the per-path routes;
`listing` lists with the metadata cache; `transfer` copies between kinds (local↔object,
object↔object). docs/worker.md, "Storage backends", says what each route means on a bucket.
"""
