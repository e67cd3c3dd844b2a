"""The CoT-VTM checkpoint: a folder with `config.json` (dims, L, schedule, the encoders it was trained against,
format version), `model.safetensors` (both networks, E_m normalisation statistics, the description bank's pooled
embeddings) and `bank.json` (the bank's music descriptions). No pickles anywhere."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from cotvtm_desktop.errors import UserError
from cotvtm_desktop.model.registry import check_musicgen_type, model_config
from cotvtm_desktop.model.modules import (EmbedDiff, EmbedDiffConfig, MLPConfig, RationaleMLP, StateMLP,
                                          StateMLPConfig)

FORMAT = "cotvtm-checkpoint"
FORMAT_VERSION = 1
_VOLATILE_KEYS = {"_name_or_path", "transformers_version", "torch_dtype", "dtype", "architectures", "_commit_hash"}


@dataclass(frozen=True)
class EncoderRef:
    """Which encoder a checkpoint was trained against: its id, output width and a fingerprint of its config."""

    id: str
    dim: int
    fingerprint: str = ""


@dataclass(frozen=True)
class CheckpointConfig:
    mlp: MLPConfig
    embeddiff: EmbedDiffConfig | None  # None when mapping == "mlp"
    clip: EncoderRef
    musicgen: EncoderRef  # E_m lives in this MusicGen's T5 space; dim is the T5 width
    rationale_encoder: EncoderRef  # used in training only
    schedule: dict = field(default_factory=lambda: {"num_train_timesteps": 1000,
                                                    "beta_schedule": "squaredcos_cap_v2",
                                                    "prediction_type": "epsilon"})
    sampling: dict = field(default_factory=lambda: {"scheduler": "sde-dpmsolver++", "steps": 20, "guidance": 3.0,
                                                    "clamp_denoised": 6.0})
    mapping: str = "embeddiff"  # or "mlp": the v -> MLP -> r -> MLP -> m ablation
    state_mlp: StateMLPConfig | None = None

    @property
    def state_length(self) -> int:
        return (self.embeddiff or self.state_mlp).state_length

    def to_json(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> "CheckpointConfig":
        return cls(mlp=MLPConfig(**data["mlp"]),
                   embeddiff=EmbedDiffConfig(**data["embeddiff"]) if data.get("embeddiff") else None,
                   clip=EncoderRef(**data["clip"]), musicgen=EncoderRef(**data["musicgen"]),
                   rationale_encoder=EncoderRef(**data["rationale_encoder"]), schedule=data["schedule"],
                   sampling=data["sampling"], mapping=data.get("mapping", "embeddiff"),
                   state_mlp=StateMLPConfig(**data["state_mlp"]) if data.get("state_mlp") else None)


@dataclass
class Checkpoint:
    config: CheckpointConfig
    mlp: RationaleMLP
    embeddiff: EmbedDiff | None  # the mapping E_r' (+ E_v) -> E_m: EmbedDiff, or StateMLP for the ablation
    state_mean: torch.Tensor  # (state_dim,) E_m normalisation
    state_std: torch.Tensor
    bank_texts: list[str]
    bank_embeddings: torch.Tensor  # (N, state_dim) pooled E_m of each description, unit length
    state_mlp: StateMLP | None = None

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {f"mlp.{k}": v for k, v in self.mlp.state_dict().items()}
        for name in ("embeddiff", "state_mlp"):
            module = getattr(self, name)
            if module is not None:
                tensors |= {f"{name}.{k}": v for k, v in module.state_dict().items()}
        tensors |= {"state_mean": self.state_mean, "state_std": self.state_std,
                    "bank_embeddings": self.bank_embeddings}
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps(self.config.to_json(), indent=2))
        (folder / "bank.json").write_text(json.dumps(self.bank_texts, indent=1, ensure_ascii=False))


def encoder_fingerprint(config_json: dict) -> str:
    """Identifies an encoder architecture and size from its config.json (ids and versions left out)."""
    stable = {k: v for k, v in config_json.items() if k not in _VOLATILE_KEYS}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_config(folder: Path) -> CheckpointConfig:
    """A checkpoint folder's config, checking that its files are there and its format is one this cotvtm reads."""
    folder = Path(folder)
    for name in ("config.json", "model.safetensors", "bank.json"):
        if not (folder / name).exists():
            raise UserError(f"is not a CoT-VTM checkpoint folder ({name} is missing); train one with "
                            "`cotvtm train` or point --cotvtm at the right folder", folder)
    data = json.loads((folder / "config.json").read_text())
    if data.get("format") != FORMAT or data.get("format_version", 0) > FORMAT_VERSION:
        raise UserError(f"has checkpoint format {data.get('format')!r} version {data.get('format_version')}; "
                        f"this cotvtm reads {FORMAT} up to version {FORMAT_VERSION}: update cotvtm", folder)
    return CheckpointConfig.from_json(data)


def load_checkpoint(folder: Path) -> Checkpoint:
    """Read a checkpoint folder, or raise UserError saying what is wrong with it."""
    folder = Path(folder)
    config = read_config(folder)
    tensors = load_file(str(folder / "model.safetensors"))
    modules = {"mlp": RationaleMLP(config.mlp),
               "embeddiff": EmbedDiff(config.embeddiff) if config.embeddiff else None,
               "state_mlp": StateMLP(config.state_mlp) if config.state_mlp else None}
    try:
        for name, module in modules.items():
            if module is not None:
                module.load_state_dict({k[len(name) + 1:]: v for k, v in tensors.items()
                                        if k.startswith(f"{name}.")})
                module.eval()
    except RuntimeError as exc:
        raise UserError(f"its weights do not match its config.json ({str(exc).splitlines()[0]})", folder) from None
    return Checkpoint(config, modules["mlp"], modules["embeddiff"], tensors["state_mean"], tensors["state_std"],
                      json.loads((folder / "bank.json").read_text()), tensors["bank_embeddings"],
                      modules["state_mlp"])


def check_encoders(config: CheckpointConfig, clip: Path, musicgen: Path, checkpoint: Path) -> None:
    """Check, from their config.json files alone (no weights are loaded), that the CLIP and MusicGen folders hold
    the encoders the checkpoint was trained against: E_v's CLIP, and the T5 encoder whose states E_m are."""
    clip_config = model_config("CLIP", clip)
    check_encoder(config.clip, "CLIP", int(clip_config.get("projection_dim", 512)), encoder_fingerprint(clip_config),
                  clip, checkpoint)
    musicgen_config = model_config("MusicGen", musicgen)
    check_musicgen_type(musicgen_config, musicgen)
    text_config = musicgen_config.get("text_encoder") or {}
    check_encoder(config.musicgen, "MusicGen", int(text_config.get("d_model", 0)), encoder_fingerprint(text_config),
                  musicgen, checkpoint)


def check_encoder(ref: EncoderRef, name: str, dim: int, fingerprint: str, folder: Path, checkpoint: Path) -> None:
    """Fail with one message when an encoder folder is not the one the checkpoint was trained against."""
    if dim != ref.dim or (ref.fingerprint and fingerprint != ref.fingerprint):
        raise UserError(
            f"the {name} model in {folder} (width {dim}) is not the one this checkpoint was trained against "
            f"({ref.id}, width {ref.dim}); point the {name} setting at {ref.id}", checkpoint)
