"""Inference: E_v -> RationaleMLP -> E_r' -> EmbedDiff (sampled with a diffusers scheduler) -> E_m for MusicGen."""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from cotvtm_desktop.model.checkpoint import Checkpoint
from cotvtm_desktop.music.musicgen import Conditioning

DEFAULT_CLAMP = 6.0  # standardised E_m values beyond 6 sigma are not data
SCHEDULERS = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler, "dpmsolver++": DPMSolverMultistepScheduler,
              "sde-dpmsolver++": DPMSolverMultistepScheduler}


def make_scheduler(checkpoint: Checkpoint, name: str | None = None):
    """The training schedule (cosine, 1000 steps, epsilon) with the chosen sampler: "ddpm" is the paper's 200-step
    sampler; "sde-dpmsolver++" (the default) and "ddim" match it at 20 steps in tests/test_sampling_quality.py,
    where the deterministic "dpmsolver++" falls short on this schedule."""
    name = name or checkpoint.config.sampling["scheduler"]
    if name not in SCHEDULERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SCHEDULERS)}")
    kwargs = dict(checkpoint.config.schedule)
    if name.endswith("dpmsolver++"):
        kwargs["algorithm_type"] = name
    else:  # their clipping to [-1, 1] suits images, not standardised embeddings: the pipeline clamps instead
        kwargs["clip_sample"] = False
    return SCHEDULERS[name](**kwargs)


def clamp_denoised(noise: torch.Tensor, states: torch.Tensor, alpha_bar: torch.Tensor, limit: float) -> torch.Tensor:
    """The noise prediction whose implied clean sample lies within +-`limit` (standardised units).

    The cosine schedule ends at a signal level of ~1e-9, where x0 = (x - sqrt(1 - a) eps) / sqrt(a) amplifies any
    error in eps ~1e4-fold; multistep solvers such as DPM-Solver++ then diverge. Clamping the implied x0, as DDPM
    does for images, keeps every sampler on the data's scale."""
    signal, sigma = alpha_bar.sqrt(), (1 - alpha_bar).sqrt()
    clean = ((states - sigma * noise) / signal).clamp(-limit, limit)
    return (states - signal * clean) / sigma


class CoTVTMPipeline:
    def __init__(self, checkpoint: Checkpoint, device: str = "cpu"):
        self.checkpoint = checkpoint
        self.device = torch.device(device)
        self.mlp = checkpoint.mlp.to(self.device)
        self.embeddiff = checkpoint.embeddiff.to(self.device) if checkpoint.embeddiff is not None else None
        self.state_mlp = checkpoint.state_mlp.to(self.device) if checkpoint.state_mlp is not None else None
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
        if self.state_mlp is not None:  # the v -> MLP -> r -> MLP -> m ablation: no sampling
            states, length_logits = self.state_mlp(rationale)
            return self._denormalised(states, length_logits)
        scheduler = make_scheduler(self.checkpoint, sampler)
        limit = sampling.get("clamp_denoised", DEFAULT_CLAMP)
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
            noise = clamp_denoised(noise, states, scheduler.alphas_cumprod[t].to(states), limit)
            states = scheduler.step(noise, t, states, generator=generator).prev_sample
        return self._denormalised(states, self.embeddiff.length_logits(visual, rationale))

    def _denormalised(self, states: torch.Tensor, length_logits: torch.Tensor) -> Conditioning:
        lengths = length_logits.argmax(dim=1) + 1
        mask = (torch.arange(states.shape[1], device=self.device)[None] < lengths[:, None]).long()
        return Conditioning((states * self.std + self.mean) * mask[..., None], mask)

    def describe(self, conditioning: Conditioning) -> list[str]:
        """The nearest training music description for each sampled E_m (by the cosine of mean-pooled states)."""
        pooled = (conditioning.states * conditioning.mask[..., None]).sum(1) / conditioning.mask.sum(1, True)
        pooled = torch.nn.functional.normalize(pooled.float().cpu(), dim=-1)
        nearest = (pooled @ self.checkpoint.bank_embeddings.T.float()).argmax(dim=1)
        return [self.checkpoint.bank_texts[i] for i in nearest.tolist()]
