"""A multipart/form-data body → its fields, with the standard library's MIME parser (byte-exact payloads), so file
uploads need no extra dependency. The body is already bounded by the size limit when it gets here."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP

from headwater.errors import InvalidRequestError


@dataclass(frozen=True)
class FormField:
    """One part of the form: its bytes and, for a file, the name the client gave it."""

    data: bytes
    filename: str | None = None


def parse_form(content_type: str, body: bytes) -> dict[str, FormField]:
    """The form's fields by name; a body that is not multipart/form-data is a 400 saying how to send it."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise InvalidRequestError(
            f"send the upload as multipart/form-data (got content type {content_type or 'none'!r})", param="file"
        )
    header = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(header + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise InvalidRequestError("the multipart/form-data body could not be read", param="file")
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = FormField(payload if isinstance(payload, bytes) else b"", part.get_filename())
    return fields
