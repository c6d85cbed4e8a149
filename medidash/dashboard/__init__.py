"""The MediDash dashboard: state / ZIP / practice lookups over the `marts` schema.

Why Plotly Dash on Flask: the whole product is Python, the maps and treemaps are plotly
figures, Dash serves its own JavaScript (no CDN) and its server is a plain Flask app, so the
JSON API, the security headers, the docs site and a production WSGI server (gunicorn) all sit
on one well-known stack. The dashboard only reads: it connects as the read-only role.
"""
