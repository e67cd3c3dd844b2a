"""CLIP image embeddings: E_v for a segment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPVisionModelWithProjection

from cotvtm_desktop.model.checkpoint import encoder_fingerprint
from cotvtm_desktop.model.registry import loading


class ClipImageEncoder:
    def __init__(self, folder: Path, device: str = "cpu"):
        self.folder = Path(folder)
        self.device = torch.device(device)
        with loading("CLIP", self.folder):
            # the vision tower alone: E_v needs no text encoder, and leaving it out saves a third of the memory
            config = CLIPConfig.from_pretrained(self.folder, local_files_only=True)
            vision = config.vision_config
            vision.projection_dim = config.projection_dim
            self.model = CLIPVisionModelWithProjection.from_pretrained(
                self.folder, config=vision, local_files_only=True).to(self.device).eval()
            self.processor = CLIPImageProcessorPil.from_pretrained(self.folder, local_files_only=True)
        self.dim = int(config.projection_dim)
        self.fingerprint = encoder_fingerprint(json.loads((self.folder / "config.json").read_text()))

    @torch.inference_mode()
    def embed(self, images: list[np.ndarray]) -> torch.Tensor:
        """Unit-length CLIP image embeddings (N, dim) of RGB arrays."""
        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
        features = self.model(pixel_values=pixels).image_embeds
        return torch.nn.functional.normalize(features.float(), dim=-1)

    def segment_embedding(self, keyframes: list[np.ndarray]) -> torch.Tensor:
        """E_v of a segment: the mean of its keyframes' unit CLIP embeddings, brought back to unit length (CLIP
        compares by angle, and the training E_v are unit-length too)."""
        return torch.nn.functional.normalize(self.embed(keyframes).mean(dim=0), dim=-1)
