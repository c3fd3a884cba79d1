"""The embedded Data Transfer worker: the REST API of WIRE.md over local storages."""
