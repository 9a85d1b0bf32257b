"""The TAXII 2.1 server at /taxii2/ (routes.py; protocol.py the wire format; auth.py
who reads). Mounted by api.app with `app.include_router(taxii.router)`."""

from api.taxii.routes import router

__all__ = ["router"]
