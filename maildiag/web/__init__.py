"""The web application: pages and the JSON API, composed in ``create_app``."""

from maildiag.web.app import create_app

__all__ = ["create_app"]
