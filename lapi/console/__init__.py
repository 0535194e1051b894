"""The analyst web console: static HTML, CSS and JavaScript modules served by the API's own app.

The console holds no data and has no server side of its own: the page calls the ``/v1`` API with
the analyst's token, so every query it makes is authorised, gated and audited as any other client's
(lapi/api/console_routes.py serves the files; :mod:`lapi.console.search` backs plate search).
"""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
