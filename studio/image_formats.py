"""The file formats images are saved in (PNG, JPEG, WebP) and where each keeps its two metadata texts.

- PNG: a `parameters` tEXt chunk (the A1111 line) and a `studio` iTXt chunk (the request's JSON), as before.
- JPEG and WebP: the A1111 line in EXIF UserComment (Exif IFD, `UNICODE` + UTF-16BE, as A1111 writes it and
  Civitai reads it; and again, as ASCII, in the first IFD, where Fooocus reads it), and the request's JSON in an XMP packet (`studio:request`, base64 of UTF-8 JSON, so no
  XML escaping is needed and it is read back with a regular expression, never an XML parser).

Reading also finds what Fooocus writes: a `fooocus_scheme` PNG chunk, and for JPEG/WebP its UserComment and
MakerNote (scheme name) in the first IFD.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import BinaryIO

from PIL import Image, PngImagePlugin

# one entry per studio.types.OUTPUT_FORMATS
SUFFIXES = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
READABLE_PIL_FORMATS = tuple(PIL_FORMATS.values())

STUDIO_CHUNK = "studio"
PARAMETERS_CHUNK = "parameters"
FOOOCUS_SCHEME_CHUNK = "fooocus_scheme"

EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
MAKER_NOTE = 0x927C
_UNICODE = b"UNICODE\0"
_ASCII = b"ASCII\0\0\0"
_XMP_REQUEST = re.compile(rb'studio:request="([A-Za-z0-9+/=]*)"')
_XMP_TEMPLATE = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:studio="urn:sdxl-studio:metadata:1" studio:request="{}"/>'
    '</rdf:RDF></x:xmpmeta><?xpacket end="r"?>'
)


def write_image(
    file: BinaryIO, image: Image.Image, output_format: str, quality: int, parameters: str, studio_json: str
) -> None:
    """Encode `image` into `file` with both metadata texts where `output_format`'s readers look for them."""
    if output_format == "png":  # exactly as the studio always wrote PNGs
        info = PngImagePlugin.PngInfo()
        info.add_text(PARAMETERS_CHUNK, parameters)
        info.add_itxt(STUDIO_CHUNK, studio_json)
        image.save(file, format="PNG", pnginfo=info)
        return
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = _UNICODE + parameters.encode("utf-16-be")
    exif[USER_COMMENT] = parameters  # also where Fooocus looks (first IFD, ASCII: other characters become "?")
    xmp = _XMP_TEMPLATE.format(base64.b64encode(studio_json.encode("utf-8")).decode("ascii")).encode("utf-8")
    image.convert("RGB").save(file, format=PIL_FORMATS[output_format], quality=quality, exif=exif.tobytes(), xmp=xmp)


def studio_text(image: Image.Image) -> str | None:
    """The studio's request JSON recorded in an opened image, or None."""
    text = getattr(image, "text", {}).get(STUDIO_CHUNK) or image.info.get(STUDIO_CHUNK)
    if text:
        return text
    xmp = image.info.get("xmp")
    match = _XMP_REQUEST.search(xmp) if isinstance(xmp, bytes) else None
    if not match:
        return None
    try:
        return base64.b64decode(match.group(1), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def parameters_text(image: Image.Image) -> str | None:
    """The generation-parameters text (A1111 line, or Fooocus's JSON) in an opened image, or None."""
    text = getattr(image, "text", {}).get(PARAMETERS_CHUNK) or image.info.get(PARAMETERS_CHUNK)
    if isinstance(text, str) and text:
        return text
    if "exif" not in image.info:
        return None
    exif = image.getexif()
    for value in (exif.get_ifd(EXIF_IFD).get(USER_COMMENT), exif.get(USER_COMMENT)):  # A1111's, then Fooocus's
        decoded = user_comment(value)
        if decoded:
            return decoded
    return None


def fooocus_scheme(image: Image.Image) -> str | None:
    """The metadata scheme Fooocus names beside its parameters ("fooocus" or "a1111"), or None."""
    scheme = getattr(image, "text", {}).get(FOOOCUS_SCHEME_CHUNK) or image.info.get(FOOOCUS_SCHEME_CHUNK)
    if not scheme and "exif" in image.info:
        scheme = image.getexif().get(MAKER_NOTE)
    if isinstance(scheme, bytes):
        scheme = scheme.decode("utf-8", "replace")
    return scheme.strip("\0 ").casefold() if isinstance(scheme, str) else None


def user_comment(value: object) -> str | None:
    """An EXIF UserComment as text: its 8-byte character-code prefix says how it is encoded."""
    if isinstance(value, str):
        return value.strip("\0") or None
    if not isinstance(value, bytes) or not value:
        return None
    if value.startswith(_UNICODE):
        body = value[len(_UNICODE) :]
        # A1111 (piexif) writes big-endian; a few writers little-endian: ASCII text shows which byte is 0
        little = len(body) > 1 and body[1:2] == b"\0" and body[0:1] != b"\0"
        text = body.decode("utf-16-le" if little else "utf-16-be", "replace")
    elif value.startswith((_ASCII, b"\0" * 8)):
        text = value[8:].decode("utf-8", "replace")
    else:
        text = value.decode("utf-8", "replace")
    return text.strip("\0") or None
