"""Tiny random-weight stand-ins of the text-prompted detector (Grounding DINO) and the segmenter (SAM), built
offline in the real classes, saved with safetensors weights and processor files in the real layouts, so they
load through `load_detector` / `load_segmenter` like the downloaded models (`--model tiny`, tests).

Test-only seam: random detectors find nothing useful, so the tiny detector is made deterministic. Its last
text-enhancer and decoder layer norms output constants (weight 0, bias set), so every query scores
`TINY_DETECTION_SCORE` for every word of any phrase, and its box head outputs saturated logits (weights 0,
bias +-40), so every query's box is (cx, cy, w, h) = (1, 0, 1, 1): the top-right quadrant once clipped to the
picture (`TINY_DETECTED_BOX`). The text still goes through the tokenizer, the model and the real
post-processing; SAM keeps its random weights.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

TINY_SEED = 5
TINY_SIDE = 64  # both processors resize to this many pixels a side
# Words of the tiny WordPiece vocabulary (Grounding DINO needs a BERT tokenizer): the phrases tests and
# `--model tiny` users type.
TINY_DETECTOR_WORDS = ["face", "faces", "hand", "hands", "eye", "eyes", "person", "people", "background", "sky", "cat", "dog", "woman", "man", "her", "his", "a", "the", "and", "."]
TINY_DETECTION_SCORE = 0.8  # every query's score for every word (sigmoid of the constant logit)
# Relative (x0, y0, x1, y1) of the box every query finds, once clipped to the picture: the top-right quadrant.
TINY_DETECTED_BOX = (0.5, 0.0, 1.0, 0.5)
_BOX_LOGITS = (40.0, -40.0, 40.0, 40.0)  # (cx, cy, w, h) -> sigmoid -> (1, 0, 1, 1)
_TINY_WIDTH = 32


def build_tiny_detector(seed: int = TINY_SEED):
    """(GroundingDinoForObjectDetection, GroundingDinoProcessor), tiny and random, with the seam set."""
    from transformers import (
        BertTokenizerFast,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )
    from transformers.models.bert import BertConfig

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_DETECTOR_WORDS]
    tokenizer = BertTokenizerFast(vocab={word: index for index, word in enumerate(vocab)}, model_max_length=32)
    backbone = SwinConfig(
        embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=2, image_size=TINY_SIDE,
        out_features=["stage2", "stage3", "stage4"],
    )  # fmt: skip
    text = BertConfig(
        vocab_size=len(vocab), hidden_size=_TINY_WIDTH, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=64,
    )  # fmt: skip
    config = GroundingDinoConfig(
        backbone_config=backbone, text_config=text, d_model=_TINY_WIDTH, num_queries=8, max_text_len=32,
        encoder_layers=1, decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_n_points=2, decoder_n_points=2, num_feature_levels=3,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = GroundingDinoForObjectDetection(config).eval()
    with torch.no_grad():
        text_value = torch.full((_TINY_WIDTH,), 1.0)
        query_value = torch.full((_TINY_WIDTH,), math.log(TINY_DETECTION_SCORE / (1 - TINY_DETECTION_SCORE)) / _TINY_WIDTH)
        for layer in model.model.encoder.layers[-1:]:
            layer.text_enhancer_layer.layer_norm_after.weight.zero_()
            layer.text_enhancer_layer.layer_norm_after.bias.copy_(text_value)
        model.model.decoder.layer_norm.weight.zero_()
        model.model.decoder.layer_norm.bias.copy_(query_value)
        for head in {id(h): h for h in [*model.bbox_embed, *model.model.decoder.bbox_embed]}.values():
            head.layers[-1].weight.zero_()
            head.layers[-1].bias.copy_(torch.tensor(_BOX_LOGITS))
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": TINY_SIDE, "longest_edge": TINY_SIDE})
    return model, GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)


def build_tiny_segmenter(seed: int = TINY_SEED + 1):
    """(SamModel, SamProcessor), tiny and random, working at TINY_SIDE pixels."""
    from transformers import SamConfig, SamImageProcessor, SamModel, SamProcessor

    patch = 8
    config = SamConfig(
        vision_config=dict(
            hidden_size=16, output_channels=16, num_hidden_layers=1, num_attention_heads=2, mlp_dim=32,
            image_size=TINY_SIDE, patch_size=patch, global_attn_indexes=[0], window_size=4, num_pos_feats=8,
        ),
        prompt_encoder_config=dict(hidden_size=16, image_size=TINY_SIDE, patch_size=patch, image_embedding_size=TINY_SIDE // patch, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=16, mlp_dim=32, num_hidden_layers=1, num_attention_heads=2, iou_head_hidden_dim=16),
    )  # fmt: skip
    torch.manual_seed(seed)
    model = SamModel(config).eval()
    image_processor = SamImageProcessor(
        size={"longest_edge": TINY_SIDE}, pad_size={"height": TINY_SIDE, "width": TINY_SIDE},
        mask_size={"longest_edge": TINY_SIDE // 4}, mask_pad_size={"height": TINY_SIDE // 4, "width": TINY_SIDE // 4},
    )  # fmt: skip
    return model, SamProcessor(image_processor=image_processor)


def save_tiny_text_mask_model(folder: Path, kind: str) -> Path:
    """Write the tiny `kind` ("detector" or "segmenter") with safetensors weights and its processor files."""
    model, processor = {"detector": build_tiny_detector, "segmenter": build_tiny_segmenter}[kind]()
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder
