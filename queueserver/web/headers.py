"""Security headers on every HTTP answer (web/middleware.py puts them on).

The screens load nothing from another host and run no inline script or style, so the policy
can be strict from the start: everything from this server, nothing else, never in a frame.
"""

from __future__ import annotations

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "media-src 'self'",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

ALWAYS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
# Scripts and styles may be kept but are checked on each load, so a new release reaches every
# screen at its next reload; everything else (pages, API answers) holds staff or personal data
# and is never stored. Answers that set their own policy (clips) keep it.
STATIC_PREFIX = "/static/"
STATIC_CACHE = b"no-cache"
NO_STORE = b"no-store"


def with_security(headers: list[tuple[bytes, bytes]], path: str,
                  request_id: str) -> list[tuple[bytes, bytes]]:
    """An answer's headers with the policy's (those it set itself kept), its cache rule and the
    request's id (`X-Request-ID`, operations/metrics.py)."""
    present = {name.lower() for name, _ in headers}
    out = [*headers, *((n, v) for n, v in ALWAYS if n not in present)]
    if b"cache-control" not in present:
        out.append((b"cache-control", STATIC_CACHE if path.startswith(STATIC_PREFIX)
                    else NO_STORE))
    out.append((b"x-request-id", request_id.encode()))
    return out
