"""`cotvtm data captions`: the VTD caption set from caption files, from appendix B.2's scene templates, and from your
own photos and videos captioned by a local image-to-text model (BLIP, as the paper's I-Caption2music baseline uses).

A captioned file keeps its path in the set, so `data encode` takes E_v from the picture itself (CLIP image
embedding), as inference does, rather than from the caption's text.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from cotvtm_desktop import config
from cotvtm_desktop.errors import UserError
from cotvtm_desktop.media.frames import visual_frames
from cotvtm_desktop.train.reason import end_with_newline, read_captions


@lru_cache(maxsize=1)
def scene_templates() -> dict:
    return json.loads(config.resource_path("scene_templates.json").read_text(encoding="utf-8"))


def scene_requests(count: int, seed: int = 0) -> list[str]:
    """`count` distinct scene-description requests: templates with their variables filled, reproducibly."""
    data = scene_templates()
    rng = random.Random(seed)
    templates = data["single"] + data["double"]
    requests: list[str] = []
    seen: set[str] = set()
    for _ in range(count * 50):
        if len(requests) == count:
            break
        template = rng.choice(templates)
        text = re.sub(r"\{(\w+)\}", lambda m: rng.choice(data["variables"][m.group(1)]), template)
        if text not in seen:
            seen.add(text)
            requests.append(text)
    return requests


def describe_prompt(request: str) -> list[dict]:
    """Ask an LLM for one visual scene description in the style of the paper's examples."""
    examples = "\n".join(f"- {e}" for e in scene_templates()["examples"])
    return [{"role": "user", "content": f"{request}\nWrite a visual scene description of two sentences, rich in "
                                        f"visual detail (objects, colours, light, movement), like these:\n{examples}\n"
                                        "Reply with the description only."}]


def build_caption_set(files: list[Path], out: Path, requests: list[str] = (), describer=None,
                      captioned: list[tuple[str, str, str]] = ()) -> int:
    """Merge caption files, scene descriptions generated from `requests` with a `describer` (request ->
    description), and `captioned` media (caption, path, source) into one JSONL (id, caption, source, path) without
    duplicates (the same words for two pictures are two rows: each has its own E_v). Returns the number of rows."""
    rows, seen = [], set()

    def add(caption: str, source: str, path: str | None = None) -> None:
        key = (caption.strip().lower(), path)
        if key[0] and key not in seen:
            seen.add(key)
            rows.append({"id": str(len(rows)), "caption": caption.strip(), "source": source, "path": path})

    for file in files:
        for row in read_captions(file):
            add(row["caption"], Path(file).name, row["path"])
    for request in requests:
        if describer is not None:
            add(describer(request), "templates")
    for caption, path, source in captioned:
        add(caption, source, path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def media_files(folders: list[Path]) -> list[Path]:
    """The photos and videos in `folders` and their subfolders, in a stable order."""
    found = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise UserError("is not a folder; --media takes folders of photos and videos", folder)
        found += sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.name.startswith(".")
                        and p.suffix.lower() in config.IMAGE_EXTENSIONS + config.VIDEO_EXTENSIONS)
    return found


class ImageCaptioner:
    """A local Hugging Face image-to-text folder (BLIP, BLIP-2, GIT) that writes one caption per picture."""

    def __init__(self, folder: Path, device: str = "cpu", max_new_tokens: int = 40, beams: int = 3):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from cotvtm_desktop.model.registry import loading

        self.folder, self.device = Path(folder), torch.device(device)
        self.max_new_tokens, self.beams = max_new_tokens, beams
        with loading("captioner", self.folder):
            self.processor = AutoProcessor.from_pretrained(self.folder, local_files_only=True)
            self.model = AutoModelForImageTextToText.from_pretrained(self.folder, local_files_only=True)
            self.model = self.model.to(self.device).eval()
        weights = sorted((p.name, p.stat().st_size) for p in self.folder.glob("*.safetensors"))
        self.identity = hashlib.sha256(json.dumps([str(self.folder.resolve()), weights, max_new_tokens,
                                                   beams]).encode()).hexdigest()[:16]

    def __call__(self, images: list[np.ndarray]) -> list[str]:
        import torch

        with torch.inference_mode():
            inputs = self.processor(images=images, return_tensors="pt").to(self.device)
            ids = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, num_beams=self.beams,
                                      do_sample=False)
        return [" ".join(text.split()) for text in self.processor.batch_decode(ids, skip_special_tokens=True)]


def caption_media(paths: list[Path], captioner: Callable[[list[np.ndarray]], list[str]], identity: str,
                  cache: Path, batch_size: int = 8,
                  on_progress: Callable[[int, int], None] | None = None) -> tuple[list[tuple[str, str]], list[Path]]:
    """Caption each picture (a video: the middle of the frames its E_v is made from) with `captioner`.

    Captions go to `cache` (JSONL) as they come, keyed by the file (path, size, time) and the captioner's
    `identity`, so a rerun captions only what is new or changed. Returns ((caption, path) per captioned file,
    the files that could not be read or got no caption)."""
    known = _cached_captions(cache)
    done: dict[Path, str] = {}
    failed: list[Path] = []
    todo = []
    for path in paths:
        key = _media_key(path, identity)
        if key in known:
            done[path] = known[key]
        else:
            todo.append((path, key))
    if on_progress:
        on_progress(len(done), len(paths))
    cache.parent.mkdir(parents=True, exist_ok=True)
    end_with_newline(cache)
    with open(cache, "a", encoding="utf-8") as log:
        for start in range(0, len(todo), batch_size):
            batch, pictures = [], []
            for path, key in todo[start:start + batch_size]:
                frames = visual_frames(path)
                if frames:
                    batch.append((path, key))
                    pictures.append(frames[len(frames) // 2])
                else:
                    failed.append(path)
            for (path, key), caption in zip(batch, captioner(pictures) if pictures else []):
                if not caption:
                    failed.append(path)
                    continue
                done[path] = caption
                log.write(json.dumps({"key": key, "path": str(path), "caption": caption}, ensure_ascii=False) + "\n")
            log.flush()
            if on_progress:
                on_progress(len(done) + len(failed), len(paths))
    return [(done[p], str(p)) for p in paths if p in done], failed


def _media_key(path: Path, identity: str) -> str:
    stat = path.stat()
    return hashlib.sha256(json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns, identity]).encode()
                          ).hexdigest()[:24]


def _cached_captions(cache: Path) -> dict[str, str]:
    captions = {}
    if cache.exists():
        for line in cache.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                captions[row["key"]] = row["caption"]
            except (ValueError, KeyError, TypeError):
                pass  # a line cut short by a kill: that file is captioned again
    return captions
