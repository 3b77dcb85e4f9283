"""What can go wrong talking to a hub, as exceptions a caller can tell apart.

The hub answers every refusal with a stable code and a sentence
(``{"code": "not_found", "message": "no task abc"}``); :class:`HubError`
keeps both, with the HTTP status, so a script can branch on the code and
show the sentence. A hub that cannot be reached at all is
:class:`UnreachableError`, so a wrong address is not mistaken for a wrong
token; a download whose bytes do not hash to what the hub listed is
:class:`DownloadError`. All are :class:`GantryError`.
"""

from __future__ import annotations


class GantryError(Exception):
    """Any failure of a call to a Gantry hub."""


class HubError(GantryError):
    """The hub refused or failed a call: its HTTP status, code and sentence.

    ``code`` is one of the hub's stable codes (``unauthorized``,
    ``not_found``, ``invalid_job``, ...), or ``http_error`` when the answer
    was not a Gantry error body (a proxy's page, say).
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} (HTTP {status}, {code})")
        self.status = status
        self.code = code
        self.message = message


class UnreachableError(GantryError):
    """The hub did not answer: a wrong address, a stopped hub, a TLS failure."""


class DownloadError(GantryError):
    """A download broke off, or its bytes do not hash to the listed sha256.

    Nothing is left at the destination: the bytes are written beside it and
    renamed into place only once verified.
    """
