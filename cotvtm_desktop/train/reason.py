"""`cotvtm data reason`: run the teacher over a caption set, resumably.

Results are appended to a JSONL file, one line per caption, keyed by a hash of (prompt version, teacher, caption):
a rerun skips every key already there, so an interrupted run loses and duplicates nothing. Answers that cannot be
read even after repair go to `<out>.rejects.jsonl` with the reason (and are skipped on reruns too; delete that file
to try them again).
"""

from __future__ import annotations

import csv
import hashlib
import json
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cotvtm_desktop.errors import UserError
from cotvtm_desktop.reasoning.cot import BadAnswer, prompt_version


@dataclass
class Progress:
    done: int
    total: int
    rejected: int
    tokens: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta(self) -> float:
        return (self.total - self.done) / self.rate if self.rate > 0 else float("inf")


def read_captions(path: Path) -> list[dict]:
    """Captions from CSV, TSV or JSONL with a `caption` column (and optionally `id`, `path`)."""
    path = Path(path)
    if not path.exists():
        raise UserError("file not found", path)
    if path.suffix.lower() == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif path.suffix.lower() in (".csv", ".tsv"):
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    else:
        raise UserError("is not a caption file; use .csv, .tsv or .jsonl with a 'caption' column", path)
    if rows and "caption" not in rows[0]:
        raise UserError(f"has no 'caption' column (columns: {', '.join(rows[0])})", path)
    return [{"id": str(row.get("id", i)), "caption": row["caption"].strip(), "path": row.get("path") or None}
            for i, row in enumerate(rows) if str(row.get("caption", "")).strip()]


def result_key(teacher_name: str, caption: dict) -> str:
    """What a reasoning result answers: the prompt, the teacher and the caption, and the picture when the caption
    has one (the same words for two photos are two training rows, each with its own E_v)."""
    parts = [prompt_version(), teacher_name, caption["caption"]] + ([caption["path"]] if caption.get("path") else [])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


def _done_keys(*paths: Path) -> set[str]:
    keys = set()
    for path in paths:
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    keys.add(json.loads(line)["key"])
                except (json.JSONDecodeError, KeyError):
                    pass  # a line cut short by a kill: its caption is simply asked again
    return keys


def end_with_newline(path: Path) -> None:
    """A kill can leave the last line half-written; close it off so the next result starts on its own line."""
    if path.exists() and path.stat().st_size:
        with open(path, "rb+") as f:
            f.seek(-1, 2)
            if f.read(1) != b"\n":
                f.write(b"\n")


def rejects_path(out: Path) -> Path:
    return out.with_name(out.stem + ".rejects.jsonl")


def run_reasoning(captions: list[dict], out: Path, teacher, concurrency: int = 4,
                  on_progress: Callable[[Progress], None] | None = None,
                  cancel: threading.Event | None = None) -> Progress:
    out, rejects = Path(out), rejects_path(Path(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    for path in (out, rejects):
        end_with_newline(path)
    done = _done_keys(out, rejects)
    todo = []
    for caption in captions:  # each distinct caption (with its picture) once, now or in an earlier run
        key = result_key(teacher.name, caption)
        if key not in done:
            done.add(key)
            todo.append(caption)
    total = len({result_key(teacher.name, c) for c in captions})
    progress = Progress(total - len(todo), total, 0, 0, 0.0)
    started, lock = time.perf_counter(), threading.Lock()

    def ask(item: dict) -> None:
        key = result_key(teacher.name, item)
        try:
            reply = teacher.ask(item["caption"])
            line, target = {"key": key, "id": item["id"], "caption": item["caption"], "path": item["path"],
                            "teacher": teacher.name, "prompt_version": prompt_version(),
                            "answer": reply.answer.model_dump(by_alias=True)}, out
            tokens = reply.tokens
        except BadAnswer as exc:
            line, target, tokens = {"key": key, "id": item["id"], "caption": item["caption"],
                                    "reason": str(exc)}, rejects, 0
        except Exception as exc:  # noqa: BLE001 - network errors after all retries end up as rejects too
            line, target, tokens = {"key": key, "id": item["id"], "caption": item["caption"],
                                    "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                                    }, rejects, 0
        with lock:
            with open(target, "a", encoding="utf-8") as f:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
            progress.done += 1
            progress.rejected += target is rejects
            progress.tokens += tokens
            progress.seconds = time.perf_counter() - started
            if on_progress:
                on_progress(progress)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        pending, queue = set(), iter(todo)
        while True:
            while len(pending) < concurrency and not (cancel and cancel.is_set()):
                item = next(queue, None)
                if item is None:
                    break
                pending.add(pool.submit(ask, item))
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()
    return progress
