"""Find, align and crop the largest face for FaceSwap (the IP-Adapter Plus-Face input).

Detector: OpenCV's Haar cascades (frontal face + eyes), whose XML data ships inside the
`opencv-python-headless` 4.x wheel (`cv2.data.haarcascades`), so it works offline with no download and no
pickled weights. (OpenCV 5 wheels no longer bundle the cascades; requirements pin `<5`.) The eyes, when both
are found, level the face: the image is rotated about the face centre before cropping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from studio.types import InvalidRequest

# The crop is this many face-box widths wide: the whole head with a little margin, as Plus-Face was trained.
CROP_MARGIN = 1.6
CROP_SIZE = 512


@dataclass(frozen=True)
class FaceCrop:
    image: Image.Image  # CROP_SIZE x CROP_SIZE RGB, the face centred and levelled
    box: tuple[int, int, int, int]  # the detected face (left, top, right, bottom) in the input image
    angle: float  # degrees the face was rotated to level the eyes


def _cascade(name: str):
    import cv2

    classifier = cv2.CascadeClassifier(cv2.data.haarcascades + name)
    if classifier.empty():
        raise RuntimeError(f"OpenCV's bundled cascade '{name}' is missing; install opencv-python-headless<5")
    return classifier


def detect_faces(image: Image.Image) -> list[tuple[int, int, int, int]]:
    """Face boxes (left, top, right, bottom), largest first."""
    import cv2

    gray = cv2.equalizeHist(np.asarray(image.convert("L")))
    smallest = max(24, min(gray.shape) // 12)
    found = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(smallest, smallest)
    )
    boxes = [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h in found]
    return sorted(boxes, key=lambda box: (box[2] - box[0]) * (box[3] - box[1]), reverse=True)


def _eye_angle(gray: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """The eyes' tilt in degrees (0 when both eyes are not found)."""
    left, top, right, bottom = box
    width = right - left
    upper = gray[top : top + (bottom - top) // 2 + 1, left:right]
    eyes = _cascade("haarcascade_eye.xml").detectMultiScale(
        upper, scaleFactor=1.1, minNeighbors=5, minSize=(width // 10, width // 10)
    )
    centres = [(x + w / 2, y + h / 2) for x, y, w, h in eyes]
    left_eyes = [c for c in centres if c[0] < width / 2]
    right_eyes = [c for c in centres if c[0] >= width / 2]
    if not left_eyes or not right_eyes:
        return 0.0
    (x1, y1), (x2, y2) = left_eyes[0], right_eyes[0]
    angle = math.degrees(math.atan2(y2 - y1, x2 - x1))
    return angle if abs(angle) <= 30 else 0.0  # a larger tilt means a false eye, not a tilted head


def crop_face(image: Image.Image, field: str = "image") -> FaceCrop:
    """The largest face, levelled and cropped square; InvalidRequest naming `field` when there is none."""
    import cv2

    rgb = image.convert("RGB")
    boxes = detect_faces(rgb)
    if not boxes:
        raise InvalidRequest(field, "no face was found in this image; FaceSwap needs a clear, roughly frontal face")
    box = boxes[0]
    gray = np.asarray(rgb.convert("L"))
    angle = _eye_angle(gray, box)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = CROP_MARGIN * max(box[2] - box[0], box[3] - box[1])
    # One affine map: rotate about the face centre, then move the crop window to the output square.
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, CROP_SIZE / side)
    matrix[0, 2] += CROP_SIZE / 2 - cx
    matrix[1, 2] += CROP_SIZE / 2 - cy
    out = cv2.warpAffine(
        np.asarray(rgb), matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )
    return FaceCrop(Image.fromarray(out), box, angle)
