"""`facegen serve`: the HTTP API (/v1) and the web studio (/), over the pipeline and explore tools.

Needs the `server` extra (pip install 'facegen[server]'): FastAPI, uvicorn, python-multipart.
"""
from .app import check_bind, create_app, is_loopback
from .limits import Limits

__all__ = ["create_app", "check_bind", "is_loopback", "Limits"]
