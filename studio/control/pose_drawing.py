"""COCO body keypoints (as VitPose gives them) drawn as an OpenPose skeleton map, the input OpenPose
ControlNets were trained on: 18 points (COCO's 17 plus a neck between the shoulders), 17 limbs, OpenPose's
colours, limbs as ellipses at 60% brightness under full-colour joints, on black; several people on one map
as OpenPose draws them (every person's limbs first, then every person's joints)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from studio.types import InvalidRequest

# A keypoint counts when its heatmap peak scores at least this (VitPose's scores are heatmap maxima, ~0..1).
KEYPOINT_THRESHOLD = 0.3
# Fewer confident keypoints than this is not a person (OpenPose's own rule: a body needs 4 parts).
MIN_KEYPOINTS = 4
COCO_KEYPOINTS = 17  # body keypoints per person, in COCO's order
NECK = -1  # OpenPose point 1 is not a COCO keypoint: the midpoint of the shoulders
# OpenPose's 18 points, in its order, as COCO keypoint indices.
OPENPOSE_FROM_COCO = (0, NECK, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
COCO_LEFT_SHOULDER, COCO_RIGHT_SHOULDER = 5, 6
# OpenPose limbs (pairs of OpenPose point indices) and the colours it draws limbs and points in (RGB).
LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip
COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip
# OpenPose draws 4-pixel sticks and joints on a 512-pixel map; the width scales with the map.
STICK_WIDTH_AT_512 = 4


def openpose_points(
    keypoints: np.ndarray, scores: np.ndarray, width: int, height: int
) -> list[tuple[float, float] | None]:
    """The 18 OpenPose points (x, y) in pixels, None where a keypoint is unsure or off the map."""
    keypoints = np.asarray(keypoints, np.float64).reshape(-1, 2)
    scores = np.asarray(scores, np.float64).reshape(-1)

    def coco(index: int) -> tuple[float, float] | None:
        x, y = keypoints[index]
        if scores[index] < KEYPOINT_THRESHOLD or not (0 <= x < width and 0 <= y < height):
            return None
        return float(x), float(y)

    points: list[tuple[float, float] | None] = []
    for index in OPENPOSE_FROM_COCO:
        if index != NECK:
            points.append(coco(index))
            continue
        left, right = coco(COCO_LEFT_SHOULDER), coco(COCO_RIGHT_SHOULDER)
        points.append(((left[0] + right[0]) / 2, (left[1] + right[1]) / 2) if left and right else None)
    return points


def draw_openpose(points: list[tuple[float, float] | None], width: int, height: int) -> Image.Image:
    """The OpenPose skeleton of one body on a black width x height RGB map."""
    return draw_openpose_people([points], width, height)


def draw_openpose_people(people: list[list[tuple[float, float] | None]], width: int, height: int) -> Image.Image:
    """The OpenPose skeletons of several bodies (each its 18 `openpose_points`) on one black width x height map."""
    import cv2

    canvas = np.zeros((height, width, 3), np.uint8)
    stick = max(1, round(STICK_WIDTH_AT_512 * min(width, height) / 512))
    for (a, b), colour in zip(LIMBS, COLOURS):
        for points in people:
            if points[a] is None or points[b] is None:
                continue
            (xa, ya), (xb, yb) = points[a], points[b]
            length = math.hypot(xa - xb, ya - yb)
            angle = math.degrees(math.atan2(ya - yb, xa - xb))
            centre = (round((xa + xb) / 2), round((ya + yb) / 2))
            polygon = cv2.ellipse2Poly(centre, (int(length / 2), stick), int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, polygon, [int(channel * 0.6) for channel in colour])
    for index, colour in enumerate(COLOURS):
        for points in people:
            if points[index] is not None:
                cv2.circle(canvas, (round(points[index][0]), round(points[index][1])), stick, colour, thickness=-1)
    return Image.fromarray(canvas, "RGB")


def pose_map(keypoints, scores, width: int, height: int, field: str = "image") -> Image.Image:
    """The OpenPose map of the people whose COCO keypoints are given: one person's (17, 2) keypoints and (17,)
    scores, or several people's (people, 17, 2) and (people, 17). A person with fewer than MIN_KEYPOINTS
    confident keypoints is left out; InvalidRequest naming `field` when that leaves nobody."""
    keypoints = np.asarray(keypoints, np.float64).reshape(-1, COCO_KEYPOINTS, 2)
    scores = np.asarray(scores, np.float64).reshape(len(keypoints), -1)
    people = [openpose_points(k, s, width, height) for k, s in zip(keypoints, scores)]
    counts = [sum(point is not None for point in points) for points in people]
    found = max(counts, default=0)
    if found < MIN_KEYPOINTS:
        raise InvalidRequest(
            field,
            f"no person found for the Pose slot ({found} body keypoints, {MIN_KEYPOINTS} needed); "
            "use a photo where a person is clearly visible, or upload a ready pose map with 'skip preprocessing'",
        )
    return draw_openpose_people(
        [points for points, count in zip(people, counts) if count >= MIN_KEYPOINTS], width, height
    )
