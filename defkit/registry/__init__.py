"""Talking to OCI/Docker registries: references, credentials, the HTTP client and the blob store.

Modules are imported by name (`defkit.registry.client`, ...) so that importing this package
does not load httpx."""
