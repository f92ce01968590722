"""The web pages for branch staff and administrators: server-rendered Jinja with a little plain JavaScript.

Pages read what they show from the services and change things through the JSON API with fetch(), so the API's
access rules and validation are the only ones. `build_web_router()` and `template_config()` are wired in app.py.
"""

from __future__ import annotations

from ventanilla.web.router import build_web_router
from ventanilla.web.templating import template_config

__all__ = ["build_web_router", "template_config"]
