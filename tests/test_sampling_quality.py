"""Does the fast sampler (the default) match the paper's 200-step DDPM? Measured in embedding space on a small
EmbedDiff trained here, for a few seconds, to map E_v to E_m where E_m is a fixed function of E_v."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from diffusers import DDPMScheduler  # noqa: E402

from cotvtm_desktop.model.checkpoint import Checkpoint, CheckpointConfig, EncoderRef  # noqa: E402
from cotvtm_desktop.model.modules import EmbedDiff, EmbedDiffConfig, MLPConfig, RationaleMLP  # noqa: E402
from cotvtm_desktop.model.pipeline import CoTVTMPipeline  # noqa: E402

VISUAL, LENGTH, WIDTH = 16, 6, 24


def toy_data(count: int, generator: torch.Generator, mixing: torch.Tensor):
    visual = torch.nn.functional.normalize(torch.randn(count, VISUAL, generator=generator), dim=-1)
    states = torch.tanh(visual @ mixing).view(count, LENGTH, WIDTH)
    return visual, states


@pytest.fixture(scope="module")
def trained():
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(VISUAL, LENGTH * WIDTH, generator=generator) * 2
    visual, states = toy_data(512, generator, mixing)
    mean, std = states.mean(dim=(0, 1)), states.std(dim=(0, 1))
    config = EmbedDiffConfig(visual_dim=VISUAL, rationale_dim=8, state_dim=WIDTH, state_length=LENGTH, width=64,
                             layers=2, heads=4, use_rationale=False)
    torch.manual_seed(0)
    model = EmbedDiff(config)
    schedule = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2", "prediction_type": "epsilon"}
    scheduler = DDPMScheduler(**schedule)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    torch.manual_seed(0)
    for _ in range(700):
        pick = torch.randint(0, len(visual), (128,))
        clean = (states[pick] - mean) / std
        noise = torch.randn_like(clean)
        t = torch.randint(0, 1000, (128,))
        drop = torch.rand(128) < 0.1  # classifier-free guidance: learn the null condition too
        loss = torch.nn.functional.mse_loss(model(scheduler.add_noise(clean, noise, t), t, visual[pick], None, drop),
                                            noise)
        loss = loss + torch.nn.functional.cross_entropy(model.length_logits(visual[pick], None),
                                                        torch.full((128,), LENGTH - 1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    mlp = MLPConfig(VISUAL, 8, 16)
    checkpoint = Checkpoint(CheckpointConfig(mlp, config, EncoderRef("toy", VISUAL), EncoderRef("toy", WIDTH),
                                             EncoderRef("toy", 8), schedule=schedule),
                            RationaleMLP(mlp).eval(), model, mean, std, ["x"], torch.zeros(1, WIDTH))
    held_out = toy_data(48, torch.Generator().manual_seed(1), mixing)
    return CoTVTMPipeline(checkpoint), held_out


def cosine(pipeline, held_out, **sampling) -> float:
    visual, target = held_out
    sampled = pipeline(visual, generator=torch.Generator().manual_seed(3), **sampling).states
    return torch.nn.functional.cosine_similarity(sampled.flatten(1), target.flatten(1)).mean().item()


def test_fast_samplers_match_the_papers_200_step_ddpm(trained):
    pipeline, held_out = trained
    ddpm = cosine(pipeline, held_out, sampler="ddpm", steps=200, guidance=2.0)
    dpm = cosine(pipeline, held_out, sampler="sde-dpmsolver++", steps=20, guidance=2.0)  # the default
    ddim = cosine(pipeline, held_out, sampler="ddim", steps=20, guidance=2.0)
    shuffled = pipeline(held_out[0].roll(1, dims=0), sampler="sde-dpmsolver++", steps=20, guidance=2.0,
                        generator=torch.Generator().manual_seed(3)).states
    unrelated = torch.nn.functional.cosine_similarity(shuffled.flatten(1), held_out[1].flatten(1)).mean().item()
    assert ddpm > 0.8  # it learned the mapping
    assert unrelated < ddpm - 0.3  # and the samples depend on E_v
    assert dpm > ddpm - 0.03 and ddim > ddpm - 0.05  # 20 solver steps do as well as 200 DDPM steps
