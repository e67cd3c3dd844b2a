"""The neural path on tiny random-weight models of the real architectures, loaded as real folders are."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from cotvtm_desktop.errors import UserError  # noqa: E402
from cotvtm_desktop.model.checkpoint import check_encoder, load_checkpoint  # noqa: E402
from cotvtm_desktop.model.encoders import ClipImageEncoder  # noqa: E402
from cotvtm_desktop.model.pipeline import CoTVTMPipeline  # noqa: E402
from cotvtm_desktop.music.musicgen import MusicGen  # noqa: E402
from cotvtm_desktop.testing.tiny_models import DESCRIPTIONS, make_all  # noqa: E402

# The models run where the product would run them: on a GPU machine these tests check the CUDA path (bf16), and
# COTVTM_TEST_DEVICE=cpu checks the CPU path there too.
DEVICE = os.environ.get("COTVTM_TEST_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
needs_cuda = pytest.mark.skipif(DEVICE != "cuda", reason="needs a CUDA GPU")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return make_all(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def stereo_musicgen_folder(tmp_path_factory):
    from cotvtm_desktop.testing.tiny_models import make_musicgen

    folder = tmp_path_factory.mktemp("tiny-stereo") / "musicgen"
    make_musicgen(folder, stereo=True)
    return folder


@pytest.fixture(scope="session", params=["mono", "stereo"])
def musicgen(request, tiny, stereo_musicgen_folder):
    """Each decoding test runs on a mono MusicGen and on a stereo one (as facebook/musicgen-stereo-* are built)."""
    return MusicGen(tiny / "musicgen" if request.param == "mono" else stereo_musicgen_folder, DEVICE)


def test_states_path_equals_text_path_token_for_token(musicgen):
    prompts = ["a calm piano melody", "upbeat pop with drums and bright guitar"]
    tokens = musicgen.tokenizer(prompts, return_tensors="pt", padding=True).to(DEVICE)
    torch.manual_seed(11)
    from_text = musicgen.model.generate(**tokens, guidance_scale=3.0, max_new_tokens=musicgen.new_tokens(0.6))
    torch.manual_seed(11)
    from_states = musicgen.generate(musicgen.text_states(prompts), 0.6, guidance_scale=3.0)
    assert np.array_equal(from_text[..., :from_states.shape[1]].transpose(1, 2).float().cpu().numpy(), from_states)


def test_guidance_is_not_silently_disabled_at_batch_one(musicgen):
    from transformers.modeling_outputs import BaseModelOutput

    condition = musicgen.text_states(["slow sad strings with a gentle piano"])
    torch.manual_seed(5)
    guided = musicgen.generate(condition, 0.6, guidance_scale=3.0)
    torch.manual_seed(5)
    unguided = musicgen.generate(condition, 0.6, guidance_scale=1.0)
    torch.manual_seed(5)  # the trap: states as encoder_outputs broadcast into the unconditional half
    states = condition.states.to(musicgen.dtype)
    naive = musicgen.model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=states),
                                    attention_mask=condition.mask, guidance_scale=3.0,
                                    max_new_tokens=musicgen.new_tokens(0.6))
    assert not np.array_equal(guided, unguided)
    assert not np.array_equal(guided, naive[..., :guided.shape[1]].transpose(1, 2).float().cpu().numpy())


def test_token_budget_and_exact_lengths(musicgen):
    # 50 frames/s plus the delay pattern of 4 codebooks (per channel: the stereo model has 8, 4 per side)
    assert musicgen.new_tokens(10.0) == 503
    condition = musicgen.text_states(DESCRIPTIONS[:3])
    audio = musicgen.generate(condition, 1.3)
    assert audio.shape == (3, round(1.3 * 32000), musicgen.channels) and audio.dtype == np.float32
    with pytest.raises(ValueError, match="30"):
        musicgen.generate(condition, 31.0)


def test_continuation_trims_the_prompt(musicgen):
    condition = musicgen.text_states(DESCRIPTIONS[:2])
    prompt = musicgen.generate(condition, 0.8)
    torch.manual_seed(2)
    continued = musicgen.generate(condition, 1.0, prompt_audio=prompt)
    torch.manual_seed(2)
    fresh = musicgen.generate(condition, 1.0)
    assert continued.shape == fresh.shape == (2, 32000, musicgen.channels)
    assert not np.array_equal(continued, fresh)
    other = np.repeat(prompt, 2, axis=2) if musicgen.channels == 1 else prompt[..., :1]
    torch.manual_seed(2)  # a prompt with the other channel count is folded or spread to the model's
    assert musicgen.generate(condition, 1.0, prompt_audio=other).shape == continued.shape


def test_stereo_musicgen_decodes_each_side(stereo_musicgen_folder):
    musicgen = MusicGen(stereo_musicgen_folder, DEVICE)
    audio = musicgen.generate(musicgen.text_states(DESCRIPTIONS[:2]), 0.8)
    assert musicgen.channels == 2 and audio.shape == (2, 25600, 2)
    between_sides = np.std(audio[0, :, 0] - audio[0, :, 1])
    between_rows = np.std(audio[0, :, 0] - audio[1, :, 0])
    assert between_sides > 0.1 * between_rows  # left and right are decoded from their own codes, not copied


def test_melody_or_foreign_models_are_named(tiny, tmp_path):
    for model_type, expected in (("musicgen_melody", "MusicGen-Melody"), ("clip", "'clip' model, not MusicGen")):
        folder = tmp_path / model_type
        shutil.copytree(tiny / "musicgen", folder)
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps(config | {"model_type": model_type}))
        with pytest.raises(UserError, match=expected) as error:
            MusicGen(folder)
        assert str(folder) in str(error.value) and "stereo" in str(error.value)


def test_batched_and_one_by_one_have_the_same_shapes(musicgen):
    condition = musicgen.text_states(DESCRIPTIONS[:4], length=8)
    batched = musicgen.generate(condition, 0.5)
    single = [musicgen.generate(type(condition)(condition.states[i:i + 1], condition.mask[i:i + 1]), 0.5)
              for i in range(4)]
    shape = (16000, musicgen.channels)
    assert batched.shape == (4, *shape) and all(s.shape == (1, *shape) for s in single)


def test_cancel_stops_generation(musicgen):
    import threading

    cancel = threading.Event()
    steps = []

    def on_step(step, total):
        steps.append(step)
        if step == 3:
            cancel.set()

    audio = musicgen.generate(musicgen.text_states(DESCRIPTIONS[:1]), 2.0, on_step=on_step, cancel=cancel)
    assert audio.shape == (1, 0, musicgen.channels) and max(steps) < musicgen.new_tokens(2.0)


def test_pipeline_maps_visual_embeddings_to_conditioning(tiny):
    checkpoint = load_checkpoint(tiny / "cotvtm")
    clip = ClipImageEncoder(tiny / "clip", DEVICE)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (90, 160, 3), dtype=np.uint8) for _ in range(3)]
    visual = torch.stack([clip.segment_embedding(frames), clip.segment_embedding(frames[:1])])
    assert torch.allclose(visual.norm(dim=1).cpu(), torch.ones(2))
    pipeline = CoTVTMPipeline(checkpoint, DEVICE)
    first = pipeline(visual, generator=torch.Generator().manual_seed(0))
    again = pipeline(visual, generator=torch.Generator().manual_seed(0))
    other = pipeline(visual, generator=torch.Generator().manual_seed(1))
    assert first.states.shape == (2, 8, 32) and first.mask.shape == (2, 8)
    assert torch.equal(first.states, again.states) and not torch.equal(first.states, other.states)
    assert torch.all(first.states[first.mask == 0] == 0)
    assert all(text in DESCRIPTIONS for text in pipeline.describe(first))
    for sampler, steps in (("ddpm", 10), ("ddim", 5), ("dpmsolver++", 5), ("sde-dpmsolver++", 5)):
        assert pipeline(visual, steps=steps, sampler=sampler).states.isfinite().all()


def test_checkpoint_round_trip(tiny, tmp_path):
    checkpoint = load_checkpoint(tiny / "cotvtm")
    checkpoint.save(tmp_path / "copy")
    again = load_checkpoint(tmp_path / "copy")
    assert again.config == checkpoint.config and again.bank_texts == checkpoint.bank_texts
    for a, b in zip(checkpoint.embeddiff.state_dict().values(), again.embeddiff.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_problems_are_one_clear_message(tiny, tmp_path):
    broken = tmp_path / "no-bank"
    shutil.copytree(tiny / "cotvtm", broken)
    (broken / "bank.json").unlink()
    with pytest.raises(UserError, match="bank.json is missing"):
        load_checkpoint(broken)
    future = tmp_path / "future"
    shutil.copytree(tiny / "cotvtm", future)
    config = json.loads((future / "config.json").read_text())
    config["format_version"] = 99
    (future / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="update cotvtm"):
        load_checkpoint(future)
    wrong = tmp_path / "wrong-dims"
    shutil.copytree(tiny / "cotvtm", wrong)
    config = json.loads((wrong / "config.json").read_text())
    config["embeddiff"]["width"] = 48
    (wrong / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="do not match its config.json"):
        load_checkpoint(wrong)


def test_encoder_mismatch_names_the_expected_model(tiny):
    checkpoint = load_checkpoint(tiny / "cotvtm")
    clip = ClipImageEncoder(tiny / "clip")
    check_encoder(checkpoint.config.clip, "CLIP", clip.dim, clip.fingerprint, tiny / "clip", tiny / "cotvtm")
    with pytest.raises(UserError, match="tiny-random-clip"):
        check_encoder(checkpoint.config.clip, "CLIP", clip.dim + 1, clip.fingerprint, tiny / "clip",
                      tiny / "cotvtm")
    with pytest.raises(UserError, match="not the one this checkpoint was trained against"):
        check_encoder(checkpoint.config.clip, "CLIP", clip.dim, "0" * 16, tiny / "clip", tiny / "cotvtm")


# --- the neural backend inside `cotvtm score` ----------------------------------------------------------------------
def cli(*args):
    from click.testing import CliRunner

    from cotvtm_desktop.cli import app

    device = ("--device", DEVICE) if args[0] == "score" and "--device" not in args else ()
    return CliRunner().invoke(app, [str(a) for a in (*args, *device)], catch_exceptions=False)


def test_score_with_the_neural_backend(tiny, tmp_path, clip12):
    from media import decode_audio, lufs, streams

    out = tmp_path / "neural.mp4"
    result = cli("score", clip12, "-o", out, "--backend", "neural", "--models", tiny, "--json-progress",
                 "--prompt", "1=a calm piano melody")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["type"] == "backend" and events[0]["name"] == "neural"
    info = streams(out)
    assert info["video"] == "h264" and info["audio"] == "aac" and info["duration"] == pytest.approx(12, abs=0.06)
    assert lufs(decode_audio(out)) == pytest.approx(-16, abs=1.0)
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["backend"] == "neural"
    assert manifest["segments"][0]["description"] == "a calm piano melody"
    assert manifest["segments"][0]["description_source"] == "your prompt"


def test_a_slideshow_with_the_neural_backend_keeps_its_seconds(tiny, tmp_path):
    """MusicGen keeps a beat of its own: a slideshow's photos last the seconds asked for, not bars."""
    from PIL import Image

    photos = []
    for name, colour in (("a.jpg", (200, 120, 40)), ("b.jpg", (40, 90, 200))):
        Image.new("RGB", (96, 72), colour).save(tmp_path / name)
        photos.append(tmp_path / name)
    out = tmp_path / "slideshow.wav"
    result = cli("score", *photos, "--slideshow", "--photo-seconds", "3", "-o", out, "--backend", "neural",
                 "--models", tiny, "--device", DEVICE)
    assert result.exit_code == 0, result.output
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["backend"] == "neural" and [c["out"] - c["in"] for c in manifest["clips"]] == [3.0, 3.0]
    assert manifest["input"]["duration"] == pytest.approx(6.0)


def test_neural_segments_batched_or_continued(tiny, tmp_path):
    from cotvtm_desktop.jobs.runner import ScoreOptions, score
    from media import make_video, streams

    video = make_video(tmp_path / "three segments.mp4", 26, size="160x90", rate=10)
    for continuity in (False, True):
        out = tmp_path / f"continuity-{continuity}.mp4"
        events = []
        options = ScoreOptions(backend="neural", models_dir=tiny, device=DEVICE, continuity=continuity)
        manifest = score(video, out, options, events.append)
        assert len(manifest["segments"]) == 3 and streams(out)["duration"] == pytest.approx(26, abs=0.1)
        assert all(s["description"] in DESCRIPTIONS for s in manifest["segments"])
        assert [e["index"] for e in events if e["type"] == "segment_done"] == [1, 2, 3]


def test_auto_picks_neural_when_models_are_present_and_says_why(tiny, silent_clip, tmp_path):
    result = cli("models", "check", "--models", tiny)
    assert result.exit_code == 0 and "found" in result.output and "neural: all its models are present" in result.output
    result = cli("score", silent_clip, "-o", tmp_path / "auto.mp4", "--models", tiny, "--segment-db", "1=-6")
    assert result.exit_code == 0 and "backend: neural" in result.output  # a segment's level is either backend's
    assert json.loads((tmp_path / "auto.json").read_text())["segments"][0]["music_db"] == -6.0
    result = cli("score", silent_clip, "-o", tmp_path / "rock.mp4", "--models", tiny, "--genre", "rock")
    assert result.exit_code == 0 and "procedural, because --genre 'rock' asks for a genre" in " ".join(
        result.output.split())  # a genre is the procedural backend's to set
    result = cli("score", silent_clip, "-o", tmp_path / "parts.mp4", "--models", tiny, "--stems", "--midi")
    assert result.exit_code == 0 and "procedural, which --midi and --stems need" in " ".join(result.output.split())
    from cotvtm_desktop import config

    result = cli("score", silent_clip, "-o", tmp_path / "font.mp4", "--models", tiny, "--soundfont",
                 config.soundfont_path())
    assert result.exit_code == 0 and "procedural, which --soundfont needs" in " ".join(result.output.split())
    empty = tmp_path / "no-models"
    empty.mkdir()
    result = cli("models", "check", "--models", empty)
    assert "procedural, because the neural backend cannot run" in result.output and "not found" in result.output


def test_models_check_judges_from_config_files_without_loading_weights(tiny, tmp_path, monkeypatch):
    """`models check` (and the app's Settings, which runs it) must not load MusicGen-large to answer; it still
    catches a CLIP or MusicGen that does not fit the checkpoint, or a MusicGen-Melody."""
    import transformers

    def no_loading(*args, **kwargs):
        raise AssertionError("models check loaded weights")

    for name in ("MusicgenForConditionalGeneration", "CLIPVisionModelWithProjection"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", no_loading)
    models = tmp_path / "models"
    shutil.copytree(tiny, models)
    result = cli("models", "check", "--models", models, "--json")
    answer = json.loads(result.stdout)
    assert answer["backend"] == "neural", result.output
    assert answer["musicgen"]["holds"] == "MusicGen 2 layers of 32, mono"  # what each folder holds, in words
    assert answer["cotvtm"]["holds"] == "EmbedDiff, L=8, for tiny-random-clip and tiny-random-musicgen"
    config = json.loads((models / "musicgen" / "config.json").read_text())
    config["decoder"] |= {"hidden_size": 2048, "num_hidden_layers": 48, "audio_channels": 2}
    (tmp_path / "large").mkdir()
    (tmp_path / "large" / "config.json").write_text(json.dumps(config))
    from cotvtm_desktop.model.registry import describe

    assert describe("musicgen", tmp_path / "large") == "MusicGen large, stereo"
    from cotvtm_desktop.testing.tiny_models import make_clip

    shutil.rmtree(models / "clip")
    make_clip(models / "clip", projection_dim=24)
    answer = json.loads(cli("models", "check", "--models", models, "--json").stdout)
    assert answer["backend"] == "procedural" and "tiny-random-clip" in answer["reason"]
    shutil.rmtree(models / "clip")
    shutil.copytree(tiny / "clip", models / "clip")
    config = json.loads((models / "musicgen" / "config.json").read_text())
    (models / "musicgen" / "config.json").write_text(json.dumps(config | {"model_type": "musicgen_melody"}))
    answer = json.loads(cli("models", "check", "--models", models, "--json").stdout)
    assert answer["backend"] == "procedural" and "MusicGen-Melody" in answer["reason"]


def test_neural_refuses_midi_and_mismatched_models(tiny, silent_clip, tmp_path):
    result = cli("score", silent_clip, "-o", tmp_path / "m.mp4", "--backend", "neural", "--models", tiny, "--midi")
    assert result.exit_code == 1 and "--midi needs the procedural backend" in result.output
    assert not (tmp_path / "m.mp4").exists()
    result = cli("score", silent_clip, "-o", tmp_path / "m.mp4", "--backend", "neural", "--models", tiny, "--stems")
    assert result.exit_code == 1 and "--stems needs the procedural backend" in " ".join(result.output.split())
    assert not (tmp_path / "m.mp4").exists() and not (tmp_path / "m.stems").exists()
    from cotvtm_desktop import config

    result = cli("score", silent_clip, "-o", tmp_path / "m.mp4", "--backend", "neural", "--models", tiny,
                 "--soundfont", config.soundfont_path())
    assert result.exit_code == 1 and "--soundfont needs the procedural backend" in " ".join(result.output.split())
    other = tmp_path / "other-clip"
    from cotvtm_desktop.testing.tiny_models import make_clip

    make_clip(other, projection_dim=24)  # a real, loadable CLIP, but not the checkpoint's
    result = cli("score", silent_clip, "-o", tmp_path / "x.mp4", "--backend", "neural", "--models", tiny,
                 "--clip", other)
    assert result.exit_code == 1 and "tiny-random-clip" in result.output and "Traceback" not in result.output
    broken = tmp_path / "broken-clip"
    shutil.copytree(tiny / "clip", broken)
    (broken / "model.safetensors").write_bytes(b"half a download")
    result = cli("score", silent_clip, "-o", tmp_path / "y.mp4", "--backend", "neural", "--models", tiny,
                 "--clip", broken)
    assert result.exit_code == 1 and "cannot be loaded" in result.output and "broken-clip" in result.output


def test_running_out_of_memory_is_one_clear_message(tiny, silent_clip, tmp_path, monkeypatch):
    """MusicGen-large on a small GPU: torch's OutOfMemoryError while decoding, or a MemoryError while loading,
    end in one message with what to do, not a traceback (nor "download it again"), and no output."""
    import transformers

    from cotvtm_desktop.music import musicgen as module

    def gpu_full(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def ram_full(*args, **kwargs):
        raise MemoryError()

    for target, name, failure in ((module.MusicGen, "generate", gpu_full),
                                  (transformers.MusicgenForConditionalGeneration, "from_pretrained", ram_full)):
        with monkeypatch.context() as patched:
            patched.setattr(target, name, failure)
            out = tmp_path / f"{name}.mp4"
            result = cli("score", silent_clip, "-o", out, "--backend", "neural", "--models", tiny, "--json-progress")
            assert result.exit_code == 1 and "Traceback" not in result.output
            error = json.loads(result.stdout.splitlines()[-1])
            assert error["type"] == "error" and "ran out of memory" in error["message"], error
            assert "--musicgen-size small" in error["message"] and "download" not in error["message"]
            assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_tiny_model_maker_command(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "cotvtm_desktop.testing.tiny_models", str(tmp_path / "m")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(tmp_path / "m" / "cotvtm").bank_texts == DESCRIPTIONS


def test_neural_progress_and_cancel_within_a_segment(tiny, tmp_path):
    import threading

    from cotvtm_desktop.errors import Cancelled
    from cotvtm_desktop.jobs.runner import ScoreOptions, score
    from media import make_video

    video = make_video(tmp_path / "v.mp4", 8, size="160x90", rate=10)
    cancel = threading.Event()
    events = []

    def watch(event):
        events.append(event)
        if event["type"] == "progress" and event["stage"] == "rendering" and event["fraction"] >= 0.2:
            cancel.set()

    with pytest.raises(Cancelled):
        score(video, tmp_path / "v.scored.mp4", ScoreOptions(backend="neural", models_dir=tiny, device=DEVICE), watch,
              cancel)
    rendering = [e for e in events if e["type"] == "progress" and e["stage"] == "rendering"]
    assert rendering and rendering[-1]["fraction"] < 1.0  # stopped inside the segment, not after it
    assert {(e["segment"], e["count"]) for e in rendering} == {(1, 1)}
    assert not any(e["type"] == "segment_done" for e in events)
    assert not (tmp_path / "v.scored.mp4").exists()


def test_fetch_offline_is_one_clear_message():
    result = cli("models", "fetch")  # the tests run with HF_HUB_OFFLINE=1
    assert result.exit_code == 1 and "could not download openai/clip-vit-base-patch32" in result.output
    assert "Traceback" not in result.output


def test_fetch_downloads_only_what_transformers_loads(monkeypatch, tmp_path):
    """The download itself cannot run here; what it asks the hub for can be checked: safetensors weights without
    their pickled and other-framework copies, or the pickles when a repository has nothing else."""
    import fnmatch

    import huggingface_hub

    from cotvtm_desktop.model.registry import fetch

    repos = {"openai/clip-vit-base-patch32": ["config.json", "model.safetensors", "pytorch_model.bin",
                                              "tf_model.h5", "flax_model.msgpack", "tokenizer.json"],
             "facebook/musicgen-stereo-large": ["config.json", "model-00001-of-00002.safetensors",
                                                "model-00002-of-00002.safetensors", "pytorch_model-00001-of-00002.bin",
                                                "spiece.model", "generation_config.json"],
             "Salesforce/blip-image-captioning-large": ["config.json", "pytorch_model.bin", "tf_model.h5",
                                                        "preprocessor_config.json", "vocab.txt"]}
    fetched = {}

    def snapshot_download(repo_id, ignore_patterns=()):
        fetched[repo_id] = sorted(f for f in repos[repo_id]
                                  if not any(fnmatch.fnmatch(f, pattern) for pattern in ignore_patterns))
        return str(tmp_path / repo_id)

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", lambda self, repo_id: repos[repo_id])
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    paths = fetch("stereo-large", captioner=True)
    assert paths == [tmp_path / repo for repo in repos]
    assert fetched["openai/clip-vit-base-patch32"] == ["config.json", "model.safetensors", "tokenizer.json"]
    assert not any(f.endswith(".bin") for f in fetched["facebook/musicgen-stereo-large"])
    assert len(fetched["facebook/musicgen-stereo-large"]) == 5
    assert fetched["Salesforce/blip-image-captioning-large"] == ["config.json", "preprocessor_config.json",
                                                                 "pytorch_model.bin", "vocab.txt"]


def test_models_in_the_hugging_face_cache_are_found(tiny, tmp_path, monkeypatch):
    import huggingface_hub.constants

    from cotvtm_desktop.model.registry import locate

    hub = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    models = tmp_path / "models"  # only our checkpoint here; CLIP and MusicGen from the cache
    shutil.copytree(Path(tiny) / "cotvtm", models / "cotvtm")
    assert locate(models).problems.keys() == {"clip", "musicgen"}  # an empty cache: nothing there
    for name, repo_id in [("clip", "openai/clip-vit-base-patch32"), ("musicgen", "facebook/musicgen-small"),
                          ("musicgen", "facebook/musicgen-stereo-large")]:
        repo = hub / f"models--{repo_id.replace('/', '--')}"  # the layout snapshot_download writes
        shutil.copytree(Path(tiny) / name, repo / "snapshots" / "0123abcd")
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text("0123abcd")
    paths = locate(models)
    assert paths.complete, paths.why_not()
    assert paths.clip == hub / "models--openai--clip-vit-base-patch32" / "snapshots" / "0123abcd"
    assert locate(models, musicgen_size="stereo-large").musicgen.parts[-3] == "models--facebook--musicgen-stereo-large"
    assert locate(models, musicgen_size="medium").problems.keys() == {"musicgen"}


def decoder_calls(monkeypatch) -> list[tuple[int, bool]]:
    """(batch rows, whether with an audio prompt) of every MusicGen generate call from now on."""
    from cotvtm_desktop.music.musicgen import MusicGen as Decoder

    calls = []
    original = Decoder.generate

    def counting(self, conditioning, *args, **kwargs):
        calls.append((len(conditioning), kwargs.get("prompt_audio") is not None))
        return original(self, conditioning, *args, **kwargs)

    monkeypatch.setattr(Decoder, "generate", counting)
    return calls


def test_batch_runs_the_batch_dimension_across_videos(tiny, tmp_path, monkeypatch):
    from cotvtm_desktop.jobs.batch import run_batch
    from cotvtm_desktop.jobs.runner import ScoreOptions
    from media import make_video, streams

    folder = tmp_path / "in"
    folder.mkdir()
    make_video(folder / "short.mp4", 12, size="160x90", rate=10)  # one segment
    make_video(folder / "long.mp4", 26, size="160x90", rate=10)  # three segments
    calls = decoder_calls(monkeypatch)
    events = []
    options = ScoreOptions(backend="neural", models_dir=tiny, device=DEVICE)
    results = run_batch(folder, tmp_path / "out", options, events=events.append)
    assert [r.status for r in results] == ["done", "done"]
    assert calls == [(2, False), (1, True), (1, True)]  # segment 1 of both videos in one call, then continuations
    assert streams(tmp_path / "out" / "long.scored.mp4")["duration"] == pytest.approx(26, abs=0.1)
    assert streams(tmp_path / "out" / "short.scored.mp4")["duration"] == pytest.approx(12, abs=0.1)
    done = [(e["input"].endswith("long.mp4"), e["index"]) for e in events if e["type"] == "segment_done"]
    assert sorted(done) == [(False, 1), (True, 1), (True, 2), (True, 3)]


def test_batch_of_slideshows_runs_the_batch_dimension_across_films(tiny, tmp_path, monkeypatch):
    """`batch --slideshow` with the neural backend: each folder's film is a job, their segments decoded together,
    each finished under its folder's name."""
    from PIL import Image

    from cotvtm_desktop.jobs.batch import score_files, slideshow_outputs
    from cotvtm_desktop.jobs.runner import ScoreOptions
    from media import streams

    for folder in ("a", "b"):
        (tmp_path / "in" / folder).mkdir(parents=True)
        for n in range(2):
            Image.new("RGB", (96, 72), (60 * n, 90, 160)).save(tmp_path / "in" / folder / f"{n}.jpg")
    calls = decoder_calls(monkeypatch)
    outputs = slideshow_outputs(tmp_path / "in", tmp_path / "out", recursive=True)
    options = ScoreOptions(backend="neural", models_dir=tiny, device=DEVICE, slideshow_size=360)
    results = score_files(outputs, tmp_path / "in", options)
    assert [(r.input.name, r.status) for r in results] == [("a", "done"), ("b", "done")]
    assert calls == [(2, False)]  # one segment of each film, in one call
    assert streams(tmp_path / "out" / "b.scored.mp4")["duration"] == pytest.approx(8, abs=0.1)


def test_neural_music_after_a_silent_segment_begins_afresh(tiny, tmp_path, monkeypatch):
    """Continuity on, segment 2 of 3 without music: MusicGen decodes segments 1 and 3 only, and segment 3 starts
    from no audio prompt (there is nothing to continue); the silence is silent."""
    import soundfile

    from cotvtm_desktop.jobs.runner import ScoreOptions, score
    from cotvtm_desktop.music.backend import SegmentEdit
    from media import make_video

    video = make_video(tmp_path / "three.mp4", 26, size="160x90", rate=10, audio=False)
    calls = decoder_calls(monkeypatch)
    options = ScoreOptions(backend="neural", models_dir=tiny, device=DEVICE, segments={1: SegmentEdit(silent=True)})
    manifest = score(video, tmp_path / "music.wav", options)
    assert calls == [(1, False), (1, False)]
    silent = manifest["segments"][1]
    assert silent["silent"] and silent["description"] == "no music here, as you asked"
    music, rate = soundfile.read(tmp_path / "music.wav")
    # a tiny random MusicGen's music has a DC offset: the subsonic filter's tail outlasts its fade by a few ms
    assert np.abs(music[int((silent["start"] + 0.1) * rate):int(silent["end"] * rate)]).max() < 1e-4


def test_neural_segment_seed_renders_only_that_segment_and_seeds_reproduce(tiny, tmp_path):
    import soundfile

    from media import make_video

    video = make_video(tmp_path / "two.mp4", 16, size="160x90", rate=10, audio=False)

    def score(name: str, work: str, *extra) -> list[dict]:
        result = cli("score", video, "-o", tmp_path / name, "--backend", "neural", "--models", tiny,
                     "--no-continuity", "--work", tmp_path / work, "--json-progress", *extra)
        assert result.exit_code == 0, result.output
        return [e for e in map(json.loads, result.stdout.splitlines()) if e["type"] == "segment_done"]

    def audio(work: str) -> list:
        return [soundfile.read(f)[0] for f in sorted((tmp_path / work).glob("segment-*.flac"))]

    assert [e["cached"] for e in score("a.mp4", "w1")] == [False, False]
    assert [e["cached"] for e in score("b.mp4", "w2")] == [False, False]
    first, fresh = audio("w1"), audio("w2")
    assert all(np.array_equal(x, y) for x, y in zip(first, fresh))  # same seed, same music
    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps({"segments": {"2": {"seed": 11}}}))
    assert [e["cached"] for e in score("c.mp4", "w1", "--segments", edits)] == [True, False]
    regenerated = audio("w1")
    assert np.array_equal(regenerated[0], first[0]) and not np.array_equal(regenerated[1], first[1])
    manifest = json.loads((tmp_path / "c.json").read_text())
    assert [s["seed"] for s in manifest["segments"]] == [0, 11]

    edits.write_text(json.dumps({"segments": {"1": {"brief": {"genre": "rock"}}}}))
    result = cli("score", video, "-o", tmp_path / "d.mp4", "--backend", "neural", "--models", tiny,
                 "--segments", edits)
    assert result.exit_code == 1 and "no music brief to edit" in result.output


# --- where the models run ------------------------------------------------------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_cuda_without_a_gpu_is_one_clear_message(tiny, silent_clip, tmp_path):
    result = cli("score", silent_clip, "-o", tmp_path / "g.mp4", "--backend", "neural", "--models", tiny,
                 "--device", "cuda")
    assert result.exit_code == 1 and "no CUDA GPU is available; use --device cpu" in " ".join(result.output.split())
    assert "Traceback" not in result.output and not (tmp_path / "g.mp4").exists()


def test_precision_is_reported_and_keys_the_segment_cache(tiny, silent_clip, tmp_path):
    """`--precision`: auto takes what decoder_dtype says for this CPU; the manifest says what ran; a segment made
    in one number format is not reused for another (it would differ)."""
    from cotvtm_desktop.music.musicgen import decoder_dtype

    auto = str(decoder_dtype(torch.device("cpu"))).removeprefix("torch.")
    other = "float32" if auto == "bfloat16" else "bfloat16"
    runs = {}
    for precision in ("auto", auto, other):  # the same number format named twice, then the other one
        out = tmp_path / f"{precision}.mp4"
        result = cli("score", silent_clip, "-o", out, "--backend", "neural", "--models", tiny, "--device", "cpu",
                     "--precision", precision, "--work", tmp_path / "work", "--json-progress")
        assert result.exit_code == 0, result.output
        cached = [json.loads(line)["cached"] for line in result.stdout.splitlines() if '"segment_done"' in line]
        runs[precision] = cached, json.loads(out.with_suffix(".json").read_text())["runs_on"]
    assert runs["auto"] == ([False], f"cpu, MusicGen in {auto}")
    assert runs[auto] == ([True], f"cpu, MusicGen in {auto}")
    assert runs[other] == ([False], f"cpu, MusicGen in {other}")
    result = cli("score", silent_clip, "-o", tmp_path / "h.mp4", "--backend", "neural", "--models", tiny,
                 "--device", "cpu", "--precision", "float16")
    assert result.exit_code == 1 and "float16 is for GPUs" in result.output and "Traceback" not in result.output


def check_half_precision_decoding(musicgen, half: torch.dtype) -> None:
    assert musicgen.model.decoder.dtype == half and musicgen.model.audio_encoder.dtype == torch.float32
    condition = musicgen.text_states(DESCRIPTIONS[:2], length=8)
    first = musicgen.generate(condition, 0.8)
    continued = musicgen.generate(condition, 1.0, prompt_audio=first)  # EnCodec encodes the prompt in float32
    for audio, samples in ((first, 25600), (continued, 32000)):
        assert audio.dtype == np.float32 and audio.shape == (2, samples, musicgen.channels)
        assert np.isfinite(audio).all()


def test_half_precision_decoder_keeps_encodec_in_float32(tiny):
    """bfloat16 decoding with EnCodec in float32, as on a GPU or a CPU that computes bfloat16; float32 when asked."""
    check_half_precision_decoding(MusicGen(tiny / "musicgen", "cpu", precision="bfloat16"), torch.bfloat16)
    full = MusicGen(tiny / "musicgen", "cpu", precision="float32")
    assert full.model.decoder.dtype == full.model.text_encoder.dtype == torch.float32
    assert full.text_states(DESCRIPTIONS[:1]).states.dtype == torch.float32  # E_m's dtype, whatever the decoder's


def test_precision_auto_is_bfloat16_where_the_hardware_computes_it(monkeypatch):
    from cotvtm_desktop.errors import UserError
    from cotvtm_desktop.music import musicgen as module

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for computes, expected in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(module, "_cpu_computes_bfloat16", lambda: computes)
        assert module.decoder_dtype(cpu) == expected
        assert module.decoder_dtype(cpu, "float32") == torch.float32
        assert module.decoder_dtype(cpu, "bfloat16") == torch.bfloat16  # asked for: taken as asked
    for has_bfloat16, expected in ((True, torch.bfloat16), (False, torch.float16)):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: has_bfloat16)
        assert module.decoder_dtype(cuda) == expected and module.decoder_dtype(cuda, "float16") == torch.float16
    with pytest.raises(UserError, match="does not compute bfloat16"):
        module.decoder_dtype(cuda, "bfloat16")  # the last GPU above has none
    with pytest.raises(UserError, match="float16 is for GPUs"):
        module.decoder_dtype(cpu, "float16")
    with pytest.raises(UserError, match="auto, float32, bfloat16, float16"):
        module.decoder_dtype(cpu, "int4")


@needs_cuda
def test_cuda_decodes_in_half_precision_and_returns_float32_audio(musicgen):
    assert musicgen.model.device.type == "cuda"
    check_half_precision_decoding(musicgen, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)


@needs_cuda
def test_score_on_cuda_runs_every_model_on_the_gpu(tiny, clip12, tmp_path, monkeypatch):
    from cotvtm_desktop.music.neural import NeuralBackend
    from media import streams

    backends = []
    original = NeuralBackend.__init__

    def keep(self, *args, **kwargs):
        original(self, *args, **kwargs)
        backends.append(self)

    monkeypatch.setattr(NeuralBackend, "__init__", keep)
    torch.cuda.reset_peak_memory_stats()
    result = cli("score", clip12, "-o", tmp_path / "gpu.mp4", "--backend", "neural", "--models", tiny)
    assert result.exit_code == 0, result.output
    (backend,) = backends
    for module in (backend.clip.model, backend.musicgen.model, backend.pipeline.mlp, backend.pipeline.embeddiff):
        assert {p.device.type for p in module.parameters()} == {"cuda"}
    assert torch.cuda.max_memory_allocated() > 0
    assert streams(tmp_path / "gpu.mp4")["duration"] == pytest.approx(12, abs=0.06)
    runs_on = json.loads((tmp_path / "gpu.json").read_text())["runs_on"]
    assert runs_on == f"cuda ({torch.cuda.get_device_name()}), MusicGen in {str(backend.musicgen.dtype)[6:]}"


def test_score_with_a_stereo_musicgen(tiny, stereo_musicgen_folder, tmp_path):
    """A checkpoint trained against a size's T5 decodes with its stereo model too; each segment keeps both sides,
    and continuity hands the previous segment's stereo end to the next call."""
    import soundfile

    from media import make_video, streams

    video = make_video(tmp_path / "two segments.mp4", 16, size="160x90", rate=10, audio=False)
    for continuity in ("--continuity", "--no-continuity"):
        out, work = tmp_path / f"stereo{continuity}.mp4", tmp_path / f"work{continuity}"
        result = cli("score", video, "-o", out, "--backend", "neural", "--models", tiny, "--work", work,
                     "--musicgen", stereo_musicgen_folder, continuity)
        assert result.exit_code == 0, result.output
        assert streams(out)["duration"] == pytest.approx(16, abs=0.1)
        segments = sorted(work.glob("segment-*.flac"))
        assert len(segments) == 2
        for path in segments:
            audio, rate = soundfile.read(path, always_2d=True)
            assert rate == 32000 and audio.shape[1] == 2 and not np.array_equal(audio[:, 0], audio[:, 1])
