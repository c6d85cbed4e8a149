"""What every response carries and every client is held to: security headers, generic error
pages, a request size limit and a per-client rate limit on the API."""

from __future__ import annotations

import threading
import time

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

MAX_REQUEST_BYTES = 64 * 1024


class RateLimiter:
    """A token bucket per client address: `rate` requests per second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, now)
            if len(self._buckets) > 10_000:  # forget idle clients
                cutoff = now - 600
                self._buckets = {k: b for k, b in self._buckets.items() if b[1] > cutoff}
            return allowed


def content_security_policy(script_hashes: list[str]) -> str:
    scripts = " ".join(script_hashes)  # Dash returns them quoted: 'sha256-…'
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {scripts}".strip(),
            "style-src 'self' 'unsafe-inline'",  # plotly.js sets inline styles on its SVG
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def install(server: Flask, csp: str, limiter: RateLimiter | None) -> None:
    server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    server.config["PROPAGATE_EXCEPTIONS"] = False

    @server.before_request
    def _limit():
        if limiter and request.path.startswith("/api/"):
            client = request.remote_addr or "unknown"
            if not limiter.allow(client):
                return jsonify({"error": "too many requests"}), 429, {"Retry-After": "1"}
        return None

    @server.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", csp)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "geolocation=(), camera=(), microphone=()"
        headers.pop("Server", None)
        return response

    @server.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if request.path.startswith("/api/") or request.path.startswith("/_dash"):
            return jsonify({"error": error.name}), error.code
        return _page(error.code, error.name), error.code

    @server.errorhandler(Exception)
    def _unexpected(error: Exception):
        server.logger.exception("unhandled error on %s", request.path)
        if request.path.startswith("/api/") or request.path.startswith("/_dash"):
            return jsonify({"error": "internal error"}), 500
        return _page(500, "Something went wrong"), 500


def _page(code: int, title: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{code} {title}</title></head><body style='font-family:sans-serif'>"
        f"<h1>{code} {title}</h1><p><a href='/'>Back to MediDash</a></p></body></html>"
    )
