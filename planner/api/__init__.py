"""The Data Transfer API: wire models shared by the client and the worker, and the async client."""
