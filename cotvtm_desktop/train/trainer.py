"""Training RationaleMLP and EmbedDiff on an embedding set, and assembling the CoT-VTM checkpoint.

Everything a run writes lives in its --out folder:
    split.json            train/validation indices (shared by both networks, fixed by the seed)
    mlp/, embeddiff/      training state after each epoch (weights, optimizer, epoch, metrics): --resume
    metrics.csv           network, epoch, train loss, validation loss, seconds
    checkpoint/           the finished CoT-VTM checkpoint folder the neural backend loads
Weights and optimizer state are safetensors; scalars are JSON. Nothing is pickled.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from diffusers import DDPMScheduler
from safetensors.torch import load_file, save_file

from cotvtm_desktop import config
from cotvtm_desktop.errors import UserError
from cotvtm_desktop.model.checkpoint import Checkpoint, CheckpointConfig
from cotvtm_desktop.model.modules import (EmbedDiff, EmbedDiffConfig, MLPConfig, RationaleMLP, StateMLP,
                                          StateMLPConfig)
from cotvtm_desktop.train.shards import EmbeddingSet, read_embedding_set

EpochReport = Callable[[dict], None]
SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2", "prediction_type": "epsilon"}


@dataclass(frozen=True)
class Settings:
    epochs: int
    batch_size: int
    lr: float
    seed: int = 0
    weight_decay: float = 0.01


def train_mlp(data_dir: Path, out: Path, settings: Settings = Settings(**config.MLP_TRAINING),
              hidden: int = 1024, dropout: float = 0.2, resume: bool = False,
              on_epoch: EpochReport | None = None) -> dict:
    """Fit RationaleMLP: E_v -> E_r with MSE. Returns the last epoch's metrics."""
    data = read_embedding_set(data_dir)
    mlp_config = MLPConfig(data.visual.shape[1], data.rationale.shape[1], hidden, dropout)
    model = RationaleMLP(mlp_config)
    train, val = _split(out, len(data), settings.seed)

    def loss_of(batch: torch.Tensor, training: bool) -> torch.Tensor:
        return torch.nn.functional.mse_loss(model(data.visual[batch]), data.rationale[batch])

    return _fit("mlp", model, asdict(mlp_config), loss_of, train, val, out, settings, resume, on_epoch)


def train_embeddiff(data_dir: Path, out: Path, settings: Settings = Settings(**config.EMBEDDIFF_TRAINING),
                    width: int = 512, layers: int = 6, heads: int = 8, use_rationale: bool = True,
                    resume: bool = False, on_epoch: EpochReport | None = None) -> Path:
    """Fit EmbedDiff on (E_v, E_r) -> E_m with the epsilon objective (paper, eq. 15) and classifier-free condition
    dropout, then write out/checkpoint. RationaleMLP must have been trained into `out` first."""
    if not (out / "mlp" / "state.json").exists():
        raise UserError("has no trained RationaleMLP; run `cotvtm train mlp` with the same --out first", out)
    data = read_embedding_set(data_dir)
    diff_config = EmbedDiffConfig(data.visual.shape[1], data.rationale.shape[1], data.states.shape[2],
                                  data.states.shape[1], width, layers, heads, use_rationale=use_rationale)
    model = EmbedDiff(diff_config)
    train, val = _split(out, len(data), settings.seed)
    mean, std = _state_statistics(data, train)
    scheduler = DDPMScheduler(**SCHEDULE)
    generator = torch.Generator().manual_seed(settings.seed + 1)

    def loss_of(batch: torch.Tensor, training: bool) -> torch.Tensor:
        mask = data.mask[batch].float()
        clean = (data.states[batch] - mean) / std * mask[..., None]
        noise = torch.randn(clean.shape, generator=generator)
        steps = torch.randint(0, SCHEDULE["num_train_timesteps"], (len(batch),), generator=generator)
        drop = torch.rand(len(batch), generator=generator) < config.CONDITION_DROPOUT if training else None
        predicted = model(scheduler.add_noise(clean, noise, steps), steps, data.visual[batch],
                          data.rationale[batch], drop)
        denoising = (((predicted - noise) ** 2).mean(-1) * mask).sum() / mask.sum()
        lengths = mask.sum(1).long().clamp(min=1) - 1
        length = torch.nn.functional.cross_entropy(model.length_logits(data.visual[batch], data.rationale[batch]),
                                                   lengths)
        return denoising + 0.1 * length

    _fit("embeddiff", model, asdict(diff_config), loss_of, train, val, out, settings, resume, on_epoch)
    return _assemble(out, data, train, mean, std, "embeddiff")


def train_state_mlp(data_dir: Path, out: Path, settings: Settings = Settings(**config.MLP_TRAINING),
                    hidden: int = 1024, dropout: float = 0.2, resume: bool = False,
                    on_epoch: EpochReport | None = None) -> Path:
    """The paper's v -> MLP -> r -> MLP -> m ablation: a second MLP from E_r to E_m (masked MSE on normalised
    states, plus the length head), in place of EmbedDiff; then write out/checkpoint."""
    if not (out / "mlp" / "state.json").exists():
        raise UserError("has no trained RationaleMLP; run `cotvtm train mlp` with the same --out first", out)
    data = read_embedding_set(data_dir)
    state_config = StateMLPConfig(data.rationale.shape[1], data.states.shape[2], data.states.shape[1], hidden,
                                  dropout)
    model = StateMLP(state_config)
    train, val = _split(out, len(data), settings.seed)
    mean, std = _state_statistics(data, train)

    def loss_of(batch: torch.Tensor, training: bool) -> torch.Tensor:
        mask = data.mask[batch].float()
        states, length_logits = model(data.rationale[batch])
        target = (data.states[batch] - mean) / std
        fit = (((states - target) ** 2).mean(-1) * mask).sum() / mask.sum()
        lengths = mask.sum(1).long().clamp(min=1) - 1
        return fit + 0.1 * torch.nn.functional.cross_entropy(length_logits, lengths)

    _fit("state_mlp", model, asdict(state_config), loss_of, train, val, out, settings, resume, on_epoch)
    return _assemble(out, data, train, mean, std, "state_mlp")


# --- the loop ---------------------------------------------------------------------------------------------------
def _fit(name: str, model: torch.nn.Module, model_config: dict, loss_of, train: torch.Tensor, val: torch.Tensor,
         out: Path, settings: Settings, resume: bool, on_epoch: EpochReport | None) -> dict:
    folder = out / name
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    first_epoch, metrics = 1, {}
    if (folder / "state.json").exists():
        if not resume:
            raise UserError(f"already holds a {name} training run; add --resume to continue it or choose a new "
                            "--out", out)
        last_epoch, metrics = _load_state(folder, model, optimizer, model_config)
        first_epoch = last_epoch + 1
    torch.manual_seed(settings.seed)
    for epoch in range(first_epoch, settings.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(settings.seed + epoch))]
        total, count = 0.0, 0
        for start in range(0, len(order), settings.batch_size):
            batch = order[start:start + settings.batch_size]
            loss = loss_of(batch, True)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(batch), count + len(batch)
        model.eval()
        with torch.no_grad():
            val_loss = loss_of(val, False).item() if len(val) else float("nan")
        metrics = {"network": name, "epoch": epoch, "train_loss": round(total / max(count, 1), 6),
                   "val_loss": round(val_loss, 6), "seconds": round(time.perf_counter() - started, 3)}
        _save_state(folder, model, optimizer, model_config, epoch, metrics)
        _append_metrics(out / "metrics.csv", metrics)
        if on_epoch:
            on_epoch(metrics)
    return metrics


def _split(out: Path, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Train/validation indices, fixed on first use so both networks and every resumed run see the same split."""
    path = out / "split.json"
    if path.exists():
        split = json.loads(path.read_text())
        if split["count"] == count:
            return torch.tensor(split["train"]), torch.tensor(split["val"])
        raise UserError(f"split.json was made for {split['count']} samples, the data has {count}; use a new --out",
                        out)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
    held = max(1, int(count * config.VALIDATION_FRACTION)) if count > 1 else 0
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"count": count, "seed": seed, "train": order[held:], "val": order[:held]}))
    return torch.tensor(order[held:]), torch.tensor(order[:held])


def _state_statistics(data: EmbeddingSet, train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and std of E_m over the real (unmasked) tokens of the training split."""
    tokens = data.states[train][data.mask[train].bool()]
    return tokens.mean(0), tokens.std(0).clamp(min=1e-4)


def _assemble(out: Path, data: EmbeddingSet, train: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
              mapping: str) -> Path:
    """The checkpoint folder: RationaleMLP and the mapping network (`mapping`: "embeddiff" or "state_mlp"), E_m
    statistics, and the bank of the training music descriptions with their mean-pooled E_m."""
    mlp = _trained(out / "mlp", RationaleMLP, MLPConfig)
    diff = _trained(out / mapping, EmbedDiff, EmbedDiffConfig) if mapping == "embeddiff" else None
    state_mlp = _trained(out / mapping, StateMLP, StateMLPConfig) if mapping == "state_mlp" else None
    texts, rows = {}, []
    for index in train.tolist():  # one bank entry per distinct description
        music = data.texts[index]["music"]
        if music not in texts:
            texts[music] = len(rows)
            rows.append(index)
    rows_t = torch.tensor(rows)
    mask = data.mask[rows_t].float()
    pooled = (data.states[rows_t] * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
    checkpoint = Checkpoint(CheckpointConfig(mlp.config, diff.config if diff else None, data.clip, data.musicgen,
                                             data.rationale_encoder, schedule=dict(SCHEDULE),
                                             mapping="embeddiff" if diff else "mlp",
                                             state_mlp=state_mlp.config if state_mlp else None),
                            mlp, diff, mean, std, list(texts), torch.nn.functional.normalize(pooled, dim=-1),
                            state_mlp)
    checkpoint.save(out / "checkpoint")
    return out / "checkpoint"


def _trained(folder: Path, module_class, config_class):
    meta = json.loads((folder / "state.json").read_text())
    module = module_class(config_class(**meta["config"]))
    module.load_state_dict(load_file(str(folder / "model.safetensors")))
    return module.eval()


# --- training state ---------------------------------------------------------------------------------------------
def _save_state(folder: Path, model, optimizer, model_config: dict, epoch: int, metrics: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = optimizer.state_dict()
    tensors = {f"{i}.{k}": v for i, entry in state["state"].items() for k, v in entry.items() if torch.is_tensor(v)}
    scalars = {f"{i}.{k}": v for i, entry in state["state"].items() for k, v in entry.items()
               if not torch.is_tensor(v)}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "optimizer.safetensors"))
    (folder / "state.json").write_text(json.dumps({"epoch": epoch, "config": model_config, "metrics": metrics,
                                                   "param_groups": state["param_groups"], "scalars": scalars}))


def _load_state(folder: Path, model, optimizer, model_config: dict) -> tuple[int, dict]:
    meta = json.loads((folder / "state.json").read_text())
    if meta["config"] != json.loads(json.dumps(model_config)):
        raise UserError("was trained with other settings than this run's; use the same settings or a new --out",
                        folder)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    state: dict[int, dict] = {}
    for key, value in load_file(str(folder / "optimizer.safetensors")).items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["epoch"]), meta["metrics"]


def _append_metrics(path: Path, metrics: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(metrics))
        if new:
            writer.writeheader()
        writer.writerow(metrics)
