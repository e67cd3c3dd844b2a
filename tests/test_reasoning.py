"""The teacher side: the CoT prompt, parsing and repair, an OpenAI-compatible client against a fake server on
127.0.0.1, the rules teacher, and resumable runs."""

import json
import threading

import pytest

pytest.importorskip("openai")

from cotvtm_desktop.reasoning.cot import BadAnswer, build_prompt, parse_answer, prompt_sections  # noqa: E402
from cotvtm_desktop.reasoning.teacher import LLMTeacher, RulesTeacher  # noqa: E402
from cotvtm_desktop.train.reason import read_captions, rejects_path, run_reasoning  # noqa: E402
from fake_llm import GOOD, FakeLLM  # noqa: E402


@pytest.fixture
def server():
    fake = FakeLLM()
    yield fake
    fake.close()


def test_prompt_has_the_five_parts_in_order():
    messages = build_prompt("A cat sleeps on a sunny windowsill.")
    assert messages[0]["role"] == "system" and "expert" in messages[0]["content"]
    text = messages[1]["content"]
    order = [text.find(part) for part in ("Your task", "Step 1", "Example:", "Question: A cat sleeps")]
    assert order == sorted(order) and -1 not in order
    assert set(prompt_sections()) == {"expert", "task", "steps", "example", "caption"}


def test_parse_repairs_fences_trailing_commas_and_stray_text():
    assert parse_answer(GOOD).music_elements.instruments == ["piano", "strings", "acoustic guitar"]
    trailing_comma = GOOD.replace('"rhythm": "slow, steady, gentle"}', '"rhythm": "slow, steady, gentle",}')
    messy = "Sure!\n```json\n" + trailing_comma + "\n```\nHope this helps."
    assert parse_answer(messy).music_description.startswith("A soft piano melody")
    with pytest.raises(BadAnswer, match="no JSON"):
        parse_answer("The music should be calm.")
    with pytest.raises(BadAnswer, match="schema"):
        parse_answer(json.dumps({"music description": "too little"}))


def test_llm_teacher_against_an_openai_compatible_server(server, tmp_path):
    captions = [{"id": str(i), "caption": c, "path": None} for i, c in enumerate(
        ["good beach", "fenced forest", "broken street", "busy market", "slow river"])]
    teacher = LLMTeacher(server.url, "fake-model", api_key_env="NO_SUCH_KEY", timeout=0.5, max_retries=1)
    out = tmp_path / "reasoned.jsonl"
    seen = []
    result = run_reasoning(captions, out, teacher, concurrency=3, on_progress=seen.append)
    rows = {json.loads(line)["caption"]: json.loads(line) for line in out.read_text().splitlines()}
    rejects = {json.loads(line)["caption"]: json.loads(line) for line in rejects_path(out).read_text().splitlines()}
    assert set(rows) == {"good beach", "fenced forest", "busy market"}
    assert rows["good beach"]["answer"]["music description"] == "Music for good beach" + GOOD.split(
        "A soft piano melody", 1)[1].split('"', 1)[0]
    assert server.calls["busy market"] == 2  # 429, then a retry that succeeded
    assert set(rejects) == {"broken street", "slow river"}
    assert "JSON" in rejects["broken street"]["reason"] and "Timeout" in rejects["slow river"]["reason"]
    assert result.done == 5 and result.rejected == 2 and result.tokens == 45 and seen[-1].done == 5
    asked = dict(server.calls)
    again = run_reasoning(captions, out, teacher)  # a rerun asks nothing again
    assert again.done == 5 and server.calls == asked
    assert len(out.read_text().splitlines()) == 3


def test_interrupted_run_resumes_without_losing_or_duplicating(server, tmp_path):
    captions = [{"id": str(i), "caption": f"good scene {i}", "path": None} for i in range(12)]
    teacher = LLMTeacher(server.url, "fake-model", api_key_env="NO_SUCH_KEY")
    out = tmp_path / "r.jsonl"
    cancel = threading.Event()

    def stop_early(progress):
        if progress.done >= 4:
            cancel.set()

    first = run_reasoning(captions, out, teacher, concurrency=2, on_progress=stop_early, cancel=cancel)
    assert 4 <= first.done < 12
    with open(out, "a") as f:
        f.write('{"key": "cut short by a ki')  # a line a kill left half-written
    run_reasoning(captions, out, teacher, concurrency=2)
    keys = [json.loads(line)["key"] for line in out.read_text().splitlines() if line.endswith("}")]
    assert len(keys) == len(set(keys)) == 12
    assert max(server.calls.values()) == 1  # nothing was asked twice


def test_rules_teacher_runs_with_no_llm(tmp_path):
    captions_file = tmp_path / "captions.csv"
    captions_file.write_text("id,caption\n1,A dog running on a sunny beach at sunset\n"
                             "2,A lonely man sitting still in a dark rainy street at night\n")
    rows = read_captions(captions_file)
    out = tmp_path / "rules.jsonl"
    run_reasoning(rows, out, RulesTeacher())
    answers = [json.loads(line)["answer"] for line in out.read_text().splitlines()]
    assert all(a["step1 reasoning"].startswith("Rule-based teacher") for a in answers)
    happy, sad = sorted(answers, key=lambda a: a["image_description"])
    assert "major" in happy["music description"] and "minor" in sad["music description"]


def test_data_reason_command(tmp_path):
    from click.testing import CliRunner

    from cotvtm_desktop.cli import app

    captions = tmp_path / "c.jsonl"
    captions.write_text('{"caption": "Children dancing at a colourful birthday party"}\n{"caption": "  "}\n')
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["data", "reason", str(captions), "--out", str(out), "--teacher", "rules"],
                                catch_exceptions=False)
    assert result.exit_code == 0 and "1 of 1 captions reasoned" in result.output
    bad = tmp_path / "c.txt"
    bad.write_text("x")
    result = CliRunner().invoke(app, ["data", "reason", str(bad), "--out", str(out), "--teacher", "rules"])
    assert result.exit_code == 1 and "caption file" in result.output


def test_template_requests_are_varied_and_reproducible():
    from cotvtm_desktop.train.captions import scene_requests

    first, again, other = scene_requests(40, seed=1), scene_requests(40, seed=1), scene_requests(40, seed=2)
    assert first == again and first != other and len(set(first)) == 40
    assert not any("{" in r for r in first)
    assert any("Describe an image of a" in r for r in scene_requests(200))


def test_caption_set_from_files_and_templates(server, tmp_path):
    from click.testing import CliRunner

    from cotvtm_desktop.cli import app

    first = tmp_path / "a.csv"
    first.write_text("caption,path\nA red kite over a green hill,\nA red kite over a green hill,\n")
    second = tmp_path / "b.jsonl"
    second.write_text('{"caption": "Fireworks above a dark harbour", "path": "fireworks.jpg"}\n')
    out = tmp_path / "captions.jsonl"
    result = CliRunner().invoke(app, ["data", "captions", str(first), str(second), "--out", str(out),
                                      "--templates", "5", "--base-url", server.url, "--model", "fake",
                                      "--api-key-env", "NO_SUCH_KEY"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 7 and [r["source"] for r in rows[:2]] == ["a.csv", "b.jsonl"]
    assert rows[1]["path"] == "fireworks.jpg" and all(r["caption"].startswith("A scene for: ") for r in rows[2:])
    assert len(read_captions(out)) == 7  # the set feeds `cotvtm data reason` as it is
