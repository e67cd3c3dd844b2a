"""MusicGen decoding from T5 encoder states (E_m), with classifier-free guidance done right.

MusicGen cross-attends to its T5 text encoder's last hidden states. CoT-VTM predicts those states (E_m) instead of
text, so decoding must start from states. transformers' `generate` only builds the guidance batch correctly on its
text path: states passed as `encoder_outputs` either crash (a 2B batch) or, at batch 1, are silently broadcast into
the unconditional half so guidance does nothing. We therefore run the text path itself, with the T5 encoder
replaced for the duration of the call by a module that returns E_m: `generate` then appends the null condition
(zero states, zero mask) exactly as it does for text, and generating from T5(text) equals generating from text.
"""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from transformers import (AutoTokenizer, LogitsProcessor, LogitsProcessorList, MusicgenForConditionalGeneration,
                          StoppingCriteria, StoppingCriteriaList)
from transformers.modeling_outputs import BaseModelOutput

from cotvtm_desktop import config
from cotvtm_desktop.errors import UserError

MAX_SECONDS_PER_CALL = 30.0  # MusicGen was trained on 30 s excerpts


@dataclass
class Conditioning:
    """E_m: T5 states (B x L x D) with their attention mask (B x L)."""

    states: torch.Tensor
    mask: torch.Tensor

    def __len__(self) -> int:
        return self.states.shape[0]


def decoder_dtype(device: torch.device, precision: str = config.MUSICGEN_PRECISION) -> torch.dtype:
    """The dtype MusicGen's decoder and text encoder run in on `device` for `precision` (see config.py)."""
    if precision not in config.MUSICGEN_PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; choose one of {', '.join(config.MUSICGEN_PRECISIONS)}")
    if device.type == "cuda":
        has_bfloat16 = torch.cuda.is_bf16_supported()
        if precision == "bfloat16" and not has_bfloat16:
            raise UserError("--precision bfloat16: this GPU does not compute bfloat16; use float16 or auto")
        if precision == "auto":
            return torch.bfloat16 if has_bfloat16 else torch.float16
    elif precision == "float16":
        raise UserError("--precision float16 is for GPUs (a CPU computes it slowly); use bfloat16, float32 or auto")
    elif precision == "auto":
        return torch.bfloat16 if _cpu_computes_bfloat16() else torch.float32
    return getattr(torch, precision)


def _cpu_computes_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 matrix products on this CPU (AVX-512 or Arm's BF16 extension): where it does
    not, they fall back to slow reference code."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN: float32 is always right
        return False


class _StatesEncoder(nn.Module):
    """Stands in for the T5 encoder inside `generate`: returns the given states."""

    main_input_name = "input_ids"

    def __init__(self, states: torch.Tensor, config):
        super().__init__()
        self.states, self.config = states, config  # the decoder reads the encoder's config (hidden size)

    def forward(self, input_ids=None, attention_mask=None, **kwargs) -> BaseModelOutput:
        return BaseModelOutput(last_hidden_state=self.states)


class _Cancel(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class MusicGen:
    """A MusicGen checkpoint folder (Hugging Face format), ready to decode from states or text."""

    def __init__(self, folder: Path, device: str = "cpu", precision: str = config.MUSICGEN_PRECISION):
        self.folder = Path(folder)
        self.device = torch.device(device)
        self.dtype = decoder_dtype(self.device, precision)  # the decoder's and the text encoder's
        from cotvtm_desktop.model.registry import check_musicgen_type, loading, model_config

        check_musicgen_type(model_config("MusicGen", self.folder), self.folder)
        with loading("MusicGen", self.folder):
            self.model = MusicgenForConditionalGeneration.from_pretrained(
                self.folder, local_files_only=True, dtype=self.dtype).to(self.device).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        # EnCodec stays in float32, as audiocraft keeps it: decoding audio in bf16 leaves a noise floor near -56 dB
        # under the music (measured on MusicGen's EnCodec config), and EnCodec costs little beside the decoder.
        self.model.audio_encoder.float()
        self.sample_rate = int(self.model.config.audio_encoder.sampling_rate)
        self.frame_rate = int(self.model.config.audio_encoder.frame_rate)
        self.num_codebooks = int(self.model.decoder.num_codebooks)
        # The stereo models interleave left and right codebooks and decode each side with the same mono EnCodec.
        self.channels = int(self.model.config.decoder.audio_channels)
        self._lock = threading.Lock()

    @property
    def state_width(self) -> int:
        return int(self.model.config.text_encoder.d_model)

    # --- conditioning --------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def text_states(self, prompts: list[str], length: int | None = None) -> Conditioning:
        """T5(prompt) as MusicGen sees it, in float32 like EmbedDiff's E_m; padded or cut to `length` tokens when
        given (E_m has a fixed L)."""
        kwargs = {"padding": "max_length", "truncation": True, "max_length": length} if length else {
            "padding": True}
        tokens = self.tokenizer(prompts, return_tensors="pt", **kwargs).to(self.device)
        states = self.model.text_encoder(**tokens).last_hidden_state.float()
        return Conditioning(states * tokens["attention_mask"][..., None], tokens["attention_mask"])

    # --- decoding ------------------------------------------------------------------------------------------------
    def new_tokens(self, seconds: float) -> int:
        """Decoder steps for `seconds` of audio: frames plus the delay pattern's extra steps, one per codebook of a
        channel after the first (the stereo models delay each channel's codebooks side by side)."""
        return math.ceil(seconds * self.frame_rate) + self.num_codebooks // self.channels - 1

    @torch.inference_mode()
    def generate(self, conditioning: Conditioning, seconds: float, guidance_scale: float = 3.0,
                 prompt_audio: np.ndarray | None = None, on_step: Callable[[int, int], None] | None = None,
                 cancel: threading.Event | None = None, **sampling) -> np.ndarray:
        """Audio (B x samples x self.channels, float32 at self.sample_rate) for each row of `conditioning`,
        `seconds` long.

        `prompt_audio` (B x samples x channels, mono or stereo) continues earlier audio; the prompt is trimmed from
        what is returned.
        """
        if seconds > MAX_SECONDS_PER_CALL:
            raise ValueError(f"MusicGen generates at most {MAX_SECONDS_PER_CALL} s per call, asked for {seconds}")
        batch, length = conditioning.mask.shape
        states = conditioning.states.to(self.device, self.model.decoder.dtype)
        inputs = {"input_ids": torch.zeros((batch, length), dtype=torch.long, device=self.device),
                  "attention_mask": conditioning.mask.to(self.device)}
        prompt_samples = 0
        if prompt_audio is not None:
            prompt_samples = prompt_audio.shape[1]
            prompt = torch.as_tensor(_fit_channels(prompt_audio, self.channels), dtype=torch.float32)
            inputs["input_values"] = prompt.transpose(1, 2).to(self.device)  # EnCodec reads B x channels x samples
        steps = self.new_tokens(seconds)
        stopping = StoppingCriteriaList([_Cancel(cancel)]) if cancel is not None else None
        progress = LogitsProcessorList([_StepCounter(steps, on_step)]) if on_step is not None else None
        with self._lock, _encoder_returning(self.model, states):
            try:
                audio = self.model.generate(**inputs, guidance_scale=guidance_scale, max_new_tokens=steps,
                                            stopping_criteria=stopping, logits_processor=progress, **sampling)
            except RuntimeError:
                if cancel is None or not cancel.is_set():
                    raise
                # stopped mid delay pattern: the partial codes do not form whole frames
        if cancel is not None and cancel.is_set():
            return np.zeros((batch, 0, self.channels), np.float32)
        audio = audio[:, :, prompt_samples:].transpose(1, 2).float().cpu().numpy()
        wanted = int(round(seconds * self.sample_rate))
        if audio.shape[1] < wanted:
            audio = np.pad(audio, ((0, 0), (0, wanted - audio.shape[1]), (0, 0)))
        return np.ascontiguousarray(audio[:, :wanted])


class _StepCounter(LogitsProcessor):
    """Reports each decoding step (MusicGen's `generate` does not pass a streamer on to its sampling loop, but it
    runs every logits processor once per step). Leaves the scores as they are."""

    def __init__(self, total: int, on_step: Callable[[int, int], None]):
        self.total, self.on_step, self.step = total, on_step, 0

    def __call__(self, input_ids, scores):
        self.step += 1
        self.on_step(self.step, self.total)
        return scores


def _fit_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """B x samples x c audio as the model's channel count: stereo folded to mono, or mono given to both sides."""
    if audio.shape[2] == channels:
        return audio
    return audio.mean(axis=2, keepdims=True) if channels == 1 else np.repeat(audio[..., :1], channels, axis=2)


@contextlib.contextmanager
def _encoder_returning(model: MusicgenForConditionalGeneration, states: torch.Tensor):
    original = model.text_encoder
    model.text_encoder = _StatesEncoder(states, original.config)
    try:
        yield
    finally:
        model.text_encoder = original
