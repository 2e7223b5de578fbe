"""A 2.0.1 answer refusing a request, with the StatusInfoType that says why."""

from __future__ import annotations

from typing import Any

ADDITIONAL_INFO_LIMIT = 512  # StatusInfoType.additionalInfo


def rejected(reason_code: str, additional_info: str) -> dict[str, Any]:
    """`{"status": "Rejected", "statusInfo": ...}`, the detail cut to what the schema takes."""
    info = {"reasonCode": reason_code, "additionalInfo": additional_info[:ADDITIONAL_INFO_LIMIT]}
    return {"status": "Rejected", "statusInfo": info}
