"""The embedded Data Transfer worker: the REST API of docs/api.md over local storages."""
