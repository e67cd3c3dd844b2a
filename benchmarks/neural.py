"""Benchmark the neural path with random weights at the real sizes (nothing is downloaded).

    python benchmarks/neural.py            # CPU, or CUDA when present
    python benchmarks/neural.py --device cuda --dtype bfloat16

1. Mapping per segment: CLIP ViT-B/32 image encoder on 3 keyframes + RationaleMLP + EmbedDiff (width 512, 6 layers,
   L = 32 T5 states of 768) with DPM-Solver++ at 20 steps and guidance; at batch 1 and for 6 segments at once.
2. MusicGen-sized decoding (T5-base text encoder; the small, medium or large decoder, 4 codebooks, guidance 3):
   decoder tokens per second at each of --batches (1 and 4 by default).
Prints a table; peak memory is the process's peak RSS (CPU) or torch's peak allocation (CUDA).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch


def peak_memory_mib(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def build_mapping(device: str):
    from transformers import CLIPConfig, CLIPVisionModelWithProjection

    from cotvtm_desktop.model.checkpoint import Checkpoint, CheckpointConfig, EncoderRef
    from cotvtm_desktop.model.modules import EmbedDiff, EmbedDiffConfig, MLPConfig, RationaleMLP
    from cotvtm_desktop.model.pipeline import CoTVTMPipeline

    config = CLIPConfig()  # the defaults are ViT-B/32 with a 512-d projection
    config.vision_config.projection_dim = config.projection_dim
    with torch.device(device):  # random initialisation on the GPU takes seconds where the CPU takes a minute
        clip = CLIPVisionModelWithProjection(config.vision_config).eval()  # float32, as the product runs it
    mlp, diff = MLPConfig(512, 4096, 1024), EmbedDiffConfig(512, 4096, 768, 32, 512, 6, 8)
    ck_config = CheckpointConfig(mlp, diff, EncoderRef("clip", 512), EncoderRef("t5", 768), EncoderRef("llm2vec", 4096))
    checkpoint = Checkpoint(ck_config, RationaleMLP(mlp), EmbedDiff(diff), torch.zeros(768), torch.ones(768),
                            ["x"], torch.zeros(1, 768))
    return clip, CoTVTMPipeline(checkpoint, device)


@torch.inference_mode()
def time_mapping(clip, pipeline, segments: int, device: str, repeats: int = 3) -> float:
    pixels = torch.randn(3 * segments, 3, 224, 224, device=device)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        features = clip(pixel_values=pixels).image_embeds
        visual = torch.nn.functional.normalize(features.view(segments, 3, -1).mean(1), dim=-1)
        pipeline(visual, steps=20)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


DECODERS = {"small": dict(hidden_size=1024, num_hidden_layers=24, ffn_dim=4096, num_attention_heads=16),
            "medium": dict(hidden_size=1536, num_hidden_layers=48, ffn_dim=6144, num_attention_heads=24),
            "large": dict(hidden_size=2048, num_hidden_layers=48, ffn_dim=8192, num_attention_heads=32)}


def build_musicgen(device: str, dtype: torch.dtype, size: str):
    from transformers import (EncodecConfig, GenerationConfig, MusicgenConfig, MusicgenDecoderConfig,
                              MusicgenForConditionalGeneration, T5Config)

    text = T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12)  # t5-base
    audio = EncodecConfig(sampling_rate=32000, upsampling_ratios=[8, 5, 4, 4], num_filters=64, hidden_size=128,
                          codebook_size=2048, target_bandwidths=[2.2], audio_channels=1)
    decoder = MusicgenDecoderConfig(vocab_size=2048, num_codebooks=4, pad_token_id=2048, bos_token_id=2048,
                                    **DECODERS[size])
    with torch.device(device):
        model = MusicgenForConditionalGeneration(MusicgenConfig(text_encoder=text, audio_encoder=audio,
                                                                decoder=decoder)).to(dtype).eval()
    model.generation_config = GenerationConfig(decoder_start_token_id=2048, pad_token_id=2048, bos_token_id=2048,
                                               do_sample=True, guidance_scale=3.0, top_k=250, max_length=1600)
    return model


@torch.inference_mode()
def tokens_per_second(model, batch: int, steps: int, device: str) -> float:
    from cotvtm_desktop.music.musicgen import Conditioning, _encoder_returning

    condition = Conditioning(torch.randn(batch, 32, 768, device=device, dtype=model.dtype),
                             torch.ones(batch, 32, dtype=torch.long, device=device))
    with _encoder_returning(model, condition.states):
        sync(device)
        start = time.perf_counter()
        model.generate(input_ids=torch.zeros(batch, 32, dtype=torch.long, device=device),
                       attention_mask=condition.mask, max_new_tokens=steps, guidance_scale=3.0)
        sync(device)
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                        help="MusicGen's precision; auto is what the product picks on this device (--precision "
                             "auto); the mapping runs in float32, as in the product")
    parser.add_argument("--steps", type=int, default=50, help="MusicGen decoder steps per measurement")
    parser.add_argument("--musicgen", default="small", choices=list(DECODERS), help="decoder size to time")
    parser.add_argument("--batches", default="1,4", help="MusicGen batch sizes to time, comma-separated")
    args = parser.parse_args()
    from cotvtm_desktop.music.musicgen import decoder_dtype

    dtype = decoder_dtype(torch.device(args.device), args.dtype)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    rows = []
    clip, pipeline = build_mapping(args.device)
    time_mapping(clip, pipeline, 1, args.device, repeats=1)  # warm-up
    one = time_mapping(clip, pipeline, 1, args.device)
    six = time_mapping(clip, pipeline, 6, args.device)
    rows.append(("mapping, 1 segment (CLIP x3 + MLP + EmbedDiff 20 steps)", f"{one:.3f} s/segment"))
    rows.append(("mapping, 6 segments batched", f"{six / 6:.3f} s/segment"))
    rows.append(("peak memory after mapping", f"{peak_memory_mib(args.device):.0f} MiB"))
    del clip, pipeline
    model = build_musicgen(args.device, dtype, args.musicgen)
    tokens_per_second(model, 1, 5, args.device)  # warm-up
    for batch in map(int, args.batches.split(",")):
        rows.append((f"MusicGen-{args.musicgen}-sized decoding, batch {batch}, guidance 3",
                     f"{tokens_per_second(model, batch, args.steps, args.device):.1f} tokens/s"))
    rows.append(("peak memory after decoding", f"{peak_memory_mib(args.device):.0f} MiB"))
    precision = str(dtype).removeprefix("torch.")
    print(f"\nneural path, random weights at real sizes, {name}; mapping float32, MusicGen {precision}")
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value:>18}")


if __name__ == "__main__":
    np.random.seed(0)
    torch.manual_seed(0)
    main()
