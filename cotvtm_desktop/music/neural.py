"""The neural backend: keyframes -> CLIP (E_v) -> RationaleMLP -> EmbedDiff (E_m) -> MusicGen, per segment."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
import torch

from cotvtm_desktop import config
from cotvtm_desktop.analysis.scan import Timeline
from cotvtm_desktop.analysis.visual import VisualElements
from cotvtm_desktop.errors import UserError
from cotvtm_desktop.media.segments import Segment
from cotvtm_desktop.model.checkpoint import check_encoders, load_checkpoint
from cotvtm_desktop.model.encoders import ClipImageEncoder, mean_direction
from cotvtm_desktop.model.pipeline import CoTVTMPipeline
from cotvtm_desktop.model.registry import ModelPaths
from cotvtm_desktop.music.backend import SegmentEdit, SegmentMusic, silent_indices, silent_music
from cotvtm_desktop.music.musicgen import MAX_SECONDS_PER_CALL, Conditioning, MusicGen

BACKEND_VERSION = 4  # bump when generation changes, so cached segment audio is not reused


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu")
    return device


class NeuralBackend:
    name = "neural"
    makes_midi = False
    stems: tuple[str, ...] = ()  # MusicGen makes one mix
    sharp_starts = False  # MusicGen's audio sounds through a segment's lead-in: it cross-fades

    def __init__(self, paths: ModelPaths, seed: int = config.SEED, device: str = "auto", continuity: bool = True,
                 steps: int | None = None, guidance: float = config.MUSICGEN_GUIDANCE,
                 precision: str = config.MUSICGEN_PRECISION):
        self.seed, self.continuity = seed, continuity
        self.steps, self.guidance = steps, guidance
        self.device = resolve_device(device)
        self.checkpoint = load_checkpoint(paths.cotvtm)
        check_encoders(self.checkpoint.config, paths.clip, paths.musicgen, paths.cotvtm)  # before the big loads
        self.clip = ClipImageEncoder(paths.clip, self.device)
        self.musicgen = MusicGen(paths.musicgen, self.device, precision)
        card = f" ({torch.cuda.get_device_name(self.device)})" if self.device.startswith("cuda") else ""
        self.runs_on = f"{self.device}{card}, MusicGen in {str(self.musicgen.dtype).removeprefix('torch.')}"
        self.pipeline = CoTVTMPipeline(self.checkpoint, self.device)
        self.sample_rate = self.musicgen.sample_rate
        weights = (paths.cotvtm / "model.safetensors").stat()
        self._identity = hashlib.sha256(json.dumps([str(paths.cotvtm.resolve()), weights.st_size, weights.st_mtime_ns,
                                                    self.clip.fingerprint, str(paths.musicgen.resolve()),
                                                    str(self.musicgen.dtype)]
                                                   ).encode()).hexdigest()[:16]
        self.features_id = f"clip:{self.clip.fingerprint}"
        self._cancel: threading.Event | None = None

    def keyframe_features(self) -> Callable[[list[np.ndarray]], np.ndarray]:
        return lambda images: self.clip.embed(images).cpu().numpy()

    def plan(self, timeline: Timeline, segments: list[Segment], visuals: list[VisualElements],
             padding: float, voices: list[tuple[float, float]] = (),
             edits: Mapping[int, SegmentEdit] | None = None) -> list[SegmentMusic]:
        edits = edits or {}
        # voices go unused: MusicGen's music is decoded, not arranged, so it cannot leave a part out
        visual = torch.stack([self._segment_embedding(timeline, s) for s in segments])
        generator = torch.Generator().manual_seed(self.seed)
        conditioning = self.pipeline(visual, steps=self.steps, generator=generator)
        descriptions = self.pipeline.describe(conditioning)
        length = self.checkpoint.config.state_length
        plan, previous_key, silent = [], "", silent_indices(segments, edits)
        for i, segment in enumerate(segments):
            edit = edits.get(segment.index, SegmentEdit())
            if segment.index in silent:  # the music after it begins afresh, continuing nothing
                plan.append(silent_music(segment, visuals[i]))
                previous_key = ""
                continue
            seed = edit.seed_or(self.seed)
            row = Conditioning(conditioning.states[i:i + 1], conditioning.mask[i:i + 1])
            if edit.prompt:  # the user's words replace E_m for this segment
                row = self.musicgen.text_states([edit.prompt], length)
            elif edit.seed is not None:  # its own draw from EmbedDiff
                row = self.pipeline(visual[i:i + 1], steps=self.steps,
                                    generator=torch.Generator().manual_seed(seed))
                descriptions[i] = self.pipeline.describe(row)[0]
            key = self._cache_key(visual[i], edit.prompt, seed, segment.duration, padding, previous_key)
            previous_key = key if self.continuity else ""
            details = {"visual": visuals[i].to_json(), "seed": seed,
                       "description_source": "your prompt" if edit.prompt else "nearest training description"}
            plan.append(SegmentMusic(segment, edit.prompt or descriptions[i], key, details, (row, seed)))
        return plan

    def render(self, plan: list[SegmentMusic], todo: list[int], padding: float,
               cached: Callable[[int], np.ndarray | None], cancel: threading.Event | None = None,
               on_step: Callable[[int, int, int], None] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        if not todo:
            return
        self._cancel = cancel

        def steps_of(i: int):
            return None if on_step is None else (lambda step, total: on_step(i, step, total))

        if not self.continuity:  # every segment at once, one generate call
            seconds = [plan[i].segment.duration + 2 * padding for i in todo]
            if max(seconds) <= MAX_SECONDS_PER_CALL:
                rows = [plan[i].state[0] for i in todo]
                batch = Conditioning(*_stack_rows(rows))
                torch.manual_seed(plan[todo[0]].state[1])  # MusicGen samples from torch's global generator
                audio = self.musicgen.generate(batch, max(seconds), self.guidance, on_step=steps_of(todo[0]),
                                               cancel=cancel)
                if self._cancelled():
                    return
                for row, i, length in zip(audio, todo, seconds):
                    yield i, _stereo(row[:round(length * self.sample_rate)])
                return
        rendered: dict[int, np.ndarray] = {}
        for i in todo:
            prompt = None
            if self.continuity and i > 0:
                before = rendered.get(i - 1)
                before = before if before is not None else cached(i - 1)
                prompt = _continuation_prompt(before, padding, self.sample_rate) if before is not None else None
            torch.manual_seed(plan[i].state[1])
            audio = self._generate_long(plan[i].state[0], plan[i].segment.duration + 2 * padding, prompt,
                                        steps_of(i))
            if self._cancelled():
                return
            audio = _stereo(audio)
            rendered = {i: audio}
            yield i, audio

    def render_across(self, jobs: list[tuple[list[SegmentMusic], list[int], float, Callable]],
                      cancel: threading.Event | None = None,
                      on_step: Callable[[int, int, int, int], None] | None = None
                      ) -> Iterator[tuple[int, int, np.ndarray]]:
        """Render several videos' segments with the batch dimension running across videos, so continuity and
        batching coexist: step k decodes segment k of every video at once, each continuing its own segment k-1.
        `jobs` holds (plan, todo, padding, cached) per video; yields (video, segment, audio)."""
        self._cancel = cancel
        rendered: dict[int, dict[int, np.ndarray]] = {j: {} for j in range(len(jobs))}
        rounds = max((len(plan) for plan, *_ in jobs), default=0)
        for k in range(rounds):
            rows = [(j, k) for j, (plan, todo, *_) in enumerate(jobs) if k in todo]
            for group in _chunks(self._continuation_groups(jobs, rows, rendered), config.NEURAL_MAX_BATCH):
                prompts = [prompt for _, _, prompt in group]
                seconds = [jobs[j][0][i].segment.duration + 2 * jobs[j][2] for j, i, _ in group]
                batch = Conditioning(*_stack_rows([jobs[j][0][i].state[0] for j, i, _ in group]))
                torch.manual_seed(jobs[group[0][0]][0][group[0][1]].state[1])
                progress = None if on_step is None else (lambda step, total, g=group: [
                    on_step(j, i, step, total) for j, i, _ in g])
                audio = self.musicgen.generate(batch, max(seconds), self.guidance, on_step=progress, cancel=cancel,
                                               prompt_audio=np.stack(prompts) if prompts[0] is not None else None)
                if self._cancelled():
                    return
                for (j, i, _), row, length in zip(group, audio, seconds):
                    rendered[j] = {i: _stereo(row[:round(length * self.sample_rate)])}
                    yield j, i, rendered[j][i]

    def _continuation_groups(self, jobs, rows, rendered) -> list[tuple[int, int, np.ndarray | None]]:
        """(video, segment, prompt) for each row, those with a prompt first: one generate call cannot mix rows
        with and without an audio prompt."""
        out = []
        for j, i in rows:
            plan, todo, padding, cached = jobs[j]
            prompt = None
            if self.continuity and i > 0:
                before = rendered[j].get(i - 1)
                before = before if before is not None else cached(i - 1)
                prompt = _continuation_prompt(before, padding, self.sample_rate) if before is not None else None
            out.append((j, i, prompt))
        return sorted(out, key=lambda row: row[2] is None)

    def bar_seconds(self, plan: list[SegmentMusic]) -> None:
        return None  # MusicGen keeps a beat of its own choosing, which no plan states

    def write_midi(self, plan: list[SegmentMusic], path: Path) -> None:
        raise UserError("--midi needs the procedural backend: the neural backend makes audio, not notes")  # see score()

    # --- helpers ------------------------------------------------------------------------------------------------
    def _segment_embedding(self, timeline: Timeline, segment: Segment) -> torch.Tensor:
        rows = timeline.keyframe_features[timeline.keyframes_between(segment.start, segment.end)]
        return mean_direction(torch.from_numpy(rows))

    def _cancelled(self) -> bool:
        return self._cancel is not None and self._cancel.is_set()

    def _generate_long(self, row: Conditioning, seconds: float, prompt: np.ndarray | None,
                       on_step: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Audio (samples x channels) of `seconds`, in calls of at most MAX_SECONDS_PER_CALL, each continuing the
        one before."""
        pieces, done = [], 0.0
        while done < seconds - 1e-6:
            part = min(MAX_SECONDS_PER_CALL - (config.CONTINUITY_SECONDS if prompt is not None else 0),
                       seconds - done)
            audio = self.musicgen.generate(row, part, self.guidance, on_step=on_step, cancel=self._cancel,
                                           prompt_audio=None if prompt is None else prompt[None])[0]
            if self._cancelled():
                return np.zeros((0, self.musicgen.channels), np.float32)
            pieces.append(audio)
            done += part
            prompt = audio[-int(config.CONTINUITY_SECONDS * self.sample_rate):]
        return np.concatenate(pieces)[:round(seconds * self.sample_rate)]

    def _cache_key(self, visual: torch.Tensor, prompt: str | None, seed: int, seconds: float, padding: float,
                   previous: str) -> str:
        payload = json.dumps([BACKEND_VERSION, self._identity, seed, self.guidance, self.steps,
                              self.continuity, prompt, round(seconds, 4), padding, previous,
                              hashlib.sha256(visual.numpy().tobytes()).hexdigest()])
        return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _chunks(rows: list, size: int) -> list[list]:
    """Consecutive rows in chunks of at most `size` that agree on having an audio prompt or not."""
    chunks: list[list] = []
    for row in rows:
        if chunks and len(chunks[-1]) < size and (chunks[-1][0][2] is None) == (row[2] is None):
            chunks[-1].append(row)
        else:
            chunks.append([row])
    return chunks


def _stack_rows(rows: list[Conditioning]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.cat([r.states for r in rows]), torch.cat([r.mask for r in rows])


def _stereo(audio: np.ndarray) -> np.ndarray:
    """samples x channels as the product's samples x 2 (a mono MusicGen's channel given to both sides)."""
    return audio if audio.shape[1] == 2 else np.repeat(audio[:, :1], 2, axis=1)


def _continuation_prompt(previous: np.ndarray, padding: float, rate: int) -> np.ndarray:
    """The last CONTINUITY_SECONDS of the previous segment before the new segment's audio begins (its buffer
    starts `padding` before the boundary, where the previous one's fade-out region starts)."""
    end = len(previous) - int(round(2 * padding * rate))
    return previous[max(0, end - int(config.CONTINUITY_SECONDS * rate)):end]
