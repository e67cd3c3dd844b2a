"""Build tiny random-weight models of the real architectures, saved exactly as real model folders are:

    python -m cotvtm_desktop.testing.tiny_models DIR

writes DIR/clip (CLIPModel + image processor), DIR/musicgen (MusicGen: T5 text encoder + tokenizer, EnCodec,
decoder), DIR/cotvtm (a CoT-VTM checkpoint trained against those two) and DIR/captioner (BLIP, for training
data from photos). They load through the same code as
real folders, so `cotvtm score clip.mp4 --backend neural --models DIR` exercises the whole neural path in seconds.
The music they make is noise: they test plumbing, not quality.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from cotvtm_desktop.model.checkpoint import Checkpoint, CheckpointConfig, EncoderRef, encoder_fingerprint
from cotvtm_desktop.model.modules import EmbedDiff, EmbedDiffConfig, MLPConfig, RationaleMLP

DESCRIPTIONS = [
    "a calm piano melody with soft strings",
    "upbeat pop with drums and bright guitar",
    "slow sad strings with a gentle piano",
    "fast electronic dance with synth bass",
    "warm acoustic guitar folk with flute",
]
STATE_LENGTH = 8


def word_tokenizer(vocabulary_size: int | None = None):
    """A word-level tokenizer over the DESCRIPTIONS' words (pad 0, end 1, unknown 2), as real tokenizers save."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for text in DESCRIPTIONS for w in text.split()})
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>"), len(vocab)


def make_musicgen(folder: Path, seed: int = 0, stereo: bool = False) -> None:
    """A tiny MusicGen; `stereo` builds it as facebook/musicgen-stereo-* are: twice the codebooks, left and right
    interleaved, decoded by the same mono EnCodec."""
    from transformers import (EncodecConfig, GenerationConfig, MusicgenConfig, MusicgenDecoderConfig,
                              MusicgenForConditionalGeneration, T5Config)

    tokenizer, vocab_size = word_tokenizer()
    text = T5Config(vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                    pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    audio = EncodecConfig(sampling_rate=32000, audio_channels=1, num_filters=4, hidden_size=16,
                          upsampling_ratios=[8, 5, 4, 4], codebook_size=64, codebook_dim=16, target_bandwidths=[1.2],
                          num_lstm_layers=1, norm_type="weight_norm", use_causal_conv=False)
    # MusicGen's real decoder also puts pad/bos one past its codebook vocabulary (2048 of 0..2047)
    decoder = MusicgenDecoderConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, ffn_dim=64,
                                    num_attention_heads=4, num_codebooks=8 if stereo else 4, pad_token_id=64,
                                    bos_token_id=64, initializer_factor=1.0, audio_channels=2 if stereo else 1)
    torch.manual_seed(seed)
    model = MusicgenForConditionalGeneration(MusicgenConfig(text_encoder=text, audio_encoder=audio,
                                                            decoder=decoder)).eval()
    for layer in model.audio_encoder.quantizer.layers:  # EnCodec codebooks start as zeros: make codes audible
        layer.codebook.embed.normal_()
        layer.codebook.embed_avg.copy_(layer.codebook.embed)
        layer.codebook.inited.fill_(True)
    model.generation_config = GenerationConfig(decoder_start_token_id=64, pad_token_id=64, bos_token_id=64,
                                               do_sample=True, guidance_scale=3.0, top_k=50, max_length=1600)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def make_clip(folder: Path, seed: int = 0, projection_dim: int = 16) -> None:
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTextConfig, CLIPVisionConfig

    torch.manual_seed(seed)
    config = CLIPConfig(text_config=CLIPTextConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                                                   num_hidden_layers=2, num_attention_heads=4,
                                                   max_position_embeddings=16).to_dict(),
                        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                       num_attention_heads=4, image_size=32,
                                                       patch_size=8).to_dict(),
                        projection_dim=projection_dim)
    CLIPModel(config).eval().save_pretrained(folder)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    word_tokenizer()[0].save_pretrained(folder)  # for CLIP text embeddings of captions (E_vt)


def make_captioner(folder: Path, seed: int = 0) -> None:
    """A tiny BLIP captioner (as Salesforce/blip-image-captioning-* are built) whose words are the DESCRIPTIONS'."""
    from transformers import (BertTokenizerFast, BlipConfig, BlipForConditionalGeneration, BlipImageProcessorPil,
                              BlipProcessor, BlipTextConfig, BlipVisionConfig)

    words = sorted({w for text in DESCRIPTIONS for w in text.split()})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", *words])}
    tokenizer = BertTokenizerFast(vocab=vocab, bos_token="[DEC]")
    torch.manual_seed(seed)
    config = BlipConfig(
        text_config=BlipTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, encoder_hidden_size=32, max_position_embeddings=64,
                                   pad_token_id=0, sep_token_id=3, eos_token_id=3, bos_token_id=5).to_dict(),
        vision_config=BlipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, image_size=32, patch_size=8).to_dict())
    BlipForConditionalGeneration(config).eval().save_pretrained(folder)
    BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}),
                  tokenizer=tokenizer).save_pretrained(folder)


def make_checkpoint(folder: Path, clip_folder: Path, musicgen_folder: Path, seed: int = 0) -> None:
    from cotvtm_desktop.music.musicgen import MusicGen

    torch.manual_seed(seed)
    clip_config = json.loads((clip_folder / "config.json").read_text())
    clip_dim = clip_config["projection_dim"]
    musicgen = MusicGen(musicgen_folder, precision="float32")  # the bank, as training data is encoded
    state_dim = musicgen.state_width
    mlp = MLPConfig(visual_dim=clip_dim, rationale_dim=24, hidden=32)
    diff = EmbedDiffConfig(visual_dim=clip_dim, rationale_dim=24, state_dim=state_dim, state_length=STATE_LENGTH,
                           width=32, layers=2, heads=4)
    bank = musicgen.text_states(DESCRIPTIONS, STATE_LENGTH)
    pooled = (bank.states * bank.mask[..., None]).sum(1) / bank.mask.sum(1, keepdim=True)
    musicgen_config = json.loads((musicgen_folder / "config.json").read_text())
    config = CheckpointConfig(
        mlp=mlp, embeddiff=diff,
        clip=EncoderRef("tiny-random-clip", clip_dim, encoder_fingerprint(clip_config)),
        musicgen=EncoderRef("tiny-random-musicgen", state_dim, encoder_fingerprint(musicgen_config["text_encoder"])),
        rationale_encoder=EncoderRef("tiny-random-rationale", 24),
        sampling={"scheduler": "sde-dpmsolver++", "steps": 8, "guidance": 3.0, "clamp_denoised": 6.0})
    Checkpoint(config, RationaleMLP(mlp), EmbedDiff(diff), bank.states.mean(dim=(0, 1)),
               bank.states.std(dim=(0, 1)) + 1e-3, DESCRIPTIONS,
               torch.nn.functional.normalize(pooled, dim=-1)).save(folder)


def make_all(root: Path) -> Path:
    root = Path(root)
    make_clip(root / "clip")
    make_musicgen(root / "musicgen")
    make_checkpoint(root / "cotvtm", root / "clip", root / "musicgen")
    make_captioner(root / "captioner")  # for `cotvtm data captions --media DIR --captioner DIR/captioner`
    return root


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m cotvtm_desktop.testing.tiny_models DIR")
    print(f"tiny models written to {make_all(Path(sys.argv[1]))}")
