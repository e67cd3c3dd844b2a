"""Finding model folders: explicit paths, the --models folder, or the Hugging Face cache — local files only.

`fetch` is the one function in the product that touches the network.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from cotvtm_desktop import config
from cotvtm_desktop.errors import UserError, is_out_of_memory


@dataclass(frozen=True)
class ModelPaths:
    """Where each model was found (None: not found), and why not where it was not."""

    clip: Path | None
    musicgen: Path | None
    cotvtm: Path | None
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.problems

    def why_not(self) -> str:
        return "; ".join(f"{name}: {problem}" for name, problem in self.problems.items())


def locate(models_dir: Path | None = None, clip: Path | None = None, musicgen: Path | None = None,
           cotvtm: Path | None = None, musicgen_size: str = config.MUSICGEN_SIZE) -> ModelPaths:
    """Resolve each model: an explicit folder wins, then DIR/<name>, then the Hugging Face cache."""
    base = Path(models_dir) if models_dir else config.default_models_dir()
    hub_ids = {"clip": config.CLIP_MODEL_ID, "musicgen": config.MUSICGEN_MODEL_IDS[musicgen_size], "cotvtm": None}
    explicit = {"clip": clip, "musicgen": musicgen, "cotvtm": cotvtm}
    found, problems = {}, {}
    for name, path in explicit.items():
        candidates = [Path(path)] if path else [base / config.MODELS_SUBFOLDERS[name]]
        hit = next((c for c in candidates if (c / "config.json").exists()), None)
        if hit is None and not path and hub_ids[name]:
            hit = _from_hub_cache(hub_ids[name])
        found[name] = hit
        if hit is None:
            where = str(candidates[0]) + (f" or the Hugging Face cache ({hub_ids[name]})" if hub_ids[name] and
                                          not path else "")
            problems[name] = f"not found in {where}"
    return ModelPaths(found["clip"], found["musicgen"], found["cotvtm"], problems)


def model_config(name: str, folder: Path) -> dict:
    """A model folder's config.json, or one clear message when it cannot be read."""
    try:
        data = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"the {name} model here has no readable config.json ({type(exc).__name__}); download it "
                        f"again with `cotvtm models fetch` or point --{name.lower()} at a complete model folder",
                        folder) from None
    if not isinstance(data, dict):
        raise UserError(f"the {name} model's config.json here is not a JSON object", folder)
    return data


# MusicGen's decoder sizes (hidden width, layers), as the facebook/musicgen-* configs have them
_MUSICGEN_SIZES = {(1024, 24): "small", (1536, 48): "medium", (2048, 48): "large"}


def describe(name: str, folder: Path) -> str:
    """What a found model folder holds, from its config.json, in a few words (for `models check`); "" when its
    config cannot be read (loading it will say why)."""
    try:
        data = json.loads((Path(folder) / "config.json").read_text())
        if name == "clip":
            vision = data.get("vision_config", {})
            return (f"CLIP ViT, patch {vision.get('patch_size', 32)}, width {vision.get('hidden_size', 768)}, "
                    f"{data.get('projection_dim', 512)}-d embeddings")
        if name == "musicgen":
            if data.get("model_type") != "musicgen":
                return f"not MusicGen ({data.get('model_type')})"
            decoder = data["decoder"]
            shape = (decoder.get("hidden_size"), decoder.get("num_hidden_layers"))
            size = _MUSICGEN_SIZES.get(shape, f"{shape[1]} layers of {shape[0]}")
            return f"MusicGen {size}, {'stereo' if decoder.get('audio_channels', 1) == 2 else 'mono'}"
        mapping = "EmbedDiff" if data.get("mapping", "embeddiff") == "embeddiff" else "state MLP"
        length = (data.get("embeddiff") or data.get("state_mlp") or {}).get("state_length")
        return f"{mapping}, L={length}, for {data['clip']['id']} and {data['musicgen']['id']}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ""


def check_musicgen_type(config_json: dict, folder: Path) -> None:
    """MusicGen-Melody and other models would load under another class and decode garbage or fail obscurely:
    say what the folder holds instead."""
    model_type = config_json.get("model_type")
    if model_type == "musicgen":
        return
    what = ("MusicGen-Melody, another architecture (it prepends its conditions to the decoder's input instead of "
            "cross-attending to them), which cotvtm does not decode from" if model_type == "musicgen_melody" else
            f"a {model_type!r} model, not MusicGen")
    raise UserError(f"holds {what}; use facebook/musicgen-small, -medium, -large or a -stereo- one of them "
                    "(`cotvtm models fetch --musicgen stereo-small`)", folder)


@contextlib.contextmanager
def loading(name: str, folder: Path):
    """Load quietly (transformers reports every unused tensor, e.g. CLIP's text tower we leave out), and turn a
    model folder that will not load (incomplete download, wrong files) into one clear message."""
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - safetensors, transformers and OS errors alike mean "this folder is bad"
        if is_out_of_memory(exc):  # not the folder's fault: said as such by the CLI
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"the {name} model here cannot be loaded ({reason}); download it again with "
                        f"`cotvtm models fetch` or point --{name.lower()} at a complete model folder", folder) from None
    finally:
        logging.set_verbosity(verbosity)
        logging.enable_progress_bar()


def _from_hub_cache(repo_id: str) -> Path | None:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE  # the package's constants alone import in a millisecond
    except ImportError:
        return None
    # The cache's documented layout (models--<org>--<name>): with no folder there, the download client (a quarter
    # of a second to import, on every procedural run without models) is not needed to know the model is missing.
    if not (Path(HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}").is_dir():
        return None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def locate_captioner(folder: Path | None = None) -> Path:
    """The image captioner for `data captions --media`: the given folder, or BLIP from the Hugging Face cache."""
    if folder is not None:
        if not (Path(folder) / "config.json").exists():
            raise UserError("is not a Hugging Face model folder (no config.json); point --captioner at an "
                            "image-to-text model such as BLIP", folder)
        return Path(folder)
    found = _from_hub_cache(config.CAPTIONER_MODEL_ID)
    if found is None:
        raise UserError(f"--media needs an image captioner: {config.CAPTIONER_MODEL_ID} is not in the Hugging Face "
                        "cache; run `cotvtm models fetch --captioner` or point --captioner at a model folder")
    return found


def fetch(musicgen_size: str = config.MUSICGEN_SIZE, captioner: bool = False) -> list[Path]:
    """Download CLIP and MusicGen (and the captioner) into the Hugging Face cache (the only network access cotvtm
    makes)."""
    paths = []
    for repo_id in (config.CLIP_MODEL_ID, config.MUSICGEN_MODEL_IDS[musicgen_size],
                    *([config.CAPTIONER_MODEL_ID] if captioner else [])):
        try:
            paths.append(_download(repo_id))
        except Exception as exc:  # noqa: BLE001 - network, auth, disk: all end in one message
            raise UserError(f"could not download {repo_id} ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                            "check the network connection, or copy the model folder into your --models folder")
    return paths


# Files a PyTorch load never reads: the TensorFlow, Flax, Rust, ONNX and Core ML copies of the weights that many
# model repositories also hold (openai/clip-vit-base-patch32 keeps three 600 MB copies besides its PyTorch one).
_OTHER_FRAMEWORKS = ["*.h5", "*.msgpack", "*.ot", "*.onnx", "*.onnx_data", "*.tflite", "*.mlmodel", "*.gguf",
                     "onnx/*", "coreml/*", "tf_model*", "flax_model*", "rust_model*"]


def _download(repo_id: str) -> Path:
    """Download a model repository with only the files transformers loads: when it has safetensors weights, its
    pickled copies of the same weights (pytorch_model*.bin) are skipped too (13 GB for MusicGen-large)."""
    from huggingface_hub import HfApi, snapshot_download

    files = HfApi().list_repo_files(repo_id)
    ignore = list(_OTHER_FRAMEWORKS)
    if any(name.endswith(".safetensors") for name in files):
        ignore += ["*.bin", "*.pt", "*.pth", "*.ckpt"]
    return Path(snapshot_download(repo_id, ignore_patterns=ignore))


def model_id(folder: Path) -> str:
    """A model's id: the hub id of a Hugging Face cache folder, else the folder's name."""
    parts = Path(folder).resolve().parts
    for part in parts:
        if part.startswith("models--"):
            return part[len("models--"):].replace("--", "/")
    return "/".join(parts[-2:])
