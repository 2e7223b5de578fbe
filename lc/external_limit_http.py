"""The HTTP endpoint an EMS sets the site's external limit through, on the metrics port:

    PUT    /api/external-limit  {"limit_a": 20}  or {"limit_w": 13800}, optional "duration_s"
    DELETE /api/external-limit  releases it

Both need `Authorization: Bearer <token>`; the config holds only the token's SHA-256, compared
in constant time. A host outside `allowed_clients` gets 403 before its token is looked at; a
refusal either way is a security event. Whatever arrives here comes from the site network:
the body is checked whole and refused with 400 and a reason, never half applied.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from balancer.external_limit import ExternalInput
from lc.external_limits import ExternalLimits

PATH = "/api/external-limit"
MAX_BODY_BYTES = 1024
# Far above any grid connection an LC balances: a larger value is a mistake, not a limit.
MAX_AMPS = 10_000.0
_KEYS = {"limit_a", "limit_w", "duration_s"}


class BadLimit(ValueError):
    """The request's body is not a limit; its text says why."""


@dataclass(frozen=True, slots=True)
class LimitRequest:
    amps: float | None  # None with watts set
    watts: float | None
    duration_s: float | None


def parse_limit_request(body: bytes) -> LimitRequest:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadLimit("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadLimit("expected a JSON object")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise BadLimit(f"unknown keys: {', '.join(unknown)}")
    given = [key for key in ("limit_a", "limit_w") if key in data]
    if len(given) != 1:
        raise BadLimit("give exactly one of limit_a and limit_w")
    value = _number(data, given[0], 0.0)
    duration = _number(data, "duration_s", 1.0) if "duration_s" in data else None
    if given[0] == "limit_a":
        if value > MAX_AMPS:
            raise BadLimit(f"limit_a above {MAX_AMPS:g} A")
        return LimitRequest(value, None, duration)
    return LimitRequest(None, value, duration)


def _number(data: dict[str, Any], key: str, least: float) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadLimit(f"{key}: expected a number")
    if value < least:
        raise BadLimit(f"{key}: at least {least:g}")
    return float(value)


def token_matches(header: str | None, token_sha256: str) -> bool:
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    presented = hashlib.sha256(token.strip().encode("utf-8", "replace")).hexdigest()
    return hmac.compare_digest(presented, token_sha256)


def add_routes(app: web.Application, limits: ExternalLimits, token_sha256: str) -> None:
    def refused(request: web.Request) -> web.Response | None:
        host = request.remote or ""
        if not limits.admits(host, ExternalInput.HTTP):
            return web.json_response({"error": "this host may not set the limit"}, status=403)
        if token_matches(request.headers.get("Authorization"), token_sha256):
            return None
        limits.refused(host, ExternalInput.HTTP, "no valid bearer token")
        return web.json_response(
            {"error": "a valid bearer token is needed"},
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def put(request: web.Request) -> web.Response:
        if (answer := refused(request)) is not None:
            return answer
        body = await request.content.read(MAX_BODY_BYTES + 1)
        try:
            if len(body) > MAX_BODY_BYTES:
                raise BadLimit(f"the body is over {MAX_BODY_BYTES} bytes")
            asked = parse_limit_request(body)
        except BadLimit as bad:
            return web.json_response({"error": str(bad)}, status=400)
        amps = asked.amps if asked.watts is None else limits.amps_of_watts(asked.watts)
        expires_at = None if asked.duration_s is None else time.time() + asked.duration_s
        limits.set(ExternalInput.HTTP, amps, expires_at)
        return web.json_response({"limit_a": amps, "expires_at": expires_at})

    async def delete(request: web.Request) -> web.Response:
        if (answer := refused(request)) is not None:
            return answer
        limits.release(ExternalInput.HTTP)
        return web.json_response({"limit_a": None})

    app.router.add_put(PATH, put)
    app.router.add_delete(PATH, delete)
