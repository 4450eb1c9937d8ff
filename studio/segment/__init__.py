"""Masks from words (Grounding DINO boxes -> SAM masks) and Enhance, which re-paints the regions they find."""
