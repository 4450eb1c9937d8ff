"""An edge-preserving (bilateral) blur of latents: smooths texture, keeps edges. Used by sharpness guidance.

Each pixel becomes a weighted mean of its (2r+1)² neighbours; a neighbour's weight falls with its distance
(spatial Gaussian) and with how different it is from the centre (range Gaussian, over all channels), so
across an edge the other side hardly counts. The range width follows each image's own spread, which makes
the filter independent of the latent scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RADIUS = 2
SPATIAL_SIGMA = 1.5
RANGE_SIGMA_OF_STD = 0.5  # the range Gaussian's width, as a fraction of each image's standard deviation


def bilateral_blur(image: torch.Tensor, radius: int = RADIUS) -> torch.Tensor:
    """Bilateral blur of a (B, C, H, W) tensor, computed in fp32 and returned in its dtype."""
    source = image.float()
    height, width = source.shape[-2:]
    padded = F.pad(source, (radius, radius, radius, radius), mode="reflect" if min(height, width) > radius else "replicate")
    range_sigma = source.flatten(1).std(dim=1).clamp_min(1e-6).view(-1, 1, 1, 1) * RANGE_SIGMA_OF_STD
    total = torch.zeros_like(source)
    weights = torch.zeros_like(source[:, :1])
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            neighbour = padded[:, :, radius + dy : radius + dy + height, radius + dx : radius + dx + width]
            difference = (neighbour - source).pow(2).mean(dim=1, keepdim=True)
            weight = torch.exp(-difference / (2 * range_sigma**2)) * _spatial_weight(dy, dx)
            total += weight * neighbour
            weights += weight
    return (total / weights).to(image.dtype)


def _spatial_weight(dy: int, dx: int) -> float:
    return float(torch.exp(torch.tensor(-(dy * dy + dx * dx) / (2 * SPATIAL_SIGMA**2))))
