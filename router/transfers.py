"""How a charger's firmware update or log upload ended, from the status it last reported.

One table for the status page and the metrics, so both name the same outcomes.
"""

from __future__ import annotations

from router import events as ev

# Statuses after which a transfer is over (1.6 and 2.0.1 spellings), by kind.
_OUTCOMES = {
    "firmware": {
        "Installed": "installed",
        "DownloadFailed": "download_failed",
        "InstallationFailed": "installation_failed",
        "InstallVerificationFailed": "installation_failed",
        "InvalidSignature": "invalid_signature",
    },
    "log": {
        "Uploaded": "uploaded",
        "UploadFailed": "upload_failed",
        "UploadFailure": "upload_failed",
        "BadMessage": "upload_failed",
        "NotSupportedOperation": "not_supported",
        "PermissionDenied": "permission_denied",
        "AcceptedCanceled": "canceled",
    },
}


def transfer_outcome(event: ev.TransferRequested | ev.TransferStatusReported) -> str | None:
    """The outcome this event ends its transfer with, or None while it goes on."""
    if isinstance(event, ev.TransferRequested):
        if event.answer == "NothingToUpload":  # 1.6 GetDiagnostics answered without a file
            return "nothing_to_upload"
        return None if event.answer == "Accepted" else "refused"
    return _OUTCOMES.get(event.kind, {}).get(event.status)
