"""`cotvtm data encode`: reasoned captions -> an embedding set (E_v, E_r, E_m) for training.

Per record: X_vt (the caption, or its image when the record has one) -> CLIP -> E_v; X_rt (the chosen parts of the
rationale) -> the rationale encoder -> E_r; X_mt (the music description) -> MusicGen's T5 -> E_m with a fixed L
and its mask. Work goes shard by shard; a rerun skips the shards already written, so an interrupted run loses and
duplicates nothing. Each shard is a function of its records alone, so shards could run on separate machines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from cotvtm_desktop import config
from cotvtm_desktop.errors import UserError
from cotvtm_desktop.media.frames import visual_frames
from cotvtm_desktop.model.checkpoint import EncoderRef, encoder_fingerprint
from cotvtm_desktop.model.encoders import ClipImageEncoder, ClipTextEncoder, RationaleEncoder
from cotvtm_desktop.model.registry import model_id
from cotvtm_desktop.music.musicgen import MusicGen
from cotvtm_desktop.reasoning.cot import CoTAnswer
from cotvtm_desktop.train.shards import write_manifest, write_shard

def read_reasoned(path: Path) -> list[dict]:
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            row["answer"] = CoTAnswer.model_validate(row["answer"])
            records.append(row)
        except (json.JSONDecodeError, KeyError, ValueError):
            continue  # a line cut short by a kill
    if not records:
        raise UserError("holds no reasoned captions; run `cotvtm data reason` first", path)
    return records


def encode_reasoned(reasoned: Path, out: Path, clip: Path, musicgen: Path, rationale: Path, device: str = "cpu",
                    state_length: int = 48, shard_size: int = 4096, batch_size: int = 64,
                    rationale_fields: tuple[str, ...] = config.RATIONALE_FIELDS,
                    on_progress: Callable[[int, int], None] | None = None) -> Path:
    records = read_reasoned(reasoned)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress_path = out / "progress.json"
    shards = json.loads(progress_path.read_text())["shards"] if progress_path.exists() else []
    image_encoder, text_encoder = ClipImageEncoder(clip, device), ClipTextEncoder(clip, device)
    # the targets E_m in float32 whatever the device: training data outlives the speed of one run
    decoder = MusicGen(musicgen, device, precision="float32")
    rationale_encoder = RationaleEncoder(rationale, device)
    for number, start in enumerate(range(0, len(records), shard_size)):
        if number < len(shards):
            continue  # written by an earlier run
        chunk = records[start:start + shard_size]
        parts = [_encode_batch(chunk[i:i + batch_size], image_encoder, text_encoder, rationale_encoder, decoder,
                               state_length, rationale_fields) for i in range(0, len(chunk), batch_size)]
        shards.append(write_shard(out, number, *(torch.cat([p[k] for p in parts]) for k in range(4))))
        progress_path.write_text(json.dumps({"shards": shards}))
        if on_progress:
            on_progress(start + len(chunk), len(records))
    texts = [{"id": r["id"], "caption": r["caption"], "music": r["answer"].music_description} for r in records]
    dims = {"visual_dim": image_encoder.dim, "rationale_dim": rationale_encoder.dim, "state_length": state_length,
            "state_dim": decoder.state_width}
    write_manifest(out, shards, texts, dims, EncoderRef(model_id(clip), image_encoder.dim, image_encoder.fingerprint),
                   EncoderRef(model_id(musicgen), decoder.state_width, encoder_fingerprint(
                       json.loads((Path(musicgen) / "config.json").read_text())["text_encoder"])),
                   EncoderRef(model_id(rationale), rationale_encoder.dim))
    return out


def _encode_batch(batch: list[dict], images: ClipImageEncoder, texts: ClipTextEncoder, rationale: RationaleEncoder,
                  decoder: MusicGen, state_length: int, fields: tuple[str, ...]):
    visual = texts.embed([r["caption"] for r in batch]).clone()  # made under inference mode: copy to edit rows
    for i, record in enumerate(batch):  # a record with its own picture or video: E_v from that visual itself
        # the caption stands in for a visual that is missing or broken
        frames = visual_frames(Path(record["path"])) if record.get("path") else []
        if frames:
            visual[i] = images.segment_embedding(frames)
    rationale_embeddings = rationale.embed([r["answer"].rationale_text(fields) for r in batch])
    states = decoder.text_states([r["answer"].music_description for r in batch], state_length)
    return visual.cpu(), rationale_embeddings.cpu(), states.states.float().cpu(), states.mask.cpu()
