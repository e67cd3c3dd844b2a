"""`cotvtm eval`: how close a checkpoint's sampled E_m comes to the teacher's, in embedding space.

- cosine: sampled vs teacher E_m (all L states, masks applied), averaged;
- P@10 among 70: the paper's retrieval protocol on embeddings — for each sample, its teacher E_m hides among 69
  others drawn from the set (with other music descriptions), and counts as found when it ranks in the top 10 by
  cosine to the sample;
- diversity: mean (1 - cosine) between samples drawn for the same E_v with different seeds.
With a local audio embedding model folder (`audio_metrics`): a Fréchet audio distance between MusicGen audio made
from the teacher's E_m and from the checkpoint's sampled E_m, in that model's embedding space (the paper uses
VGGish; any Hugging Face audio encoder folder works, e.g. CLAP's or wav2vec 2.0's). Classifier-based metrics (KL)
are not computed.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cotvtm_desktop.model.checkpoint import load_checkpoint
from cotvtm_desktop.model.pipeline import CoTVTMPipeline
from cotvtm_desktop.train.shards import read_embedding_set


def evaluate(checkpoint_dir: Path, data_dir: Path, samples: int = 200, candidates: int = 70, seeds: int = 3,
             seed: int = 0, steps: int | None = None) -> dict:
    pipeline = CoTVTMPipeline(load_checkpoint(checkpoint_dir))
    data = read_embedding_set(data_dir)
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(data), generator=generator)[:samples]
    draws = [pipeline(data.visual[chosen], steps=steps, generator=torch.Generator().manual_seed(seed + k)).states
             for k in range(seeds)]
    teacher = (data.states * data.mask[..., None]).flatten(1)
    unit = torch.nn.functional.normalize
    sampled = unit(draws[0].flatten(1), dim=-1)
    cosine = (sampled * unit(teacher[chosen], dim=-1)).sum(-1)
    hits = 0
    for row, index in enumerate(chosen.tolist()):
        others = torch.randperm(len(data), generator=generator).tolist()
        music = data.texts[index]["music"]
        others = torch.tensor([o for o in others if data.texts[o]["music"] != music][:candidates - 1], dtype=torch.long)
        pool = unit(teacher[torch.cat([torch.tensor([index]), others])], dim=-1)
        rank = (pool @ sampled[row]).argsort(descending=True).tolist().index(0)
        hits += rank < 10
    pairs = [(a, b) for a in range(seeds) for b in range(a + 1, seeds)]
    diversity = torch.stack([1 - (unit(draws[a].flatten(1), dim=-1) * unit(draws[b].flatten(1), dim=-1)).sum(-1)
                             for a, b in pairs]).mean() if pairs else torch.tensor(float("nan"))
    return {"samples": len(chosen), "cosine": round(cosine.mean().item(), 4),
            "p_at_10_of_70": round(hits / len(chosen), 4), "diversity": round(diversity.item(), 4),
            "chance_p_at_10": round(min(1.0, 10 / candidates), 4)}


def audio_metrics(checkpoint_dir: Path, data_dir: Path, musicgen_dir: Path, audio_model_dir: Path,
                  samples: int = 16, seconds: float = 5.0, seed: int = 0, device: str = "cpu") -> dict:
    from cotvtm_desktop.music.musicgen import Conditioning, MusicGen

    pipeline = CoTVTMPipeline(load_checkpoint(checkpoint_dir), device)
    data = read_embedding_set(data_dir)
    chosen = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:samples]
    musicgen = MusicGen(musicgen_dir, device)
    embed = AudioEmbedder(audio_model_dir, device)
    teacher = Conditioning(data.states[chosen] * data.mask[chosen, :, None], data.mask[chosen])
    student = pipeline(data.visual[chosen], generator=torch.Generator().manual_seed(seed))
    embeddings = []
    for conditioning in (teacher, student):
        torch.manual_seed(seed)
        audio = musicgen.generate(conditioning, seconds)
        embeddings.append(embed(audio, musicgen.sample_rate))
    return {"fad": round(frechet_distance(*embeddings), 4), "audio_samples": len(chosen),
            "audio_model": Path(audio_model_dir).name}


class AudioEmbedder:
    """Mean-pooled last hidden states of a Hugging Face audio encoder folder (feature extractor + model)."""

    def __init__(self, folder: Path, device: str = "cpu"):
        from transformers import AutoFeatureExtractor, AutoModel

        from cotvtm_desktop.model.registry import loading

        with loading("audio metric", Path(folder)):
            self.extractor = AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
            self.model = AutoModel.from_pretrained(folder, local_files_only=True).to(device).eval()
        self.device = device

    @torch.inference_mode()
    def __call__(self, audio, rate: int):
        from cotvtm_desktop.media.audio import resample

        target = int(self.extractor.sampling_rate)
        clips = [resample(row.mean(axis=1, keepdims=True), rate, target)[:, 0] for row in audio]  # B x n x channels
        inputs = self.extractor(clips, sampling_rate=target, return_tensors="pt", padding=True).to(self.device)
        hidden = self.model(**inputs).last_hidden_state
        return hidden.mean(dim=1).float().cpu().numpy()


def frechet_distance(a, b) -> float:
    """Fréchet distance between Gaussians fitted to two sets of embeddings (rows), as FAD defines it."""
    import numpy as np
    from scipy import linalg

    eps = 1e-6 * np.eye(a.shape[1])
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False) + eps, np.cov(b, rowvar=False) + eps
    root = linalg.sqrtm(cov_a @ cov_b)
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * np.real(root)))
