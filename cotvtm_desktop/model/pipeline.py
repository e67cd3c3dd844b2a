"""Inference: E_v -> RationaleMLP -> E_r' -> EmbedDiff (sampled with a diffusers scheduler) -> E_m for MusicGen."""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from cotvtm_desktop.model.checkpoint import Checkpoint
from cotvtm_desktop.music.musicgen import Conditioning

SCHEDULERS = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler, "dpmsolver++": DPMSolverMultistepScheduler}


def make_scheduler(checkpoint: Checkpoint, name: str | None = None):
    """The training schedule (cosine, 1000 steps, epsilon) with the chosen sampler: "ddpm" is the paper's 200-step
    sampler; "ddim" and "dpmsolver++" reach the same quality in far fewer steps."""
    name = name or checkpoint.config.sampling["scheduler"]
    if name not in SCHEDULERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SCHEDULERS)}")
    kwargs = dict(checkpoint.config.schedule)
    if name == "dpmsolver++":
        kwargs["algorithm_type"] = "dpmsolver++"
    return SCHEDULERS[name](**kwargs)


class CoTVTMPipeline:
    def __init__(self, checkpoint: Checkpoint, device: str = "cpu"):
        self.checkpoint = checkpoint
        self.device = torch.device(device)
        self.mlp = checkpoint.mlp.to(self.device)
        self.embeddiff = checkpoint.embeddiff.to(self.device)
        self.mean = checkpoint.state_mean.to(self.device)
        self.std = checkpoint.state_std.to(self.device)

    @torch.inference_mode()
    def __call__(self, visual: torch.Tensor, steps: int | None = None, guidance: float | None = None,
                 sampler: str | None = None, generator: torch.Generator | None = None) -> Conditioning:
        """E_m (states and mask) for a batch of E_v (B, clip_dim)."""
        sampling = self.checkpoint.config.sampling
        steps, guidance = steps or sampling["steps"], guidance if guidance is not None else sampling["guidance"]
        visual = visual.to(self.device, torch.float32)
        rationale = self.mlp(visual)
        scheduler = make_scheduler(self.checkpoint, sampler)
        scheduler.set_timesteps(steps, device=self.device)
        c = self.embeddiff.config
        batch = visual.shape[0]
        states = torch.randn((batch, c.state_length, c.state_dim), generator=generator,
                             device="cpu").to(self.device) * scheduler.init_noise_sigma
        # guidance: one batch of 2B rows, the second half with the learned null condition
        visual2, rationale2 = torch.cat([visual, visual]), torch.cat([rationale, rationale])
        drop = torch.arange(2 * batch, device=self.device) >= batch
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(torch.cat([states, states]), t)
            noise = self.embeddiff(model_input, t.expand(2 * batch), visual2, rationale2, drop)
            conditional, unconditional = noise.chunk(2)
            noise = unconditional + guidance * (conditional - unconditional)
            states = scheduler.step(noise, t, states, generator=generator).prev_sample
        lengths = self.embeddiff.length_logits(visual, rationale).argmax(dim=1) + 1
        mask = (torch.arange(c.state_length, device=self.device)[None] < lengths[:, None]).long()
        states = (states * self.std + self.mean) * mask[..., None]
        return Conditioning(states, mask)

    def describe(self, conditioning: Conditioning) -> list[str]:
        """The nearest training music description for each sampled E_m (by the cosine of mean-pooled states)."""
        pooled = (conditioning.states * conditioning.mask[..., None]).sum(1) / conditioning.mask.sum(1, True)
        pooled = torch.nn.functional.normalize(pooled.float().cpu(), dim=-1)
        nearest = (pooled @ self.checkpoint.bank_embeddings.T.float()).argmax(dim=1)
        return [self.checkpoint.bank_texts[i] for i in nearest.tolist()]
