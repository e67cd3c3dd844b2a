"""`cotvtm data captions`: the VTD caption set from caption files and from appendix B.2's scene templates."""

from __future__ import annotations

import json
import random
import re
from functools import lru_cache
from pathlib import Path

from cotvtm_desktop import config
from cotvtm_desktop.train.reason import read_captions


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


def build_caption_set(files: list[Path], out: Path, requests: list[str] = (), describer=None) -> int:
    """Merge caption files and, with a `describer` (request -> description), scene descriptions generated from
    `requests`, into one JSONL (id, caption, source, path) without duplicates. Returns the number of captions."""
    rows, seen = [], set()

    def add(caption: str, source: str, path: str | None = None) -> None:
        key = caption.strip().lower()
        if key and key not in seen:
            seen.add(key)
            rows.append({"id": str(len(rows)), "caption": caption.strip(), "source": source, "path": path})

    for file in files:
        for row in read_captions(file):
            add(row["caption"], Path(file).name, row["path"])
    for request in requests:
        if describer is not None:
            add(describer(request), "templates")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)
