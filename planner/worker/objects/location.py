"""A remote's URL: a local directory (a plain path or `file:///abs/path`) or an object store
location (`s3://bucket/prefix`). Parsing imports nothing beyond the standard library, so that the
CLI can check `--remote` without loading the object store client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

# S3's rules for bucket names (3-63 characters: lowercase letters, digits, dots, hyphens)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
SCHEMES = ("s3",)


@dataclass(frozen=True)
class ObjectLocation:
    """Where an object remote's keys live: `bucket`, and `prefix` (no leading or trailing "/",
    "" for the whole bucket) that every key of the remote starts with."""

    scheme: str
    bucket: str
    prefix: str = ""

    @property
    def url(self) -> str:
        """The remote's URL as given (normalised): `s3://bucket/prefix`."""
        return f"{self.scheme}://{self.bucket}/{self.prefix}".rstrip("/")

    def key_prefix(self) -> str:
        """What every key of the remote starts with: `prefix/`, or "" for the whole bucket."""
        return f"{self.prefix}/" if self.prefix else ""


def parse_location(text: str) -> Path | ObjectLocation:
    """A remote's root: an absolute local directory, or an object store location.

    Raises:
        ValueError: an unknown scheme, a URL with credentials, a query, or a bad bucket name;
            a prefix with empty, `.` or `..` segments.
    """
    if "://" not in text:
        return Path(text).expanduser().resolve()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"{text}: file URLs name a local path (file:///abs/path)")
        return Path(unquote(parts.path)).resolve()
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r} (known: file, {', '.join(SCHEMES)})")
    if "@" in parts.netloc:
        raise ValueError(
            "credentials do not belong in a remote's URL: they come from the AWS configuration "
            "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...)"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{scheme} URLs take no query or fragment")
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"{bucket!r}: not a valid bucket name")
    segments = [s for s in parts.path.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise ValueError("'.' and '..' are not allowed in a prefix")
    return ObjectLocation(scheme, bucket, "/".join(segments))
