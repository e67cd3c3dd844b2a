import json
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cotvtm_desktop import __version__
from cotvtm_desktop.cli import app
from media import streams

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_score_writes_beside_the_input_with_awkward_names(tmp_path, silent_clip):
    for name in ("holiday clip.mp4", "été à la plage.mp4", "-clip-.mp4"):
        src = tmp_path / name
        shutil.copy(silent_clip, src)
        result = run("score", "--", src) if name.startswith("-") else run("score", src)
        assert result.exit_code == 0, result.output
        assert streams(src.with_name(src.stem + ".scored.mp4"))["audio"] == "aac"


def test_json_progress_events(tmp_path, silent_clip):
    out = tmp_path / "o.mp4"
    result = run("score", silent_clip, "-o", out, "--json-progress")
    assert result.exit_code == 0
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["backend", "job_started"] and kinds[-1] == "file_done"
    assert events[0]["name"] == "procedural" and "neural" in events[0]["reason"]
    seg = next(e for e in events if e["type"] == "segment_done")
    assert (seg["index"], seg["count"]) == (1, 1) and seg["description"]


def test_expected_errors_are_one_line_and_exit_1(tmp_path):
    bad = tmp_path / "empty.mp4"
    bad.write_bytes(b"")
    result = run("score", bad)
    assert result.exit_code == 1
    assert "empty" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "empty.scored.mp4").exists()
    result = run("score", bad, "--json-progress")
    error = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.exit_code == 1 and error["type"] == "error" and "empty" in error["message"]


def test_backend_choice_is_explained(tmp_path, silent_clip):
    result = run("score", silent_clip, "--backend", "bogus")
    assert result.exit_code == 1 and "auto, procedural, neural" in result.output
    result = run("score", silent_clip, "--backend", "neural")  # no models in the test environment
    assert result.exit_code == 1 and "cotvtm models check" in result.output and "not found" in result.output
    result = run("score", silent_clip, "-o", tmp_path / "auto.mp4")
    assert result.exit_code == 0 and "procedural, because the neural backend cannot run" in result.output


def test_existing_output_is_skipped(tmp_path, silent_clip):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"keep me")
    result = run("score", silent_clip, "-o", out)
    assert result.exit_code == 0 and "--overwrite" in result.output and out.read_bytes() == b"keep me"


@pytest.fixture
def folder(tmp_path, silent_clip, clip12):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(silent_clip, src / "a.mp4")
    shutil.copy(clip12, src / "sub" / "b.mp4")
    (src / "broken.mov").write_bytes(b"not a video at all" * 50)
    (src / "notes.txt").write_text("ignored")
    return src


def test_batch_scores_what_it_can_and_reports_the_rest(tmp_path, folder):
    out = tmp_path / "out"
    result = run("batch", folder, "-o", out, "--recursive")
    assert result.exit_code == 1  # one file failed
    assert (out / "a.scored.mp4").exists() and (out / "sub" / "b.scored.mp4").exists()
    assert not (out / "broken.scored.mp4").exists()
    assert "broken.mov" in result.output and "2 done, 0 skipped, 1 failed" in result.output
    again = run("batch", folder, "-o", out, "--recursive", "--resume", "--json-progress")
    events = [json.loads(line) for line in again.stdout.splitlines()]
    summary = events[-1]
    assert summary["type"] == "batch_done" and (summary["done"], summary["skipped"], summary["failed"]) == (0, 2, 1)


def test_batch_without_recursive_stays_at_the_top(tmp_path, folder):
    (folder / "broken.mov").unlink()
    out = tmp_path / "out"
    result = run("batch", folder, "-o", out)
    assert result.exit_code == 0 and (out / "a.scored.mp4").exists() and not (out / "sub").exists()


def test_module_entry_point_runs(tmp_path, silent_clip):
    result = subprocess.run([sys.executable, "-m", "cotvtm_desktop", "score", str(silent_clip), "-o",
                             str(tmp_path / "m.mp4"), "--midi"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m.mp4").exists() and (tmp_path / "m.mid").exists() and (tmp_path / "m.json").exists()


def test_ctrl_c_leaves_no_output(tmp_path):
    import signal

    from media import make_video

    src = make_video(tmp_path / "long.mp4", 60, size="160x90", rate=10)
    out = tmp_path / "long.scored.mp4"
    process = subprocess.Popen([sys.executable, "-m", "cotvtm_desktop", "score", str(src), "--json-progress"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:
        if json.loads(line)["type"] == "segment_done":
            process.send_signal(signal.SIGINT)
            break
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "cancelled" in stderr and "Traceback" not in stderr
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))
