"""The two small networks of CoT-VTM (paper, section 3.5).

RationaleMLP: E_v -> E_r', the rationale embedding the teacher's chain of thought would have produced.
EmbedDiff: a conditional diffusion model over E_m, MusicGen's T5 conditioning states, as a fixed-length sequence of
L token states. The denoiser is a transformer over the L positions; the condition is [E_v ; f_mlp(E_r')] (f_mlp
maps E_r' to E_v's width, as the paper does) and enters as two prefix tokens, with the timestep as a third. Learned
null vectors replace the condition for classifier-free guidance. A small head predicts how many of the L positions
are real tokens, so the sampled states come with the attention mask MusicGen expects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MLPConfig:
    visual_dim: int = 512
    rationale_dim: int = 4096
    hidden: int = 1024
    dropout: float = 0.2


@dataclass(frozen=True)
class EmbedDiffConfig:
    visual_dim: int = 512
    rationale_dim: int = 4096
    state_dim: int = 768  # T5 width of the MusicGen text encoder
    state_length: int = 32  # L
    width: int = 512
    layers: int = 6
    heads: int = 8
    dropout: float = 0.0
    use_rationale: bool = True  # False: the paper's ablation v -> EmbedDiff -> m


class RationaleMLP(nn.Module):
    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = config
        self.net = nn.Sequential(
            nn.Linear(config.visual_dim, config.hidden), nn.GELU(), nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.hidden), nn.GELU(), nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.rationale_dim))

    def forward(self, visual: torch.Tensor) -> torch.Tensor:
        return self.net(visual)


def timestep_embedding(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of diffusion timesteps (B,) -> (B, dim)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, device=timesteps.device) / half)
    angles = timesteps.float()[:, None] * frequencies[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


class EmbedDiff(nn.Module):
    def __init__(self, config: EmbedDiffConfig):
        super().__init__()
        self.config = config
        c = config
        self.rationale_to_visual = nn.Sequential(nn.Linear(c.rationale_dim, c.visual_dim), nn.GELU(),
                                                 nn.Linear(c.visual_dim, c.visual_dim))  # f_mlp
        self.null_visual = nn.Parameter(torch.zeros(c.visual_dim))
        self.null_rationale = nn.Parameter(torch.zeros(c.rationale_dim))
        self.visual_token = nn.Linear(c.visual_dim, c.width)
        self.rationale_token = nn.Linear(c.visual_dim, c.width)
        self.time_token = nn.Sequential(nn.Linear(c.width, c.width), nn.SiLU(), nn.Linear(c.width, c.width))
        self.state_in = nn.Linear(c.state_dim, c.width)
        self.positions = nn.Parameter(torch.randn(c.state_length + 3, c.width) * 0.02)
        layer = nn.TransformerEncoderLayer(c.width, c.heads, 4 * c.width, c.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.width)
        self.state_out = nn.Linear(c.width, c.state_dim)
        self.length_head = nn.Linear(2 * c.width, c.state_length)

    def condition(self, visual: torch.Tensor, rationale: torch.Tensor | None,
                  drop: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The two condition tokens; rows where `drop` is True get the learned null condition."""
        batch = visual.shape[0]
        if rationale is None or not self.config.use_rationale:
            rationale = self.null_rationale.expand(batch, -1)
        if drop is not None:
            visual = torch.where(drop[:, None], self.null_visual.expand(batch, -1), visual)
            rationale = torch.where(drop[:, None], self.null_rationale.expand(batch, -1), rationale)
        return self.visual_token(visual), self.rationale_token(self.rationale_to_visual(rationale))

    def forward(self, noisy_states: torch.Tensor, timesteps: torch.Tensor, visual: torch.Tensor,
                rationale: torch.Tensor | None, drop: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted noise (B, L, state_dim) for normalised noisy states (B, L, state_dim)."""
        visual_token, rationale_token = self.condition(visual, rationale, drop)
        time = self.time_token(timestep_embedding(timesteps, self.config.width))
        tokens = torch.cat([time[:, None], visual_token[:, None], rationale_token[:, None],
                            self.state_in(noisy_states)], dim=1) + self.positions
        hidden = self.norm(self.blocks(tokens))
        return self.state_out(hidden[:, 3:])

    def length_logits(self, visual: torch.Tensor, rationale: torch.Tensor | None) -> torch.Tensor:
        """Logits over 1..L real tokens in E_m (B, L)."""
        visual_token, rationale_token = self.condition(visual, rationale)
        return self.length_head(torch.cat([visual_token, rationale_token], dim=1))


@dataclass(frozen=True)
class StateMLPConfig:
    rationale_dim: int = 4096
    state_dim: int = 768
    state_length: int = 32
    hidden: int = 1024
    dropout: float = 0.2


class StateMLP(nn.Module):
    """The paper's ablation v -> MLP -> r -> MLP -> m: E_r' straight to (normalised) E_m states, no diffusion."""

    def __init__(self, config: StateMLPConfig):
        super().__init__()
        self.config = config
        c = config
        self.net = nn.Sequential(nn.Linear(c.rationale_dim, c.hidden), nn.GELU(), nn.Dropout(c.dropout),
                                 nn.Linear(c.hidden, c.hidden), nn.GELU(), nn.Dropout(c.dropout))
        self.states = nn.Linear(c.hidden, c.state_length * c.state_dim)
        self.length_head = nn.Linear(c.hidden, c.state_length)

    def forward(self, rationale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalised states B x L x D, length logits B x L)."""
        hidden = self.net(rationale)
        return (self.states(hidden).view(-1, self.config.state_length, self.config.state_dim),
                self.length_head(hidden))
