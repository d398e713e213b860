"""The HTTP service: ``create_app(settings)`` builds a FastAPI app; routers are thin (parse, authorise, call
one function of ``cases``/``auth``/``banks``/``effects``, map the result). Errors are RFC 9457 problem+json."""

from bastion.api.app import create_app
from bastion.api.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
