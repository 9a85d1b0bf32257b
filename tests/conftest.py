"""Shared test configuration.

Unit tests need no servers. Integration tests (tests/integration) run against the real
local services that `make test` starts (deploy/local/test.sh) and find them through the
IOC_* environment; they fail, never skip, when the services are missing.
"""
