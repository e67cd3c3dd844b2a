"""Final Cut Pro's FCPXML: the primary storyline as a timeline input, every time an exact rational number of
seconds, and a scored copy that is the original document plus the music connected below the storyline."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import pytest
import soundfile
from click.testing import CliRunner

from cotvtm_desktop.cli import app
from cotvtm_desktop.editors.fcpxml import read_project
from cotvtm_desktop.errors import UserError

PROJECTS = Path(__file__).parent / "data" / "projects"
STORYLINE = [  # (file, in, length): the fixture's primary storyline, as Final Cut Pro plays it
    ("warm day.mp4", Fraction(1001, 1000), Fraction(1001, 250)),  # with a title above it and a marker
    (None, Fraction(0), Fraction(1001, 1500)),  # a gap, after a cross dissolve (which takes no time of its own)
    ("cool.mp4", Fraction(1001, 2000), Fraction(3003, 1000)),  # a clip holding a video; its media starts at 3600 s
    ("warm day.mp4", Fraction(7001, 1000), Fraction(1001, 1000)),  # an audition's pick, a compound clip: its two
    ("cool.mp4", Fraction(0), Fraction(1001, 1000)),  # clips from 1.001 s into it
    ("cool.mp4", Fraction(2), Fraction(1001, 1000)),  # a multicam clip showing its "Cool" angle's video
    ("cool.mp4", Fraction(1), Fraction(1001, 1000)),  # a synchronized clip (its sound connected below)
    (None, Fraction(0), Fraction(1001, 1000)),  # a disabled clip
    ("warm day.mp4", Fraction(0), Fraction(1001, 1000)),  # a clip with no start: from its file's
    ("coffee.jpg", Fraction(3600), Fraction(1001, 1000)),  # a photo (a still has no time of its own)
]  # and a clip of sound alone after it: a trailing gap, which plays nothing


@pytest.fixture
def final_cut(sources, tmp_path) -> Path:
    """The fixture's project with its media: "warm day.mp4" and "cool.mp4" in a folder of their own."""
    media = tmp_path / "Final Cut media"
    media.mkdir()
    shutil.copy(sources / "warm.mp4", media / "warm day.mp4")
    shutil.copy(sources / "cool.mp4", media / "cool.mp4")
    shutil.copy(Path(__file__).parent / "data" / "coffee.jpg", media / "coffee.jpg")
    path = tmp_path / "Trip.fcpxml"
    path.write_text((PROJECTS / "final-cut-pro.fcpxml").read_text().replace("{SOURCES}", media.as_uri()))
    return path


def pieces_of(project) -> list[tuple]:
    return [(p.file.name if p.file else None, p.source_in, p.length) for p in project.pieces]


def test_the_primary_storyline_becomes_a_timeline(final_cut):
    project = read_project(final_cut)
    assert pieces_of(project) == STORYLINE
    assert project.start == 3600  # the sequence starts at 01:00:00:00
    assert project.duration == sum(length for _, _, length in STORYLINE)
    media = final_cut.parent / "Final Cut media"
    assert project.timeline()["clips"][:3] == [{"path": str(media / "warm day.mp4"), "in": 1.001, "out": 5.005},
                                               {"blank": pytest.approx(0.667333, abs=1e-6)},
                                               {"path": str(media / "cool.mp4"), "in": 0.5005, "out": 3.5035}]


def added(copy: ET.Element) -> tuple[list[ET.Element], list[ET.Element]]:
    """The music's assets and connected clips in a scored copy."""
    assets = [a for a in copy.iterfind("resources/asset") if a.get("id").startswith("cotvtm")]
    refs = {a.get("id") for a in assets}
    return assets, [c for c in copy.iter("asset-clip") if c.get("ref") in refs]


def without_music(copy: ET.Element, original: ET.Element) -> str:
    """The copy, canonical, with the music taken out and the project's name and uid as they were."""
    assets, clips = added(copy)
    parents = {child: parent for parent in copy.iter() for child in parent}
    for element in assets + clips:
        parents[element].remove(element)
    project, was = copy.find(".//project"), original.find(".//project")
    project.attrib.update(name=was.get("name"), uid=was.get("uid"))
    return ET.canonicalize(ET.tostring(copy), strip_text=True)


def test_project_score_writes_the_document_again_with_the_music_connected(final_cut):
    before = final_cut.read_bytes()
    result = CliRunner().invoke(app, ["project", "score", str(final_cut), "--json-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["type"] == "project_done"
    assert final_cut.read_bytes() == before  # the user's document is never written
    scored, music = final_cut.with_name("Trip.scored.fcpxml"), final_cut.with_name("Trip.scored.wav")
    length = sum(length for _, _, length in STORYLINE)
    assert soundfile.info(music).duration == pytest.approx(float(length), abs=0.01)

    text = scored.read_text()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>')
    copy, original = ET.fromstring(text.encode()), ET.parse(final_cut).getroot()
    [asset], [clip] = added(copy)
    assert [rep.get("src") for rep in asset.iterfind("media-rep")] == [music.resolve().as_uri()]
    assert asset.get("duration") == clip.get("duration") == f"{length.numerator}/{length.denominator}s"
    assert asset.get("hasAudio") == "1" and asset.get("hasVideo") is None
    first = copy.find(".//project/sequence/spine/asset-clip")  # the storyline's first clip, the music connected
    assert clip in list(first) and clip.get("lane") == "-1" and clip.get("audioRole") == "music"
    assert clip.get("offset") == first.get("start") == "1001/1000s"  # at its start, in its own time
    children = [child.tag for child in first]
    assert children.index("title") < list(first).index(clip) < children.index("marker")  # as the DTD orders them
    project = copy.find(".//project")
    assert project.get("name") == "Trip (scored)" and project.get("uid") is None  # imported beside the original
    assert without_music(copy, original) == ET.canonicalize(ET.tostring(original), strip_text=True)
    assert pieces_of(read_project(scored)) == STORYLINE  # the storyline is unchanged

    alone = CliRunner().invoke(app, ["score", str(final_cut), "-o", str(final_cut.with_name("alone.wav"))],
                               catch_exceptions=False)
    assert alone.exit_code == 0, alone.output  # or the music alone, for any editor
    assert soundfile.info(final_cut.with_name("alone.wav")).duration == pytest.approx(float(length), abs=0.01)


def test_project_score_with_stems_connects_each_part(final_cut):
    result = CliRunner().invoke(app, ["project", "score", str(final_cut), "--stems"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    copy = ET.parse(final_cut.with_name("Trip.scored.fcpxml")).getroot()
    assets, clips = added(copy)
    parts = ["melody", "chords", "bass", "pad", "drums"]
    assert [c.get("name") for c in clips] == parts and [c.get("lane") for c in clips] == ["-1", "-2", "-3", "-4",
                                                                                         "-5"]
    files = [Path(a.find("media-rep").get("src").removeprefix("file://")) for a in assets]
    assert files == [(final_cut.parent / "Trip.scored.stems" / f"{part}.wav").resolve() for part in parts]
    assert all(f.exists() for f in files)


def test_an_older_document_in_a_bundle(final_cut):
    """FCPXML 1.8 (Final Cut Pro 10.4) names an asset's file in its own src; Final Cut Pro 10.6 and later export a
    .fcpxmld bundle. The copy is a plain .fcpxml beside the bundle, in the document's own version."""
    document = ET.parse(final_cut).getroot()
    document.set("version", "1.8")
    for asset in document.iterfind("resources/asset"):  # <asset src=...>, no <media-rep>
        rep = asset.find("media-rep")
        asset.set("src", rep.get("src"))
        asset.remove(rep)
    text = ET.tostring(document, encoding="unicode")
    bundle = final_cut.with_name("Trip.fcpxmld")
    bundle.mkdir()
    (bundle / "Info.fcpxml").write_text(text)
    assert "<media-rep" not in text and pieces_of(read_project(bundle)) == STORYLINE
    result = CliRunner().invoke(app, ["project", "score", str(bundle)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    copy = ET.parse(final_cut.with_name("Trip.scored.fcpxml")).getroot()
    [asset], _ = added(copy)
    assert copy.get("version") == "1.8" and asset.get("src") == final_cut.with_name("Trip.scored.wav").as_uri()
    assert asset.find("media-rep") is None
    alone = CliRunner().invoke(app, ["score", str(bundle), "-o", str(final_cut.with_name("alone.wav"))],
                               catch_exceptions=False)  # the bundle is a project, not a folder of videos
    assert alone.exit_code == 0 and final_cut.with_name("alone.wav").exists(), alone.output
    from cotvtm_desktop.gui.queue import media_files

    assert media_files([bundle]) == [bundle]  # dropped on the desktop app


def test_unusable_documents_are_one_clear_error(final_cut, tmp_path):
    def error(path: Path) -> str:
        with pytest.raises(UserError) as caught:
            read_project(path)
        return str(caught.value)

    result = CliRunner().invoke(app, ["project", "score", str(final_cut), "-o", str(tmp_path / "copy.xml")])
    assert result.exit_code == 1 and "write the new project as .fcpxml" in " ".join(result.output.split())
    (final_cut.parent / "Final Cut media" / "cool.mp4").rename(tmp_path / "moved.mp4")
    assert "clip 'cool'" in error(final_cut) and "relink it in Final Cut Pro" in error(final_cut)
    broken = tmp_path / "broken.fcpxml"
    broken.write_text("<fcpxml version='1.11'><resources>")
    assert "not a readable FCPXML document" in error(broken)
    clips_only = tmp_path / "clips.fcpxml"
    clips_only.write_text("<fcpxml version='1.11'><event name='Summer'/></fcpxml>")
    assert "holds no project" in error(clips_only) and "Export XML" in error(clips_only)
    event = tmp_path / "event.fcpxml"  # an event's export: which of its projects is meant?
    document = ET.parse(final_cut).getroot()
    first = document.find(".//project")
    document.find(".//event").append(ET.fromstring(ET.tostring(first).replace(b'name="Trip"', b'name="Trip, short"')))
    event.write_bytes(ET.tostring(document))
    assert "holds 2 projects ('Trip', 'Trip, short')" in error(event)
    odd_time = tmp_path / "odd.fcpxml"
    odd_time.write_text(final_cut.read_text().replace('duration="1001/250s"', 'duration="4.004s"'))
    assert "not a readable FCPXML document" in error(odd_time) and "4.004s" in error(odd_time)
    (tmp_path / "empty.fcpxmld").mkdir()
    assert "no Info.fcpxml in the bundle" in error(tmp_path / "empty.fcpxmld")
    assert "project not found" in error(tmp_path / "gone.fcpxml")
