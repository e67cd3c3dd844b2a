"""`cotvtm eval`: how close a checkpoint's sampled E_m comes to the teacher's, in embedding space.

- cosine: sampled vs teacher E_m (all L states, masks applied), averaged;
- P@10 among 70: the paper's retrieval protocol on embeddings — for each sample, its teacher E_m hides among 69
  others drawn from the set (with other music descriptions), and counts as found when it ranks in the top 10 by
  cosine to the sample;
- diversity: mean (1 - cosine) between samples drawn for the same E_v with different seeds.
Audio metrics (FAD and the like) need a metric model and are not part of this version.
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
