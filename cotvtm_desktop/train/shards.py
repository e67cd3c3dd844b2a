"""An embedding set: the supervised data D = {(E_v, E_r, E_m)} the two networks train on (paper, section 3.4).

A folder with `manifest.json` (dims, L, the encoders that produced the embeddings, the shard list), shards
`shard-00000.safetensors` (visual N x Dv, rationale N x Dr, states N x L x Dm in fp16, mask N x L) and
`texts.jsonl` (per sample: id, caption, music description) from which a checkpoint's description bank is taken.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from cotvtm_desktop.errors import UserError
from cotvtm_desktop.model.checkpoint import EncoderRef

FORMAT, VERSION = "cotvtm-embeddings", 1


@dataclass
class EmbeddingSet:
    visual: torch.Tensor  # N x Dv (CLIP image or text embeddings, unit length)
    rationale: torch.Tensor  # N x Dr
    states: torch.Tensor  # N x L x Dm (MusicGen T5 states of the music description)
    mask: torch.Tensor  # N x L
    texts: list[dict]  # per sample: {"id", "caption", "music"}
    clip: EncoderRef
    musicgen: EncoderRef
    rationale_encoder: EncoderRef

    def __len__(self) -> int:
        return self.visual.shape[0]


def write_shard(folder: Path, number: int, visual: torch.Tensor, rationale: torch.Tensor, states: torch.Tensor,
                mask: torch.Tensor) -> dict:
    """One shard file (fp16 on disk), written under a temporary name and renamed when complete."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"shard-{number:05d}.safetensors"
    tmp = folder / f".{name}.partial"
    save_file({"visual": visual.half().contiguous(), "rationale": rationale.half().contiguous(),
               "states": states.half().contiguous(), "mask": mask.to(torch.uint8).contiguous()}, str(tmp))
    tmp.replace(folder / name)
    return {"file": name, "count": int(visual.shape[0])}


def write_manifest(folder: Path, shards: list[dict], texts: list[dict], dims: dict, clip: EncoderRef,
                   musicgen: EncoderRef, rationale_encoder: EncoderRef) -> None:
    with open(folder / "texts.jsonl", "w", encoding="utf-8") as out:
        for row in texts:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    manifest = {"format": FORMAT, "format_version": VERSION, "count": sum(s["count"] for s in shards), **dims,
                "clip": asdict(clip), "musicgen": asdict(musicgen), "rationale_encoder": asdict(rationale_encoder),
                "shards": shards}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))


def write_embedding_set(folder: Path, data: EmbeddingSet, shard_size: int = 4096) -> None:
    folder = Path(folder)
    shards = [write_shard(folder, n, data.visual[i:i + shard_size], data.rationale[i:i + shard_size],
                          data.states[i:i + shard_size], data.mask[i:i + shard_size])
              for n, i in enumerate(range(0, len(data), shard_size))]
    dims = {"visual_dim": data.visual.shape[1], "rationale_dim": data.rationale.shape[1],
            "state_length": data.states.shape[1], "state_dim": data.states.shape[2]}
    write_manifest(folder, shards, data.texts, dims, data.clip, data.musicgen, data.rationale_encoder)


def read_embedding_set(folder: Path) -> EmbeddingSet:
    folder = Path(folder)
    path = folder / "manifest.json"
    if not path.exists():
        raise UserError("is not an embedding set (manifest.json is missing); make one with `cotvtm data encode`",
                        folder)
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT or manifest.get("format_version", 0) > VERSION:
        raise UserError(f"has format {manifest.get('format')!r} version {manifest.get('format_version')}; "
                        f"this cotvtm reads {FORMAT} up to version {VERSION}", folder)
    parts: dict[str, list[torch.Tensor]] = {"visual": [], "rationale": [], "states": [], "mask": []}
    for shard in manifest["shards"]:
        tensors = load_file(str(folder / shard["file"]))
        for name in parts:
            parts[name].append(tensors[name])
    texts = [json.loads(line) for line in (folder / "texts.jsonl").read_text(encoding="utf-8").splitlines() if line]
    data = EmbeddingSet(*(torch.cat(parts[name]).float() for name in ("visual", "rationale", "states")),
                        torch.cat(parts["mask"]).long(), texts, EncoderRef(**manifest["clip"]),
                        EncoderRef(**manifest["musicgen"]), EncoderRef(**manifest["rationale_encoder"]))
    if len(data.texts) != len(data) or len(data) != manifest["count"]:
        raise UserError(f"is inconsistent: {len(data)} embeddings, {len(data.texts)} texts, manifest says "
                        f"{manifest['count']}; encode it again", folder)
    return data
