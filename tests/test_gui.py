"""The desktop app, driven as a user would (offscreen): it runs real `cotvtm` child processes on the procedural
backend, so every job here is the product's own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

pytest.importorskip("PySide6")

from media import make_two_shot_video, make_video, streams
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent, QKeySequence
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from cotvtm_desktop.gui.settings import Settings
from cotvtm_desktop.gui.window import MainWindow

JOB_TIMEOUT_MS = 120_000


@pytest.fixture
def app_home(tmp_path) -> tuple[QSettings, Path]:
    store = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    Settings(backend="procedural").save(store)
    return store, tmp_path / "data"


@pytest.fixture
def window(qtbot, app_home):
    win = MainWindow(*app_home)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.tasks.shut_down(20000)


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory) -> Path:
    """25 s, a cut at 12 s: two segments."""
    return make_two_shot_video(tmp_path_factory.mktemp("gui") / "two shots.mp4", "orange", "navy", 12.0, 25.0)


def drop(window: MainWindow, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def wait_inspected(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: all(i.status != "checking" for i in window.queue.items), timeout=JOB_TIMEOUT_MS)


def wait_idle(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.tasks.busy(), timeout=JOB_TIMEOUT_MS)


def preview(qtbot, window: MainWindow, row: int = 0):
    window.table.selectRow(row)
    item = window.selected()
    window.preview_action.trigger()
    wait_idle(qtbot, window)
    assert item.status == "preview ready", item.message
    return item


def segment_audio(window: MainWindow, item) -> dict[int, np.ndarray]:
    files = sorted(window.tasks.work_dir(item).glob("segment-*.flac"))
    return {int(f.name.split("-")[1]): soundfile.read(f, dtype="float32")[0] for f in files}


def test_join_scores_a_split_recordings_parts_as_one(qtbot, window, tmp_path):
    """Select a camera's split parts, Join (Ctrl+J): one queue item of the whole recording, its length theirs
    together; its preview is one video of them all. Join asks for two or more inspected videos."""
    from media import ffmpeg

    recording = make_video(tmp_path / "recording.mp4", 8, size="160x90",
                           vcodec=("-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "25"))
    ffmpeg("-i", str(recording), "-c", "copy", "-f", "segment", "-segment_time", "4", "-reset_timestamps", "1",
           str(tmp_path / "GX0%d0042.MP4"))
    drop(window, [tmp_path / "GX000042.MP4", tmp_path / "GX010042.MP4"])
    wait_inspected(qtbot, window)
    window.table.selectRow(0)
    assert not window.join_action.isEnabled()  # one file: nothing to join
    window.table.selectAll()
    assert window.join_action.isEnabled()
    window.join_action.trigger()
    [item] = window.queue.items
    assert item.name == "GX000042.MP4 + 1 part" and item.parts == [str(tmp_path / "GX010042.MP4")]
    assert item.duration == pytest.approx(8.0, abs=0.1) and window.selected() is item
    preview(qtbot, window)
    assert streams(window.tasks.preview_path(item))["duration"] == pytest.approx(8.0, abs=0.1)
    manifest = json.loads(window.tasks.preview_path(item).with_suffix(".json").read_text())
    assert len(manifest["clips"]) == 2 and manifest["cuts"] == []
    # the segment's picture, at 4 s, lies in the second part: inspected through a timeline of the parts
    qtbot.waitUntil(lambda: bool(item.segments and item.segments[0].thumbnail), timeout=JOB_TIMEOUT_MS)


def test_slideshow_makes_one_film_of_photos_and_clips_in_the_order_taken(qtbot, window, app_home, tmp_path):
    """Select photos and a clip, Slideshow (Ctrl+L): one queue item, in the order they were taken, each photo for about
    the Settings' seconds (whole bars of its music); its preview is a quick look at the film (360 lines) and its
    segment pictures come from its parts; it exports as a full HD mp4 named for the folder of its pictures."""
    from PIL import Image

    def photo(name: str, colour: tuple[int, int, int], taken: str) -> Path:
        exif = Image.Exif()
        exif.get_ifd(0x8769)[36867] = taken
        Image.new("RGB", (400, 300), colour).save(tmp_path / name, exif=exif)
        return tmp_path / name

    window.settings.photo_seconds, window.settings.photo_dissolve, window.settings.photo_dates = 2.0, True, True
    later = photo("a.jpg", (30, 60, 200), "2024:05:01 12:00:00")
    earlier = photo("b.jpg", (220, 160, 40), "2024:05:01 11:00:00")
    clip = make_video(tmp_path / "c.mp4", 3, size="160x90",
                      extra=("-metadata", "creation_time=2024-05-01T13:00:00Z"))
    drop(window, [later, earlier, clip])
    wait_inspected(qtbot, window)
    window.table.selectRow(0)
    assert not window.slideshow_action.isEnabled()  # one file: no slideshow
    window.table.selectAll()
    assert window.slideshow_action.isEnabled() and not window.join_action.isEnabled()  # photos are no recording
    window.slideshow_action.trigger()
    [item] = window.queue.items
    assert (item.kind, item.path, item.parts) == ("slideshow", str(earlier), [str(later), str(clip)])
    assert item.name == "Slideshow: b.jpg + 2 more" and item.duration == pytest.approx(7.0, abs=0.1)
    assert item.score_inputs()[-6:] == ["--slideshow", "--keep-similar", "--photo-seconds", "2", "--dissolve",
                                        "--dates"]
    preview(qtbot, window)
    made = window.tasks.preview_path(item)
    manifest = json.loads(made.with_suffix(".json").read_text())
    assert [Path(c["path"]).name for c in manifest["clips"]] == ["b.jpg", "a.jpg", "c.mp4"]
    photos = [c["out"] - c["in"] for c in manifest["clips"][:2]]  # whole bars of the music, about 2 s each
    assert photos[0] == photos[1] and 1.0 <= photos[0] <= 3.0
    # the preview a quick look (360 lines), the export full size; the pieces of both kept for the next of each
    assert streams(made)["frame_size"] == (640, 360) and streams(made)["duration"] == pytest.approx(
        item.duration, abs=0.1) and item.duration == pytest.approx(sum(photos) + 3.0, abs=0.1)
    qtbot.waitUntil(lambda: bool(item.segments and all(s.thumbnail for s in item.segments)), timeout=JOB_TIMEOUT_MS)
    window.export_action.trigger()
    wait_idle(qtbot, window)
    assert item.status == "exported", item.message
    film = tmp_path.parent / f"{tmp_path.name}.scored.mp4"  # named for the folder its pictures lie in, beside it
    exported = streams(film)
    assert Path(item.output) == film and (exported["video"], exported["frame_size"]) == (
        "h264", (1920, 1080))
    sizes = {p.name.split("-")[1] for p in window.tasks.work_dir(item).glob("piece-*.mp4")}
    assert sizes == {"640x360", "1920x1080"}


def test_a_live_photos_video_stays_out_of_the_slideshow_its_photo_is_in(qtbot, window, tmp_path):
    """An iPhone's Live Photo (IMG_1.HEIC and IMG_1.MOV, 2 s) among the selection: the slideshow shows the photo,
    and the video stays in the queue, the status line says so; a photo and its own video alone make no slideshow."""
    from PIL import Image

    for name, colour in (("IMG_1.jpg", (200, 40, 40)), ("IMG_2.jpg", (40, 200, 40))):
        Image.new("RGB", (320, 240), colour).save(tmp_path / name)
    motion = make_video(tmp_path / "IMG_1.mov", 2, size="160x120")
    drop(window, [tmp_path / "IMG_1.jpg", motion])
    wait_inspected(qtbot, window)
    window.table.selectAll()
    window.slideshow_action.trigger()
    assert [i.kind for i in window.queue.items] == ["image", "video"] and "needs two" in window.activity.text()
    drop(window, [tmp_path / "IMG_2.jpg"])
    wait_inspected(qtbot, window)
    window.table.selectAll()
    window.slideshow_action.trigger()
    shown, kept = window.queue.items
    assert shown.kind == "slideshow" and shown.files() == [str(tmp_path / "IMG_1.jpg"), str(tmp_path / "IMG_2.jpg")]
    assert kept.path == str(motion) and "1 Live Photo video left in the queue" in window.activity.text()


def test_a_bursts_other_shots_stay_out_of_the_slideshow(qtbot, window, tmp_path):
    """Three shots of one moment (taken a second apart, all but alike) and another photo: the slideshow shows the
    sharpest shot and the other photo, and the two other shots stay in the queue, the status line says so; the
    command is told to keep what the app chose."""
    from PIL import Image, ImageFilter

    portrait = Image.open(Path(__file__).parent / "data" / "astronaut.jpg").convert("RGB")
    for k, blur in enumerate((1.5, 0.0, 2.5)):
        exif = Image.Exif()
        exif.get_ifd(0x8769)[36867] = f"2024:05:01 12:00:0{k}"
        portrait.crop((3 * k, 2 * k, 500 + 3 * k, 500 + 2 * k)).filter(ImageFilter.GaussianBlur(blur)).save(
            tmp_path / f"IMG_{k}.jpg", exif=exif)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2024:05:01 12:05:00"
    Image.open(Path(__file__).parent / "data" / "coffee.jpg").save(tmp_path / "IMG_9.jpg", exif=exif)
    drop(window, [tmp_path / f"IMG_{k}.jpg" for k in (0, 1, 2, 9)])
    wait_inspected(qtbot, window)
    window.table.selectAll()
    window.slideshow_action.trigger()
    [show] = [i for i in window.queue.items if i.kind == "slideshow"]
    kept = [i for i in window.queue.items if i is not show]
    assert show.files() == [str(tmp_path / "IMG_1.jpg"), str(tmp_path / "IMG_9.jpg")]
    assert [i.path for i in kept] == [str(tmp_path / "IMG_0.jpg"), str(tmp_path / "IMG_2.jpg")]
    assert "2 shots of a burst left in the queue: the sharpest shows" in window.activity.text()
    assert "--keep-similar" in show.score_inputs()


def test_arranging_a_slideshow_reorders_leaves_out_and_adds_its_files(qtbot, window, tmp_path, monkeypatch):
    """Arrange… (or a double-click) on a slideshow: its files in a new order, one left out, each photo longer; it
    keeps its pictures and its work folder (pictures of its photos serve again) but not its preview, whose music and
    segments were for the old order. Slideshow on it and more photos takes them in after its own. Remove then deletes
    what the app kept for it."""
    from PIL import Image

    from cotvtm_desktop.gui import window as window_module
    from cotvtm_desktop.gui.queue import SegmentState

    photos = []
    for name, colour in (("a.jpg", (200, 40, 40)), ("b.png", (40, 200, 40)), ("c.jpg", (40, 40, 200)),
                         ("d.jpg", (200, 200, 40))):
        Image.new("RGB", (320, 240), colour).save(tmp_path / name)  # no dates: queue order
        photos.append(str(tmp_path / name))
    clip = make_video(tmp_path / "e.mp4", 3, size="160x90")
    window.settings.photo_seconds = 2.0
    drop(window, [Path(p) for p in photos[:3]] + [clip])
    wait_inspected(qtbot, window)
    window.table.selectAll()
    window.slideshow_action.trigger()
    [item] = window.queue.items
    assert item.files() == [*photos[:3], str(clip)] and item.duration == pytest.approx(9.0, abs=0.1)
    assert set(item.file_thumbnails) == set(item.files()) and all(map(Path.exists, map(Path, item.pictures())))
    assert item.file_durations == {str(clip): pytest.approx(3.0, abs=0.1)}
    assert window.arrange_action.isEnabled()
    kept = window.tasks.work_dir(item) / "piece-kept.mp4"  # what a preview leaves for the next
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"picture")
    window.tasks.preview_path(item).parent.mkdir(parents=True, exist_ok=True)
    window.tasks.preview_path(item).write_bytes(b"old preview")
    left_out = item.file_thumbnails[photos[1]]

    class Arranging(window_module.SlideshowDialog):
        def exec(self) -> int:
            self.shown.setCurrentRow(3)  # the clip first
            for _ in range(3):
                self.move_selected(-1)
            self.shown.setCurrentRow(2)  # b.png
            self.leave_out_selected()
            self.seconds.setValue(3.0)
            self.shown.setCurrentRow(1)  # a.jpg, the best: longer
            self.hold.setValue(6.0)
            return 1

    monkeypatch.setattr(window_module, "SlideshowDialog", Arranging)
    window.table.doubleClicked.emit(window.queue.index(0, 0))
    [arranged] = window.queue.items
    assert arranged.files() == [str(clip), photos[0], photos[2]] and arranged.id == item.id
    assert arranged.photo_seconds == 3.0 and arranged.duration == pytest.approx(12.0, abs=0.1)
    assert arranged.held == {photos[0]: 6.0}
    assert arranged.thumbnail == item.file_thumbnails[str(clip)] and window.selected() is arranged
    assert kept.exists() and not window.tasks.preview_path(item).exists() and not arranged.preview
    assert not Path(left_out).exists() and all(map(Path.exists, map(Path, arranged.pictures())))
    assert arranged.score_inputs() == [str(clip), photos[0], photos[2], "--slideshow", "--keep-similar",
                                       "--photo-seconds", "3", "--hold", f"{photos[0]}=6"]

    class Lengthening(window_module.SlideshowDialog):
        def exec(self) -> int:
            self.length.setValue(20)
            return 1

    monkeypatch.setattr(window_module, "SlideshowDialog", Lengthening)
    window.arrange_action.trigger()
    [arranged] = window.queue.items
    assert arranged.film_length == 20 and arranged.duration == pytest.approx(20.0, abs=0.1)
    assert arranged.photo_times() == pytest.approx({photos[0]: 11.33, photos[2]: 5.67}, abs=0.01)  # 2:1, as held
    assert arranged.score_inputs()[-2:] == ["--film-length", "20"]

    class Titling(window_module.SlideshowDialog):
        def exec(self) -> int:
            self.title_words.setText("  Our   summer ")
            return 1

    # a title alone changes the picture, not the timing or the music: the segments and their edits stay
    arranged.segments = [SegmentState(0, 0.0, 9.0, silent=True)]
    monkeypatch.setattr(window_module, "SlideshowDialog", Titling)
    window.arrange_action.trigger()
    [titled] = window.queue.items
    assert titled.title == "Our summer" and titled.segments == arranged.segments and titled.files() == arranged.files()
    assert titled.score_inputs()[-2:] == ["--title", "Our summer"]

    class Dating(window_module.SlideshowDialog):
        def exec(self) -> int:
            self.dates.setChecked(True)
            self.places.setChecked(True)
            return 1

    monkeypatch.setattr(window_module, "SlideshowDialog", Dating)  # the days' dates: the picture alone, too
    window.arrange_action.trigger()
    [dated] = window.queue.items
    assert dated.dates and dated.places and dated.segments == arranged.segments and dated.title == "Our summer"
    assert dated.score_inputs()[-4:] == ["--dates", "--places", "--title", "Our summer"]

    drop(window, [Path(photos[3])])
    wait_inspected(qtbot, window)
    window.table.selectAll()
    window.slideshow_action.trigger()
    [grown] = window.queue.items
    assert grown.files() == [*arranged.files(), photos[3]] and grown.id == item.id and grown.photo_seconds == 3.0
    assert grown.title == "Our summer" and grown.held == {photos[0]: 6.0} and grown.dates and grown.places
    assert kept.exists() and set(grown.file_thumbnails) == set(grown.files())
    window.table.selectRow(0)
    window.remove_action.trigger()
    assert not window.queue.items and not kept.exists() and not any(map(Path.exists, map(Path, grown.pictures())))


def test_slideshow_dialog_moves_sorts_and_keeps_two_files(qtbot, tmp_path):
    """The dialog's buttons: a selection moves a place at a time and stops at the ends; sorting by name, or by when
    they were taken (not when one says nothing: the order stays and the dialog names it); two files stay at least."""
    from PIL import Image

    from cotvtm_desktop.gui.queue import QueueItem
    from cotvtm_desktop.gui.slideshow_dialog import SlideshowDialog

    names = ["c.jpg", "a.jpg", "b.jpg"]
    for name, hour in zip(names, (9, 11, 10)):
        exif = Image.Exif()
        exif.get_ifd(0x8769)[36867] = f"2024:05:01 {hour:02}:00:00"
        Image.new("RGB", (64, 48), (hour * 20, 80, 80)).save(tmp_path / name, exif=exif)
    files = [str(tmp_path / n) for n in names]
    item = QueueItem(files[0], kind="slideshow", parts=files[1:], photo_seconds=4.0)
    dialog = SlideshowDialog(item)
    qtbot.addWidget(dialog)
    named = lambda: [Path(f).name for f in dialog.files()]  # noqa: E731
    assert named() == names and not dialog.changed() and not dialog.earlier.isEnabled()  # the first is selected
    dialog.shown.item(1).setSelected(True)  # the first two: together, nowhere earlier to go
    assert not dialog.earlier.isEnabled() and dialog.later.isEnabled()
    dialog.move_selected(1)
    assert named() == ["b.jpg", "c.jpg", "a.jpg"] and dialog.changed()
    dialog.move_selected(1)  # at the end: they stay
    assert named() == ["b.jpg", "c.jpg", "a.jpg"] and not dialog.later.isEnabled()
    dialog.sort_by_name()
    assert named() == ["a.jpg", "b.jpg", "c.jpg"] and len(dialog.shown.selectedItems()) == 2
    dialog.sort_by_taken()
    assert named() == ["c.jpg", "b.jpg", "a.jpg"] and not dialog.said.text()
    Image.new("RGB", (64, 48)).save(tmp_path / "b.jpg")  # its date gone
    dialog.sort_by_name()
    dialog.sort_by_taken()
    assert named() == ["a.jpg", "b.jpg", "c.jpg"] and "b.jpg does not say when it was taken" in dialog.said.text()
    dialog.shown.clearSelection()
    dialog.shown.item(0).setSelected(True)
    dialog.leave_out_selected()
    assert named() == ["b.jpg", "c.jpg"] and "2 photos · about 0:08.0" in dialog.summary.text()
    # a photo held longer: its own seconds under its name and in the film's length; another shows none of its own
    dialog.shown.setCurrentRow(1)
    assert dialog.hold.isEnabled() and dialog.hold.text() == "as the rest"
    dialog.hold.setValue(7.5)
    assert dialog.held() == {files[0]: 7.5} and dialog.shown.item(1).text() == "c.jpg · 7.5 s"
    assert "about 0:11.5" in dialog.summary.text() and dialog.changed()
    dialog.shown.setCurrentRow(0)
    assert dialog.hold.text() == "as the rest" and dialog.held() == {files[0]: 7.5}  # showing it changes nothing
    dialog.shown.setCurrentRow(1)
    assert dialog.hold.value() == 7.5
    dialog.hold.setValue(dialog.hold.minimum())  # as the rest again
    assert dialog.held() == {} and dialog.shown.item(1).text() == "c.jpg"
    # the film's length set: its photos share it, their own seconds no longer asked
    assert dialog.length.text() == "auto" and dialog.seconds.isEnabled()
    dialog.length.setValue(30)
    assert dialog.film_length() == 30 and "about 0:30.0" in dialog.summary.text() and not dialog.seconds.isEnabled()
    dialog.shown.selectAll()
    assert not dialog.leave_out.isEnabled()
    dialog.leave_out_selected()  # two stay at least
    assert named() == ["b.jpg", "c.jpg"]


def test_drop_queues_media_expands_folders_and_reports_broken_files(qtbot, window, tmp_path, clip12):
    folder = tmp_path / "holiday"
    (folder / "day two").mkdir(parents=True)
    make_video(folder / "day two" / "beach.mp4", 3, audio=False)
    (folder / "notes.txt").write_text("not media")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip12.read_bytes()[:3000])  # a truncated copy
    drop(window, [clip12, folder, broken])
    drop(window, [clip12])  # already queued: not added twice
    names = [i.name for i in window.queue.items]
    assert names == [clip12.name, "beach.mp4", "broken.mp4"]
    wait_inspected(qtbot, window)
    good, beach, bad = window.queue.items
    assert (good.kind, round(good.duration), good.status) == ("video", 12, "ready")
    assert Path(good.thumbnail).is_file() and round(beach.duration) == 3
    assert bad.status == "failed" and "broken.mp4" in bad.message and "re-copy" in bad.message
    assert "failed" in window.queue.data(window.queue.index(2, 2))
    window.table.selectRow(2)
    assert not window.preview_action.isEnabled()  # nothing to preview in a broken file


def test_settings_round_trip_through_an_ini_file(tmp_path):
    store = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    chosen = Settings(backend="neural", models_dir="/models", musicgen_size="medium", device="cpu",
                      precision="float32", segment_seconds=8.0, genre="lo-fi jazz", lead="cello", chords="organ",
                      bass="tuba", without="drums,pad",
                      energy=-0.5, soundfont="/fonts/FluidR3_GM.sf2",
                      keep_original_audio=False, duck_db=6.0, music_db=-4.0, lufs=-23.0, crossfade=1.0, seed=42,
                      fade_in=1.5, fade_out=4.0,
                      output_dir=str(tmp_path / "out"), naming="{name}-music", midi=True, stems=True, music_only=True,
                      replace_existing=True, photo_seconds=6.5, photo_dissolve=True, photo_dates=True,
                      photo_places=True, slideshow_size=2160)
    chosen.save(store)
    again = Settings.load(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert again == chosen
    assert Settings.load(QSettings(str(tmp_path / "none.ini"), QSettings.Format.IniFormat)) == Settings()
    args = again.score_args()
    for flag, value in (("--backend", "neural"), ("--lufs", "-23"), ("--seed", "42"), ("--models", "/models"),
                        ("--genre", "lo-fi jazz"), ("--lead", "cello"), ("--soundfont", "/fonts/FluidR3_GM.sf2"),
                        ("--chords", "organ"), ("--bass", "tuba"),
                        ("--segment-seconds", "8"), ("--crossfade", "1"), ("--duck-db", "6"),
                        ("--music-db", "-4"), ("--musicgen-size", "medium"), ("--precision", "float32"),
                        ("--fade-in", "1.5"), ("--fade-out", "4"), ("--energy", "-0.5")):
        assert args[args.index(flag) + 1] == value
    assert "--replace-audio" in args
    assert " ".join(args).count("--without") == 2 and "--without drums --without pad" in " ".join(args)
    assert again.output_for(Path("/videos/trip.mov"), "video") == tmp_path / "out" / "trip-music.wav"
    assert Settings().output_for(Path("/p/cat.jpg"), "image") == Path("/p/cat.scored.m4a")
    assert Settings(musicgen_size="stereo-large").score_args()[-2:] == ["--musicgen-size", "stereo-large"]
    assert Settings(music_only=True).output_for(Path("/p/trip.mov"), "video") == Path("/p/trip.scored.wav")
    # a project's export is a scored copy of it, an EDL's as FCP 7 XML
    assert Settings().output_for(Path("/p/cut.kdenlive"), "timeline") == Path("/p/cut.scored.kdenlive")
    assert Settings().output_for(Path("/p/cut.EDL"), "timeline") == Path("/p/cut.scored.xml")
    # a camera numbers its clips from MVI_0001 on each card folder: queued together, no export replaces another
    queued = {Path("/card/100CANON/MVI_0001.MOV"): "video", Path("/card/101CANON/MVI_0001.MOV"): "video",
              Path("/card/100CANON/MVI_0001.JPG"): "image", Path("/card/100CANON/MVI_0001.MP4"): "video"}
    into_one = Settings(output_dir="/out")
    assert {into_one.output_for(path, kind, queued).name for path, kind in queued.items()} == {
        "100CANON MVI_0001.MOV.scored.mp4", "101CANON MVI_0001.MOV.scored.mp4", "MVI_0001.MP4.scored.mp4",
        "MVI_0001.JPG.scored.m4a"}  # its MVI_0001.scored.json would be the videos' manifest's name
    assert Settings().output_for(Path("/card/101CANON/MVI_0001.MOV"), "video", queued) == Path(
        "/card/101CANON/MVI_0001.scored.mp4")  # beside each input, nothing clashes


def test_settings_dialog_shows_and_returns_every_setting(qtbot, tmp_path, monkeypatch):
    from cotvtm_desktop.gui.settings_dialog import SettingsDialog

    chosen = Settings(backend="procedural", models_dir="/models", musicgen_size="large", device="cpu",
                      precision="float32", segment_seconds=8.0, genre="rock", lead="trumpet", chords="harp",
                      bass="fretless bass", without="drums",
                      energy=1.0, soundfont="/fonts/GeneralUser.sf2",
                      keep_original_audio=False,
                      duck_db=6.0, music_db=5.0, lufs=-23.0, crossfade=1.0, fade_in=0.0, fade_out=6.5, seed=42,
                      output_dir=str(tmp_path),
                      naming="{name}-music", midi=True, stems=True, music_only=True, replace_existing=True,
                      photo_seconds=6.5, photo_dissolve=True, photo_dates=True, photo_places=True,
                      slideshow_size=2160)
    dialog = SettingsDialog(chosen)
    qtbot.addWidget(dialog)
    assert dialog.settings() == chosen
    dialog.precision.setCurrentText("bfloat16")
    assert dialog.settings().precision == "bfloat16"
    dialog.slideshow_size.setCurrentText("720p (HD)")
    assert dialog.settings().slideshow_size == 720
    dialog.genre.setCurrentIndex(0)  # from the picture
    assert dialog.settings().genre == "" and "--genre" not in dialog.settings().score_args()
    dialog.lead.setCurrentIndex(0)  # each genre's own
    dialog.parts.boxes["drums"].setChecked(True)
    assert (dialog.settings().lead, dialog.settings().without) == ("", "")
    assert "--lead" not in dialog.settings().score_args() and "--without" not in dialog.settings().score_args()
    assert dialog.energy.currentText() == "Much livelier"
    dialog.energy.setCurrentText("As the picture asks")
    assert dialog.settings().energy == 0.0 and "--energy" not in dialog.settings().score_args()
    dialog.energy.setCurrentText("Calmer")
    args = dialog.settings().score_args()
    assert args[args.index("--energy") + 1] == "-0.5"
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    for box in dialog.parts.boxes.values():
        box.setChecked(False)
    assert not ok.isEnabled()  # no music at all is not a setting: a segment is muted on its own
    dialog.parts.boxes["melody"].setChecked(True)
    assert ok.isEnabled() and dialog.settings().without == "chords,bass,pad,drums"
    dialog.soundfont[1].clear()  # the shipped one
    assert dialog.settings().soundfont == "" and "--soundfont" not in dialog.settings().score_args()
    from PySide6.QtWidgets import QFileDialog, QPushButton

    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: asked.append(args) or ("/f/Fluid.sf2", ""))
    qtbot.mouseClick(dialog.soundfont[0].findChild(QPushButton), Qt.MouseButton.LeftButton)
    assert dialog.settings().soundfont == "/f/Fluid.sf2" and "*.sf2" in asked[0][-1] and "*.sf3" in asked[0][-1]


def test_settings_offer_the_soundfonts_installed_on_this_computer(qtbot, tmp_path, monkeypatch):
    """A distribution's fonts (Debian's fluid-soundfont-gm puts FluidR3_GM.sf2 and a default-GM.sf2 link to it in
    /usr/share/sounds/sf2, musescore-general-soundfont its .sf3 in /usr/share/sounds/sf3) drop down under the
    Soundfont line, each once; the shipped one stays the default."""
    from PySide6.QtWidgets import QComboBox

    from cotvtm_desktop import config
    from cotvtm_desktop.gui.settings_dialog import SettingsDialog

    system, compressed, mine = tmp_path / "sf2", tmp_path / "sf3", tmp_path / "home" / "soundfonts"
    system.mkdir()
    compressed.mkdir()
    (compressed / "MuseScore_General.sf3").write_bytes(b"RIFF")
    mine.mkdir(parents=True)
    (system / "FluidR3_GM.sf2").write_bytes(b"RIFF")
    (system / "default-GM.sf2").symlink_to(system / "FluidR3_GM.sf2")
    (system / "readme.txt").write_text("not a font")
    (mine / "GeneralUser GS.SF2").write_bytes(b"RIFF")
    monkeypatch.setattr(config, "SOUNDFONT_FOLDERS", (str(system), str(compressed), str(tmp_path / "none"),
                                                      str(mine)))
    assert config.installed_soundfonts() == [system / "FluidR3_GM.sf2", compressed / "MuseScore_General.sf3",
                                             mine / "GeneralUser GS.SF2"]
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    offered = dialog.soundfont[0].findChild(QComboBox)
    assert [offered.itemText(i) for i in range(offered.count())] == [str(system / "FluidR3_GM.sf2"),
                                                                     str(compressed / "MuseScore_General.sf3"),
                                                                     str(mine / "GeneralUser GS.SF2")]
    assert dialog.settings().soundfont == ""  # the shipped one until one is chosen
    offered.setCurrentIndex(2)
    assert dialog.settings().soundfont == str(mine / "GeneralUser GS.SF2")
    elsewhere = SettingsDialog(Settings(soundfont="/elsewhere/font.sf2"))
    qtbot.addWidget(elsewhere)
    assert elsewhere.settings().soundfont == "/elsewhere/font.sf2"


def test_settings_dialog_says_what_auto_uses_as_the_model_choices_change(qtbot, tmp_path):
    """The dialog asks `cotvtm models check` (a real child process) again whenever the model folder or the
    MusicGen choice changes, and shows the newest answer."""
    pytest.importorskip("transformers")
    from cotvtm_desktop.gui.settings_dialog import SettingsDialog
    from cotvtm_desktop.testing.tiny_models import make_all

    models = make_all(tmp_path / "models")
    dialog = SettingsDialog(Settings(backend="auto"))
    qtbot.addWidget(dialog)
    status = dialog.models_status
    qtbot.waitUntil(lambda: status.text().startswith("Auto uses"), timeout=JOB_TIMEOUT_MS)
    assert "procedural" in status.text()  # the tests' models folder is empty
    dialog.models_dir[1].setText(str(models))
    dialog.models_dir[1].editingFinished.emit()
    assert status.text() == "Checking the neural models…"
    qtbot.waitUntil(lambda: status.text().startswith("Auto uses"), timeout=JOB_TIMEOUT_MS)
    assert "neural" in status.text() and "all its models are present" in status.text()
    dialog.musicgen_size.setCurrentText("stereo-large")
    assert dialog.checked_args[-4:] == ["--musicgen-size", "stereo-large", "--models", str(models)]
    qtbot.waitUntil(lambda: status.text().startswith("Auto uses"), timeout=JOB_TIMEOUT_MS)
    assert "neural" in status.text()  # the folder's own musicgen/ wins over the cache
    chosen = dialog.settings()
    assert (chosen.models_dir, chosen.musicgen_size) == (str(models), "stereo-large")


def test_preview_then_export_with_progress(qtbot, window, app_home, two_shots, tmp_path):
    out = tmp_path / "exports"
    window.settings.output_dir = str(out)
    drop(window, [two_shots])
    wait_inspected(qtbot, window)
    seen = {"overall": [], "segments": []}
    window.tasks.overall.connect(lambda fraction, text: seen["overall"].append((fraction, text)))
    window.tasks.segment_progress.connect(lambda item, index, state: seen["segments"].append((index, state)))
    item = preview(qtbot, window)
    assert (0, "done") in seen["segments"] and (1, "done") in seen["segments"]
    fractions = [f for f, text in seen["overall"] if text]
    assert fractions == sorted(fractions) and 0 < fractions[-1] <= 1
    assert any(text.startswith("Previewing two shots.mp4") for _, text in seen["overall"])
    assert any(text.endswith("(1 of 1, procedural backend)") for _, text in seen["overall"])
    assert Path(item.preview).is_file() and len(item.segments) == 2
    assert [round(s.end) for s in item.segments] == [12, 25]  # the boundary sits on the scene cut
    assert all(s.description and s.brief for s in item.segments)
    qtbot.waitUntil(lambda: all(s.thumbnail for s in item.segments), timeout=JOB_TIMEOUT_MS)
    assert len(window.strip.tiles) == 2 and "0:12.0" in window.strip.tiles[0].title.text()

    window.export_action.trigger()
    wait_idle(qtbot, window)
    output = out / "two shots.scored.mp4"
    assert item.status == "exported" and item.output == str(output), item.message
    info = streams(output)
    assert abs(info["duration"] - 25.0) < 0.1 and info["audio"] == "aac" and info["video"] == "h264"
    assert window.open_action.isEnabled()
    assert not list(out.glob(".*partial*"))

    window.export_action.trigger()  # exists and replacing is off: skipped, and said so
    wait_idle(qtbot, window)
    assert item.status == "skipped" and "already exists" in item.message

    window.settings.music_only = True  # Settings › Music alone: the music as a WAV for an editor's track
    window.settings.stems = True  # and Stems: its parts apart beside it
    window.export_action.trigger()
    wait_idle(qtbot, window)
    music = out / "two shots.scored.wav"
    assert item.status == "exported" and item.output == str(music), item.message
    assert streams(music)["video"] is None and abs(streams(music)["duration"] - 25.0) < 0.1
    assert sorted(p.name for p in (out / "two shots.scored.stems").iterdir()) == [
        "bass.wav", "chords.wav", "drums.wav", "melody.wav", "pad.wav"]

    kept = [window.tasks.work_dir(item), Path(item.preview), Path(item.segments[0].thumbnail)]
    assert all(p.exists() for p in kept)
    window.remove_action.trigger()  # what the app kept for it goes; the exports stay
    assert not window.queue.items and not any(p.exists() for p in kept) and output.exists() and music.exists()


def test_export_all_into_one_folder_gives_clips_with_one_name_their_own_exports(qtbot, window, silent_clip,
                                                                                 tmp_path):
    """A camera numbers its clips from MVI_0001 again on each card folder."""
    for folder in ("100CANON", "101CANON"):
        (tmp_path / "card" / folder).mkdir(parents=True)
        shutil.copy(silent_clip, tmp_path / "card" / folder / "MVI_0001.MOV")
    window.settings.output_dir = str(tmp_path / "out")
    drop(window, [tmp_path / "card"])
    wait_inspected(qtbot, window)
    window.export_all_action.trigger()
    wait_idle(qtbot, window)
    assert [i.status for i in window.queue.items] == ["exported", "exported"]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.mp4")) == [
        "100CANON MVI_0001.MOV.scored.mp4", "101CANON MVI_0001.MOV.scored.mp4"]


def test_an_editor_project_previews_its_music_and_exports_a_copy_with_it(qtbot, window, sources, tmp_path):
    from cotvtm_desktop.editors.mlt import read_project

    edit = tmp_path / "edit"
    edit.mkdir()
    for name in ("warm.mp4", "cool.mp4"):
        shutil.copy(sources / name, edit / name)
    project = edit / "trip.kdenlive"  # a 0.5 s gap, warm.mp4 1-7 s, cool.mp4 0-5 s
    shutil.copy(Path(__file__).parent / "data" / "projects" / "kdenlive.kdenlive", project)
    window.settings.output_dir = str(tmp_path / "out")
    window.settings.segment_seconds = 4.0
    drop(window, [project])
    wait_inspected(qtbot, window)
    [item] = window.queue.items
    assert (item.kind, item.duration, item.status) == ("timeline", 11.5, "ready") and Path(item.thumbnail).is_file()
    assert window.queue.data(window.queue.index(0, 1)) == "0:12"

    preview(qtbot, window)
    assert streams(item.preview)["video"] == "h264"  # the edit's picture, small, with its music
    assert streams(item.preview)["duration"] == pytest.approx(11.5, abs=0.05)
    assert len(item.segments) >= 2 and all(s.description for s in item.segments)
    qtbot.waitUntil(lambda: all(s.thumbnail for s in item.segments), timeout=JOB_TIMEOUT_MS)

    project.write_text(project.read_text().replace('<blank length="15"/>', '<blank length="45"/>'))
    preview(qtbot, window)  # edited in the editor since: 1 s longer
    assert item.duration == 12.5 and streams(item.preview)["duration"] == pytest.approx(12.5, abs=0.05)

    window.export_action.trigger()
    wait_idle(qtbot, window)
    copy = tmp_path / "out" / "trip.scored.kdenlive"
    assert item.status == "exported" and item.output == str(copy), item.message
    assert read_project(copy).timeline() == read_project(project).timeline()
    assert soundfile.info(copy.with_suffix(".wav")).duration == pytest.approx(12.5, abs=0.01)


def test_status_says_how_long_the_music_still_takes(window, clip12):
    """From the pace of the segments so far (a neural job on a CPU takes minutes per segment); not before 10 s
    of it, so a procedural job never shows a guess."""
    tasks, now, seen = window.tasks, [100.0], []
    tasks.clock = lambda: now[0]
    tasks.overall.connect(lambda fraction, text: seen.append(text))
    item = window.queue.add([clip12])[0]

    def rendering(segment: int, fraction: float, at: float) -> str:
        now[0] = at
        tasks._on_event("export", item, {"type": "progress", "stage": "rendering", "segment": segment,
                                         "fraction": fraction, "count": 4})
        return seen[-1]

    assert "left" not in rendering(1, 0.0, 100.0)
    assert "left" not in rendering(1, 0.5, 105.0)  # too soon to tell
    assert rendering(2, 0.0, 140.0).endswith(" — about 2 min left")  # a quarter in 40 s: 120 s to go
    assert rendering(3, 0.0, 150.0).endswith(" — under a minute left")
    assert rendering(3, 0.0, 100.0 + 2 * 3600).endswith(" — about 2 h 0 min left")


def test_a_segment_tile_says_which_cuts_its_music_hits_and_where_it_makes_room(qtbot, window, tmp_path):
    """The preview's manifest names the cuts each segment's arrangement marks and where its melody rests for a
    voice; the tile shows them in the input's time, and a restart keeps them."""
    import json

    from cotvtm_desktop.gui.queue import QueueItem
    from cotvtm_desktop.gui.segment_strip import SegmentTile

    manifest = tmp_path / "preview.json"
    manifest.write_text(json.dumps({"input": {"duration": 24.0}, "options": {"silences": []}, "segments": [
        {"index": 0, "start": 0.0, "end": 12.0, "description": "calm", "arrangement": {"hits": [5.2]}},
        {"index": 1, "start": 12.0, "end": 24.0, "description": "busy",
         "arrangement": {"hits": [3.5, 7.25], "voices": [[1.0, 4.5]]}},
        {"index": 2, "start": 24.0, "end": 30.0, "description": "words"}]}))  # a neural segment: no arrangement
    item = QueueItem("clip.mp4")
    window.tasks._read_manifest(item, manifest)
    assert [s.hits for s in item.segments] == [[5.2], [15.5, 19.25], []]
    assert [s.voices for s in item.segments] == [[], [[13.0, 16.5]], []]
    tiles = [SegmentTile(s) for s in item.segments]
    for tile in tiles:
        qtbot.addWidget(tile)
    assert tiles[0].follows.text() == "hits the cut at 0:05.2"
    assert tiles[1].follows.text() == "hits the cuts at 0:15.5, 0:19.2\nmelody rests for a voice at 0:13.0–0:16.5"
    assert tiles[0].follows.isVisibleTo(tiles[0]) and not tiles[2].follows.isVisibleTo(tiles[2])
    restored = QueueItem.from_json(json.loads(json.dumps(item.to_json()))).segments[1]
    assert restored.hits == [15.5, 19.25] and restored.voices == [[13.0, 16.5]]


def test_regenerating_one_segment_changes_only_its_audio(qtbot, window, two_shots):
    drop(window, [two_shots])
    wait_inspected(qtbot, window)
    item = preview(qtbot, window)
    before = segment_audio(window, item)
    assert sorted(before) == [0, 1]
    window.strip.tiles[1].regenerate_button.click()
    wait_idle(qtbot, window)
    assert item.status == "preview ready"
    after = segment_audio(window, item)
    assert np.array_equal(before[0], after[0])  # untouched, sample for sample
    assert before[1].shape == after[1].shape and not np.array_equal(before[1], after[1])
    assert item.segments[1].seed == item.segments[1].edit_seed != 0
    assert not window.strip.tiles[0].back_action.isEnabled()  # nothing to go back to there

    liked = item.segments[1].edit_seed  # regenerated again, then back: the music it had, sample for sample
    window.strip.tiles[1].regenerate_button.click()
    wait_idle(qtbot, window)
    assert not np.array_equal(segment_audio(window, item)[1], after[1])
    assert window.strip.tiles[1].back_action.isEnabled()
    window.strip.tiles[1].back_action.trigger()
    wait_idle(qtbot, window)
    assert item.segments[1].edit_seed == liked and item.segments[1].earlier_seeds == [0]
    assert np.array_equal(segment_audio(window, item)[1], after[1])
    assert np.array_equal(segment_audio(window, item)[0], before[0])

    window.strip.tiles[1].lock_button.click()  # locked: a new video seed leaves it alone, the other changes
    assert item.segments[1].locked and not window.strip.tiles[1].regenerate_button.isEnabled()
    window.settings.seed = 99
    preview(qtbot, window)
    locked = segment_audio(window, item)
    assert np.array_equal(locked[1], after[1]) and not np.array_equal(locked[0], after[0])


def test_editing_a_segment_brief_changes_its_music(qtbot, window, two_shots, monkeypatch):
    from cotvtm_desktop.gui import window as window_module

    drop(window, [two_shots])
    wait_inspected(qtbot, window)
    item = preview(qtbot, window)
    first = item.segments[0]
    new_genre = "rock" if first.brief["genre"] != "rock" else "ambient"

    class Accepting(window_module.SegmentDialog):
        def exec(self) -> int:
            self.genre.setCurrentText(new_genre)
            self.tempo.setValue(150)
            return 1

    monkeypatch.setattr(window_module, "SegmentDialog", Accepting)
    window.strip.tiles[0].edit_button.click()
    assert first.brief_changes == {"genre": new_genre, "tempo_bpm": 150}
    assert "edited" in window.strip.tiles[0].state.text()
    preview(qtbot, window)
    edited = item.segments[0]
    assert edited.brief["genre"] == new_genre and edited.brief["tempo_bpm"] == 150
    assert new_genre in edited.description and edited.brief_changes  # the edit is kept for later renders
    assert json.loads((window.tasks.data_dir / "edits" / f"{item.id}.json").read_text()) == {
        "segments": {"1": {"brief": {"genre": new_genre, "tempo_bpm": 150}, "start": 0.0, "end": edited.end}}}


def test_a_segment_given_another_lead_and_no_drums_keeps_them_when_edited_again(qtbot, window, two_shots,
                                                                                 monkeypatch):
    from cotvtm_desktop.gui import window as window_module

    drop(window, [two_shots])
    wait_inspected(qtbot, window)
    item = preview(qtbot, window)
    steps = iter([
        lambda d: (d.genre.setCurrentText("upbeat pop"), d.lead.setCurrentText("cello"),
                   d.parts["drums"].setChecked(False)),
        lambda d: d.intensity.setValue(20),  # after the preview, from the brief it made
    ])

    class Accepting(window_module.SegmentDialog):
        def exec(self) -> int:
            next(steps)(self)
            return 1

    monkeypatch.setattr(window_module, "SegmentDialog", Accepting)
    window.strip.tiles[0].edit_button.click()
    first = item.segments[0]
    assert first.brief_changes == {"genre": "upbeat pop", "lead": "cello", "without": ["drums"]}
    preview(qtbot, window)
    edited = item.segments[0]
    assert (edited.brief["lead"], edited.brief["without"]) == ("cello", ["drums"])
    assert edited.description.startswith("An upbeat pop piece led by cello,") and "drums" not in edited.description
    window.strip.tiles[0].edit_button.click()
    assert edited.brief_changes == {"genre": "upbeat pop", "lead": "cello", "without": ["drums"], "intensity": 0.2}


def test_the_segment_dialog_follows_its_genre(qtbot):
    from cotvtm_desktop.gui.queue import SegmentState
    from cotvtm_desktop.gui.segment_dialog import SegmentDialog
    from cotvtm_desktop.reasoning.rules import music_rules, tempo_for

    brief = {"genre": "upbeat pop", "tempo_bpm": 118, "key": "D", "mode": "major", "intensity": 0.6,
             "arousal": 0.7, "lead": "", "without": []}
    dialog = SegmentDialog(SegmentState(0, 0.0, 10.0, brief=brief))
    qtbot.addWidget(dialog)
    assert dialog.lead.currentText() == "the genre's (electric piano)" and dialog.parts["pad"].isEnabled()
    dialog.genre.setCurrentText("acoustic folk")  # a new genre: its tempo for the picture's pace, its lead, no pad
    assert dialog.tempo.value() == round(tempo_for(music_rules()["genres"]["acoustic folk"], 0.7))
    assert dialog.lead.currentText() == "the genre's (flute)" and not dialog.parts["pad"].isEnabled()
    assert dialog.changes() == {"genre": "acoustic folk"}  # the tempo follows the genre: not an edit of its own
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    for part in ("melody", "chords", "bass", "drums"):
        dialog.parts[part].setChecked(False)
    assert not ok.isEnabled() and not dialog.no_part.isHidden()
    dialog.parts["bass"].setChecked(True)
    assert ok.isEnabled() and dialog.changes()["without"] == ["melody", "chords", "drums"]
    assert not dialog.lead.isEnabled()  # no tune, no instrument to play it
    assert not dialog.instruments["chords"].isEnabled() and dialog.instruments["bass"].isEnabled()
    dialog.parts["melody"].setChecked(True)
    assert dialog.lead.isEnabled()
    assert (dialog.instruments["chords"].currentText(), dialog.instruments["bass"].currentText()) == (
        "the genre's (acoustic guitar)", "the genre's (acoustic bass)")
    dialog.instruments["bass"].setCurrentText("tuba")
    assert dialog.changes()["bass"] == "tuba" and "chords" not in dialog.changes()


def test_a_segment_set_quieter_in_its_dialog(qtbot, window, two_shots, monkeypatch):
    """Edit… › Music level −8 dB: the tile says so; the next preview makes no music again (the segments' audio is
    the same), its music is quieter there and the soundtrack bar's trace shows it."""
    from cotvtm_desktop.gui import window as window_module

    drop(window, [two_shots])
    wait_inspected(qtbot, window)
    item = preview(qtbot, window)
    before, levels_before = segment_audio(window, item), item.levels["music"]

    class Accepting(window_module.SegmentDialog):
        def exec(self) -> int:
            assert self.music_db.value() == 0 and self.music_db.isEnabled()
            self.music_db.setValue(-8)
            return 1

    monkeypatch.setattr(window_module, "SegmentDialog", Accepting)
    window.strip.tiles[1].edit_button.click()
    assert item.segments[1].music_db == -8 and item.segments[1].brief_changes == {}
    tile = window.strip.tiles[1]
    assert tile.summary.text().endswith(" · music 8 dB quieter") and "edited" in tile.state.text()
    preview(qtbot, window)
    assert item.segments[1].music_db == -8 and not item.segments[1].unheard()
    after = segment_audio(window, item)
    assert all(np.array_equal(before[k], after[k]) for k in before)  # no music made again
    change = np.array(item.levels["music"]) - np.array(levels_before)
    assert np.median(change[62:120]) - np.median(change[5:58]) == pytest.approx(-8, abs=1)  # 12.4-24 s vs 1-11.6 s
    assert json.loads((window.tasks.data_dir / "edits" / f"{item.id}.json").read_text())["segments"]["2"][
        "music_db"] == -8


def test_muting_a_segment_leaves_it_without_music(qtbot, window, two_shots):
    """Mute on a tile: the tile says so at once, the segment can no longer be regenerated or edited, and the next
    preview has no music there, and says so no more once heard."""
    from PySide6.QtCore import QPoint

    from media import decode_audio

    window.resize(1366, 740)  # a laptop's screen
    drop(window, [two_shots])
    wait_inspected(qtbot, window)
    item = preview(qtbot, window)
    tile = window.strip.tiles[1]
    assert tile.state.text() == "" and tile.regenerate_button.isEnabled()
    qtbot.waitUntil(lambda: tile.mute_button.mapTo(window.strip.viewport(), QPoint(0, tile.mute_button.height())).y()
                    <= window.strip.viewport().height())  # the strip makes room for the tiles' buttons
    tile.mute_button.click()
    assert item.segments[1].silent and window.strip.tiles[1] is tile  # changed in place
    assert tile.summary.text() == "no music (muted)" and tile.state.text() == "edited: preview to hear it"
    assert not tile.regenerate_button.isEnabled() and not tile.edit_button.isEnabled()
    assert item.edits() == {"segments": {"2": {"silent": True, "start": item.segments[1].start,
                                                   "end": item.segments[1].end}}}
    preview(qtbot, window)
    muted = window.strip.tiles[1]
    assert muted.mute_button.isChecked() and muted.state.text() == ""
    assert muted.description.text() == "no music here, as you asked"
    sound = decode_audio(Path(item.preview))
    level = [float(np.sqrt(np.mean(sound[int(a * 48000):int(b * 48000)] ** 2))) for a, b in ((1, 10), (12.2, 25))]
    assert level[0] > 0.05 and level[1] < 1e-4
    muted.mute_button.click()  # music again
    played = []
    window.preview.play_from = played.append  # Qt Multimedia cannot play here (no libpulse): what it is asked
    muted.picture.click()
    window.strip.tiles[0].picture.click()
    assert played == [pytest.approx(item.segments[1].start - 2.0), 0.0]  # from a moment before, to hear it come in
    assert item.edits() == {"segments": {}} and window.strip.tiles[1].regenerate_button.isEnabled()


def test_the_preview_plays_from_a_segment(qtbot, clip12):
    """Where Qt Multimedia loads (on Linux with libpulse0, sound device or not), play_from seeks the loaded preview
    and plays it; without, the pane says why and play_from does nothing."""
    from cotvtm_desktop.gui.preview import PreviewPane
    from cotvtm_desktop.gui.queue import QueueItem

    pane = PreviewPane()
    qtbot.addWidget(pane)
    item = QueueItem(str(clip12))
    item.preview = str(clip12)
    pane.show_item(item)
    if pane.player is None:
        pane.play_from(5.0)  # nothing to play with: no error either
        pytest.skip(f"Qt Multimedia cannot load here: {pane.unavailable}")
    qtbot.waitUntil(lambda: pane.player.duration() > 0, timeout=10000)
    pane.play_from(8.0)
    qtbot.waitUntil(lambda: pane.player.position() >= 8000, timeout=10000)
    assert pane.player.playbackState() == pane.player.PlaybackState.PlayingState and pane.play_button.text() == "Pause"


def test_a_tile_enables_what_may_change_its_music(qtbot):
    """Regenerate and Edit only for a segment neither locked nor muted, and nothing while a job runs: locking one
    then does not bring them back."""
    from cotvtm_desktop.gui.queue import SegmentState
    from cotvtm_desktop.gui.segment_strip import SegmentTile

    tile = SegmentTile(SegmentState(0, 0.0, 10.0, "calm"))
    qtbot.addWidget(tile)
    assert tile.regenerate_button.isEnabled() and tile.edit_button.isEnabled()
    tile.mute_button.click()
    assert not tile.regenerate_button.isEnabled() and not tile.edit_button.isEnabled()
    tile.mute_button.click()
    tile.enable(False)  # a job runs
    tile.lock_button.click()
    tile.lock_button.click()
    assert not tile.regenerate_button.isEnabled() and not tile.mute_button.isEnabled()
    tile.enable(True)
    assert tile.regenerate_button.isEnabled() and tile.mute_button.isEnabled()


def test_neural_backend_in_the_app_with_words_for_a_segment(qtbot, app_home, two_shots, tmp_path, monkeypatch):
    """The app on the neural backend (tiny random-weight models): a preview describes each segment from the
    checkpoint's bank; words for one segment re-render that segment alone, and the strip shows them."""
    pytest.importorskip("transformers")
    from cotvtm_desktop.gui import window as window_module
    from cotvtm_desktop.testing.tiny_models import DESCRIPTIONS, make_all

    store, data = app_home
    Settings(backend="neural", models_dir=str(make_all(tmp_path / "models")), device="cpu").save(store)
    window = MainWindow(store, data)
    qtbot.addWidget(window)
    try:
        drop(window, [two_shots])
        wait_inspected(qtbot, window)
        item = preview(qtbot, window)
        assert window.tasks.backend == "neural" and all(s.description in DESCRIPTIONS for s in item.segments)
        before = segment_audio(window, item)

        class Words(window_module.SegmentDialog):
            def exec(self) -> int:
                assert not self.genre.isEnabled()  # the neural backend has no brief to edit
                self.words.setPlainText("a slow cello melody")
                return 1

        monkeypatch.setattr(window_module, "SegmentDialog", Words)
        window.strip.tiles[1].edit_button.click()
        preview(qtbot, window)
        after = segment_audio(window, item)
        assert item.segments[1].description == "a slow cello melody" and item.segments[1].prompt
        assert "a slow cello melody" in window.strip.tiles[1].description.text()
        assert np.array_equal(before[0], after[0]) and not np.array_equal(before[1], after[1])
        assert after[1].ndim == 2 and after[1].shape[1] == 2
    finally:
        window.tasks.shut_down(20000)


def test_cancel_mid_job_leaves_no_output(qtbot, window, tmp_path):
    long_video = make_video(tmp_path / "long.mp4", 60, size="640x360")
    out = tmp_path / "exports"
    window.settings.output_dir = str(out)
    drop(window, [long_video])
    wait_inspected(qtbot, window)
    window.table.selectRow(0)
    item = window.selected()
    window.export_action.trigger()
    qtbot.waitUntil(lambda: item.progress > 0, timeout=JOB_TIMEOUT_MS)
    assert window.cancel_action.isEnabled()
    window.cancel_action.trigger()
    wait_idle(qtbot, window)
    assert item.status == "cancelled"
    assert not out.exists() or not any(out.iterdir())  # neither the video nor a partial file


def test_errors_are_shown_per_item_with_the_cli_message(qtbot, window, clip12, tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    window.settings.output_dir = str(blocker / "sub")  # a folder cannot be made inside a file
    drop(window, [clip12])
    wait_inspected(qtbot, window)
    window.table.selectRow(0)
    window.export_action.trigger()
    wait_idle(qtbot, window)
    item = window.selected()
    assert item.status == "failed" and "a file" in item.message


def test_queue_survives_a_restart_and_closing_during_a_job_asks_then_cancels(qtbot, app_home, two_shots,
                                                                          monkeypatch):
    first = MainWindow(*app_home)
    qtbot.addWidget(first)
    drop(first, [two_shots])
    wait_inspected(qtbot, first)
    first.table.selectRow(0)
    first.preview_action.trigger()
    qtbot.waitUntil(lambda: first.queue.items[0].status == "working", timeout=JOB_TIMEOUT_MS)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    assert not first.close() and first.tasks.busy() and asked  # "No" keeps the window and the job
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert first.close()
    assert not first.tasks.busy() or first.tasks.current is None or not first.tasks.current.running()

    again = MainWindow(*app_home)
    qtbot.addWidget(again)
    item = again.queue.items[0]
    assert item.path == str(two_shots.resolve()) and item.kind == "video" and item.status != "working"


def test_preview_plays_or_says_why_not(qtbot, window, two_shots):
    drop(window, [two_shots])
    wait_inspected(qtbot, window)
    preview(qtbot, window)
    pane = window.preview
    if pane.player is None:  # no Qt Multimedia here (on Linux: no libpulse0): the pane says so
        assert "Playback unavailable" in pane.note.text() and not pane.play_button.isEnabled()
        return
    assert pane.play_button.isEnabled()
    pane.play_button.click()
    qtbot.waitUntil(lambda: pane.player.position() > 300, timeout=60000)
    assert pane.play_button.text() == "Pause" and pane.player.duration() == pytest.approx(25000, abs=100)
    window.tasks.segments_changed.emit(window.selected().id)  # news about the item (its segments' pictures)...
    assert pane.player.playbackState() == pane.player.PlaybackState.PlayingState  # ...does not stop its preview
    pane.play_button.click()
    assert pane.play_button.text() == "Play"


def test_signals_keep_python_objects_alive(qtbot):
    """PySide6 6.12.0 on Python 3.11 dropped a reference to True at every signal emission, which killed the app
    ("Fatal Python error: bool_dealloc") after a few hundred job events."""
    import sys

    from cotvtm_desktop.gui.cli_process import CliProcess

    process = CliProcess(["--version"])
    received = []
    process.finished.connect(lambda status, message: received.append(status))
    before = sys.getrefcount(True)
    for _ in range(200):
        process.finished.emit("ok", "")
    assert len(received) == 200 and sys.getrefcount(True) >= before


def test_the_app_exits_cleanly_after_jobs(tmp_path, two_shots):
    """A whole session in its own process: add, preview, quit, with exit status 0."""
    import subprocess
    import sys

    script = f"""
import time
from pathlib import Path
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from cotvtm_desktop.gui.settings import Settings
from cotvtm_desktop.gui.window import MainWindow
app = QApplication([])
store = QSettings({str(tmp_path / 's.ini')!r}, QSettings.Format.IniFormat)
Settings(backend="procedural").save(store)
window = MainWindow(store, Path({str(tmp_path / 'data')!r}))
window.show()
def until(condition, seconds=120):
    end = time.time() + seconds
    while not condition() and time.time() < end:
        app.processEvents()
        time.sleep(0.02)
window.add_paths([Path({str(two_shots)!r})])
until(lambda: window.queue.items[0].status != "checking" and not window.tasks.inspections)
window.table.selectRow(0)
window.preview_action.trigger()
until(lambda: not window.tasks.busy() and not window.tasks.inspections)
print(window.queue.items[0].status)
window.close()
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "preview ready"


def test_the_app_quits_cleanly_when_terminated(tmp_path):
    """A terminate (logout, `kill`, a test harness) or Ctrl-C reaches the app despite Qt's event loop."""
    import os
    import signal
    import subprocess
    import sys
    import time

    environment = dict(os.environ, COTVTM_GUI_DATA=str(tmp_path / "data"), QT_QPA_PLATFORM="offscreen")
    app = subprocess.Popen([sys.executable, "-m", "cotvtm_desktop", "gui"], env=environment,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(5)
    assert app.poll() is None, app.communicate()[1][-2000:]  # the window is up
    app.send_signal(signal.SIGTERM)
    _, stderr = app.communicate(timeout=30)
    assert app.returncode == 0, stderr[-2000:]
    assert (tmp_path / "data" / "queue.json").is_file()  # the queue was saved on the way out


def test_the_preview_says_when_the_settings_changed_since_it_was_made(qtbot, window, two_shots, monkeypatch):
    """An export uses the settings as they are: after a change in Settings the preview no longer sounds as the
    export will, and its pane says so until the settings are back or it is made again."""
    from dataclasses import replace

    from cotvtm_desktop.gui import window as window_module

    drop(window, [two_shots])
    wait_inspected(qtbot, window)
    item = preview(qtbot, window)
    made_with = window.settings
    assert item.heard_settings == made_with.score_args()
    chosen = [replace(made_with, energy=-0.5)]

    class Accepted:  # the Settings window, closed with OK on what `chosen` holds
        def __init__(self, settings, parent):
            pass

        def exec(self):
            return True

        def settings(self):
            return chosen[0]

    monkeypatch.setattr(window_module, "SettingsDialog", Accepted)
    monkeypatch.setattr(window, "store", QSettings(str(two_shots.parent / "s.ini"), QSettings.Format.IniFormat))
    window._edit_settings()
    assert "The settings changed since this preview" in window.preview.bar_note.text()
    chosen[0] = replace(made_with, midi=True, output_dir="/exports")  # what only an export does: not the music
    window._edit_settings()
    assert "settings changed" not in window.preview.bar_note.text()
    chosen[0] = replace(made_with, genre="rock")
    window._edit_settings()
    preview(qtbot, window)
    assert "settings changed" not in window.preview.bar_note.text()
    assert "--genre" in item.heard_settings


def test_a_long_videos_tiles_are_made_as_they_come_into_view(qtbot):
    """A two-hour video's 720 segments: the strip makes the tiles in view (and a view's width either side), the
    rest as they scroll into view or are asked for, each knowing what the strip was told before it was made; shown
    again, the same file keeps its scroll."""
    from cotvtm_desktop.gui.queue import QueueItem, SegmentState
    from cotvtm_desktop.gui.segment_strip import SegmentStrip

    brief = {"genre": "upbeat pop", "tempo_bpm": 110, "key": "D", "mode": "major", "intensity": 0.6}
    segments = [SegmentState(k, 10.0 * k, 10.0 * k + 10, f"music {k}", dict(brief), seed=0) for k in range(720)]
    strip = SegmentStrip()
    qtbot.addWidget(strip)
    strip.resize(900, 350)
    strip.show()
    strip.show_item(QueueItem("/v.mp4", segments=segments, status="preview ready"))
    made = set(strip.tiles.made)
    assert len(strip.tiles) == 720 and made and max(made) < 20 and 0 in made
    assert "0:00.0–0:10.0" in strip.tiles[0].title.text()
    strip.enable(False)  # a job runs
    strip.set_segment_state(500, "rendering…")
    bar = strip.horizontalScrollBar()
    bar.setValue(bar.maximum())  # scrolled to the end
    assert {715, 719} <= set(strip.tiles.made) and 500 not in strip.tiles.made
    assert not strip.tiles[719].regenerate_button.isEnabled() and strip.tiles[719].description.text() == "music 719"
    assert strip.tiles[500].state.text() == "rendering…"  # made when asked for
    bar.setValue(0)
    strip.mark_playing(300)
    assert strip.tiles.made[300].property("playing") and bar.value() > 0  # made, outlined and in view
    assert strip.tiles.made[300].x() == 0 and strip.places[300].x() > strip.places[299].x()
    assert len(strip.tiles.made) < 100
    item = QueueItem("/v.mp4", segments=segments, status="preview ready")
    strip.show_item(item)
    bar.setValue(bar.maximum() // 2)
    where = bar.value()
    strip.show_item(item)  # again, after an edit of a tile in view, say: the strip stays where the user was
    assert bar.value() == where and min(strip.tiles.made) > 300
    strip.show_item(QueueItem("/other.mp4", segments=segments, status="preview ready"))
    assert bar.value() == 0 and 0 in strip.tiles.made


def test_a_stretch_without_music_chosen_on_the_soundtrack_bar(qtbot, window, two_shots):
    """Drag across the bar, choose "No music from …": the next preview has a silent segment exactly there (its start
    snapped onto the cut), the segment before keeps its lock; the tile of the silence says so, and un-muting it gives
    the stretch its music again. A click on the bar plays from there."""
    from media import decode_audio
    from PySide6.QtCore import QPoint

    from cotvtm_desktop.media.segments import clock

    drop(window, [two_shots])
    wait_inspected(qtbot, window)
    item = preview(qtbot, window)
    bar = window.preview.bar
    assert bar.isEnabled() and bar.item is item and "Drag across the bar" in window.preview.bar_note.text()
    assert item.levels["seconds"] == 0.2 and len(item.levels["music"]) == 125  # no "original": the video is silent
    assert "blue: the music's" in window.preview.bar_note.text()
    window.strip.tiles[0].lock_button.click()
    seed = item.segments[0].seed

    def x(seconds: float) -> QPoint:
        return QPoint(round(bar.x_of(seconds)), bar.height() // 2)

    qtbot.mousePress(bar, Qt.MouseButton.LeftButton, pos=x(12.1))
    qtbot.mouseMove(bar, x(15.0))
    qtbot.mouseMove(bar, x(18.0))
    qtbot.mouseRelease(bar, Qt.MouseButton.LeftButton, pos=x(18.0))
    quiet, again, _, play = bar.menu.actions()
    assert quiet.text().startswith("No music from 0:12.0 to 0:1") and not again.isEnabled()
    quiet.trigger()
    bar.menu.close()  # as a click on its action closes it
    [(start, end)] = item.silences
    assert start == 12.0 and end == pytest.approx(18.0, abs=0.1)  # onto the cut, then to the tenth of a second
    assert "1 stretch without music" in window.preview.bar_note.text()
    assert "Changed: preview to hear it" in window.preview.bar_note.text()

    preview(qtbot, window)
    assert [(s.start, s.end, s.in_silence) for s in item.segments] == [
        (0.0, 12.0, False), (12.0, end, True), (end, 25.0, False)]
    assert item.segments[0].locked and item.segments[0].seed == seed  # its edit followed it
    assert "Changed" not in window.preview.bar_note.text()
    tile = window.strip.tiles[1]
    assert tile.mute_button.isChecked() and "soundtrack bar" in tile.summary.text() and tile.state.text() == ""
    sound = decode_audio(Path(item.preview))
    assert np.abs(sound[int(12.2 * 48000):int((end - 0.2) * 48000)]).max() < 1e-4
    assert np.sqrt(np.mean(sound[int((end + 0.5) * 48000):int(24 * 48000)] ** 2)) > 0.01

    menu = bar.open_menu(bar._stretch_at(15.0), bar.mapToGlobal(x(15.0)))  # what a right click there opens
    assert menu.actions()[1].text() == f"Music again from 0:12.0 to {clock(end)}" and menu.actions()[1].isEnabled()
    assert not menu.actions()[0].isEnabled()
    menu.close()
    tile.mute_button.click()  # the tile's Mute gives the stretch its music again
    assert item.silences == [] and tile.state.text() == "edited: preview to hear it"
    assert "Changed: preview to hear it" in window.preview.bar_note.text()
    # what the click asks for, not played: with no sound device, Qt's FFmpeg backend can hang stopping a playing
    # preview when the window closes (playing from a moment is tested with the tiles' pictures)
    bar.seek.disconnect(window.preview.play_from)
    with qtbot.waitSignal(bar.seek) as sought:
        qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=x(5.0))
    assert sought.args[0] == pytest.approx(5.0, abs=0.1)

    window.activateWindow()  # the offscreen platform leaves a closed menu the active window
    qtbot.waitUntil(window.isActiveWindow)
    window.table.setFocus()  # where the keyboard usually is: its search by typing must not take the keys
    bar.set_position(13.04)  # as the playing preview moves it: I there, O later
    qtbot.keyClick(window, Qt.Key.Key_I)
    assert bar.selection == (13.0, 13.0)
    bar.set_position(21.5)
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert bar.menu.actions()[0].text() == "No music from 0:13.0 to 0:21.5"
    bar.menu.actions()[0].trigger()
    assert item.silences == [[13.0, 21.5]]
    bar.menu.close()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keySequence(window, QKeySequence("Ctrl+="))  # closer around the play position, then all of it again
    assert bar.view[1] - bar.view[0] == pytest.approx(12.5) and bar.view[0] < 21.5 < bar.view[1]
    qtbot.keySequence(window, QKeySequence("Ctrl+0"))
    qtbot.keyRelease(window, Qt.Key.Key_Control)
    assert not bar.zoomed()


def test_the_soundtrack_bar_draws_the_loudness_of_the_music_and_the_original(qtbot):
    """The original's loudness as a grey area, the music's as a blue line over it; the tooltip reads them out."""
    from PySide6.QtGui import QColor

    from cotvtm_desktop.gui.queue import QueueItem
    from cotvtm_desktop.gui.soundtrack_bar import (LEVEL_RANGE_DB, LEVEL_ROW, MUSIC_LEVEL_COLOUR,
                                                   ORIGINAL_LEVEL_COLOUR, SoundtrackBar)

    speaking = range(20, 30)  # 4-6 s: the original loud, the music dipped under it
    levels = {"seconds": 0.2, "music": [-30 if i in speaking else -15 for i in range(50)],
              "original": [-10 if i in speaking else -45 for i in range(50)]}
    bar = SoundtrackBar()
    qtbot.addWidget(bar)
    bar.resize(501, bar.height())
    bar.show_item(QueueItem("a.mp4", kind="video", duration=10.0, levels=levels))
    image = bar.grab().toImage()
    top, bottom = (share * bar.height() for share in LEVEL_ROW)

    def y_of(db: float) -> int:
        floor, ceiling = LEVEL_RANGE_DB
        return round(bottom - (db - floor) / (ceiling - floor) * (bottom - top))

    def colour(seconds: float, y: int) -> str:
        return QColor(image.pixel(round(bar.x_of(seconds)), y)).name()

    assert colour(5.0, y_of(-14)) == ORIGINAL_LEVEL_COLOUR and colour(2.0, y_of(-14)) != ORIGINAL_LEVEL_COLOUR
    assert colour(2.0, y_of(-48)) == ORIGINAL_LEVEL_COLOUR and colour(2.0, y_of(-40)) != ORIGINAL_LEVEL_COLOUR
    for seconds, db in ((2.0, -15), (5.0, -30), (8.0, -15)):  # the line where the music's level is, not elsewhere
        column = [QColor(image.pixel(round(bar.x_of(seconds)), y)) for y in range(bar.height())]
        blue = [y for y, c in enumerate(column) if c.blue() > 120 and c.red() < 100]
        assert blue and max(abs(y - y_of(db)) for y in blue) <= 2, (seconds, blue)
    assert MUSIC_LEVEL_COLOUR != ORIGINAL_LEVEL_COLOUR
    assert bar._describe(5.0).endswith("music \N{MINUS SIGN}30 LUFS, original sound \N{MINUS SIGN}10 LUFS")


def test_undo_and_redo_take_back_each_change_to_a_file(qtbot, window, two_shots):
    """Ctrl+Z takes back the last change to the selected file (a mute, a lock, a stretch without music chosen on the
    bar), Ctrl+Shift+Z makes it again; each file keeps its own history, and a new change drops what was undone."""
    drop(window, [two_shots])
    wait_inspected(qtbot, window)
    item = preview(qtbot, window)
    assert not window.undo_action.isEnabled() and not window.redo_action.isEnabled()
    window.strip.tiles[1].mute_button.click()
    window.strip.tiles[0].lock_button.click()
    window.preview.bar._set_silences([[3.0, 6.0]])  # as the bar's menu does
    assert window.undo_action.toolTip().startswith("Undo the change to the stretches without music (")

    def keys(sequence) -> None:
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
        qtbot.keySequence(window, sequence)
        qtbot.keyRelease(window, Qt.Key.Key_Control)  # the app's modifier state follows the last key event: none

    keys(QKeySequence.StandardKey.Undo)
    assert item.silences == [] and item.segments[0].locked and item.segments[1].silent
    assert window.statusBar().currentMessage() == "Undone: the change to the stretches without music"
    keys(QKeySequence.StandardKey.Undo)
    assert not item.segments[0].locked and window.strip.tiles[0].lock_button.text() == "Lock"
    keys(QKeySequence.StandardKey.Undo)
    assert not item.segments[1].silent and not window.strip.tiles[1].mute_button.isChecked()
    assert window.strip.tiles[1].state.text() == "" and not window.undo_action.isEnabled()  # as the preview made it
    keys(QKeySequence.StandardKey.Redo)
    assert item.segments[1].silent and window.strip.tiles[1].mute_button.isChecked()
    assert window.strip.tiles[1].state.text() == "edited: preview to hear it"
    assert window.redo_action.toolTip().startswith("Redo locking segment 1 (")
    window.strip.tiles[1].mute_button.click()  # a new change: what was undone cannot come back any more
    assert not window.redo_action.isEnabled() and window.undo_action.toolTip().startswith("Undo un-muting segment 2")


def test_an_undo_after_a_preview_brings_back_the_edits_by_the_segments_times():
    from cotvtm_desktop.gui.history import EditHistory
    from cotvtm_desktop.gui.queue import QueueItem, SegmentState

    item = QueueItem("a.mp4", kind="video", duration=25.0,
                     segments=[SegmentState(0, 0.0, 12.0, seed=0), SegmentState(1, 12.0, 25.0, seed=0)])
    history = EditHistory()
    history.seen(item)
    item.segments[1].music_db = -6.0
    history.record(item, "the edit of segment 2")
    item.silences = [[3.0, 6.0]]
    history.record(item, "the change to the stretches without music")
    history.record(item, "nothing")  # no change, no step
    # the preview cuts the stretch out of the plan: segments 0-3, 3-6 (in it), 6-12 and 12-25 (its edit kept)
    item.segments = [SegmentState(0, 0.0, 3.0), SegmentState(1, 3.0, 6.0, in_silence=True), SegmentState(2, 6.0, 12.0),
                     SegmentState(3, 12.0, 25.0, music_db=-6.0)]
    history.seen(item)
    assert history.undo(item) == "the change to the stretches without music"
    assert item.silences == [] and not item.segments[1].in_silence  # its stretch is gone: it has music again
    assert history.undo(item) == "the edit of segment 2"
    assert item.segments[3].music_db == 0.0 and history.undo(item) is None
    assert history.redo(item) == "the edit of segment 2" and item.segments[3].music_db == -6.0


def test_the_soundtrack_bar_zooms_into_a_long_video(qtbot):
    """The wheel zooms around the pointer (the moment under it stays there), sideways moves along, the view stays
    inside the file and no closer than 5 s; drawing, dragging and the levels follow the view; the play position
    takes the view along when it runs off its edge; Ctrl+0 shows the whole again."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QColor, QWheelEvent

    from cotvtm_desktop.gui.queue import QueueItem, SegmentState
    from cotvtm_desktop.gui.soundtrack_bar import LEVEL_ROW, ORIGINAL_LEVEL_COLOUR, SoundtrackBar

    loud = range(3000, 3010)  # 600-602 s: the original loud, elsewhere quiet
    levels = {"seconds": 0.2, "music": [-20] * 9000, "original": [-8 if i in loud else -48 for i in range(9000)]}
    item = QueueItem("wedding.mp4", kind="video", duration=1800.0, levels=levels,
                     segments=[SegmentState(k, 10.0 * k, 10.0 * k + 10) for k in range(180)])
    bar = SoundtrackBar()
    qtbot.addWidget(bar)
    bar.resize(901, bar.height())
    bar.show_item(item)
    assert not bar.zoomed() and bar.seconds_at(450) == pytest.approx(900.0)

    def wheel(x: float, dy: int = 0, dx: int = 0) -> None:
        at = QPointF(x, bar.height() / 2)
        bar.wheelEvent(QWheelEvent(at, bar.mapToGlobal(at), QPoint(), QPoint(dx, dy), Qt.MouseButton.NoButton,
                                   Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False))

    under = bar.seconds_at(300)
    for _ in range(20):
        wheel(300, dy=120)
    assert bar.zoomed() and bar.view[1] - bar.view[0] == pytest.approx(1800 / 1.25 ** 20)
    assert bar.seconds_at(300) == pytest.approx(under)  # the moment under the pointer stays under it
    for _ in range(10):
        wheel(300, dy=120)
    assert bar.view[1] - bar.view[0] == pytest.approx(5.0)  # no closer
    bar.show_whole()
    bar.zoom(1800 / 20, around=601.0)  # 20 s around the loud stretch, which stays where it was on the bar
    start, end = bar.view
    assert end - start == pytest.approx(20.0) and start < 601.0 < end
    wheel(0, dx=-120)  # sideways: 10 % of the view later
    assert bar.view[0] == pytest.approx(start + 2.0)

    image = bar.grab().toImage()
    top, bottom = (share * bar.height() for share in LEVEL_ROW)
    y = round(bottom - 0.8 * (bottom - top))  # about -15 dB: the loud stretch reaches over it, the rest does not
    grey = [x for x in range(bar.width()) if QColor(image.pixel(x, y)).name() == ORIGINAL_LEVEL_COLOUR]
    assert grey and bar.seconds_at(min(grey)) == pytest.approx(600.0, abs=0.5)
    assert bar.seconds_at(max(grey)) == pytest.approx(602.0, abs=0.5)

    bar.set_position(bar.view[0] + 1.0)  # playing on past the view's end: the view follows
    bar.set_position(bar.view[1] + 0.5)
    assert bar.view[0] < bar.position < bar.view[1]
    bar.pan(300)  # moved away from the play position by the user: it is left there
    kept = bar.view
    bar.set_position(bar.position + 5)
    assert bar.view == kept

    qtbot.mousePress(bar, Qt.MouseButton.LeftButton, pos=QPoint(round(bar.x_of(kept[0] + 2.0)), 5))
    qtbot.mouseMove(bar, QPoint(round(bar.x_of(kept[0] + 7.0)), 5))
    qtbot.mouseRelease(bar, Qt.MouseButton.LeftButton, pos=QPoint(round(bar.x_of(kept[0] + 7.0)), 5))
    assert bar.selection[0] == pytest.approx(kept[0] + 2.0, abs=0.1)  # a drag chooses seconds of the view
    assert bar.selection[1] == pytest.approx(kept[0] + 7.0, abs=0.1)
    bar.menu.close()
    bar.pan(-10 ** 6)
    assert bar.view[0] == 0.0 and bar.zoomed()
    zoomed = bar.view
    bar.show_item(item)  # its new preview: the view stays where the user is working
    assert bar.view == zoomed
    bar.show_item(QueueItem("other.mp4", kind="video", duration=60.0))
    assert bar.view == (0.0, 60.0)
    bar.show_item(item)
    bar.show_whole()
    assert bar.view == (0.0, 1800.0) and not bar.zoomed()


def test_a_segment_on_the_soundtrack_bar_brings_its_tile_and_its_menu(qtbot, window, two_shots):
    """Many segments: a click on the bar brings the tile of the segment there into view; a right click outside any
    stretch opens the segment's menu, its tile's actions (enabled as its buttons are)."""
    from dataclasses import replace

    from PySide6.QtCore import QPoint

    window.settings = replace(window.settings, segment_seconds=2.5)
    drop(window, [two_shots])
    wait_inspected(qtbot, window)
    item = preview(qtbot, window)
    bar, strip = window.preview.bar, window.strip
    bar.seek.disconnect(window.preview.play_from)  # what a click asks for, not played (see the test above)
    last = item.segments[-1]
    assert len(strip.tiles) > 6 and strip.horizontalScrollBar().value() == 0
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=QPoint(round(bar.x_of(last.start + 0.5)), 5))
    assert strip.horizontalScrollBar().value() > 0  # the last tile, far to the right, in view

    strip.horizontalScrollBar().setValue(0)
    window.preview._moved(round((last.start + 1.0) * 1000))  # as the playing preview reaches the last segment
    assert strip.playing == last.index and strip.tiles[last.index].property("playing")
    assert strip.horizontalScrollBar().value() > 0 and not strip.tiles[0].property("playing")
    window.strip.tiles[last.index].lock_button.click()
    qtbot.mousePress(bar, Qt.MouseButton.RightButton, pos=QPoint(round(bar.x_of(last.start + 0.5)), 5))
    menu = window.segment_menu
    texts = {a.text(): a.isEnabled() for a in menu.actions() if a.text()}
    assert texts == {"Play from here": True, "Regenerate": False, "Back to the music before": False, "Edit…": False,
                     "Unlock": True, "Mute": True}  # locked: its music is not regenerated or edited
    [mute] = [a for a in menu.actions() if a.text() == "Mute"]
    mute.trigger()
    menu.close()
    assert item.segments[last.index].silent and strip.tiles[last.index].mute_button.isChecked()
    assert window.history.next_undo(item) == f"muting segment {last.index + 1}"  # as if its tile's button


def test_stretches_without_music_add_and_give_way():
    from cotvtm_desktop.gui.soundtrack_bar import with_silence, without_silence

    assert with_silence([[1, 3], [8, 9]], 2, 5) == [[1, 5], [8, 9]]
    assert with_silence([], 4, 6) == [[4, 6]]
    assert without_silence([[1, 10]], 4, 6) == [[1, 4], [6, 10]]  # split in two
    assert without_silence([[1, 3], [5, 9]], 0, 6) == [[6, 9]]


def test_an_edit_whose_segment_is_gone_is_a_note_on_the_file(qtbot, window, two_shots):
    """A shorter segment length moves every boundary: the lock made for 0:00–0:12 has no segment any more, and the
    job's note says so in the status bar and on the file."""
    from dataclasses import replace

    from cotvtm_desktop.gui.queue import status_text

    drop(window, [two_shots])
    wait_inspected(qtbot, window)
    item = preview(qtbot, window)
    window.strip.tiles[0].lock_button.click()
    window.settings = replace(window.settings, segment_seconds=5.0)
    preview(qtbot, window)
    assert len(item.segments) > 2 and not item.segments[0].locked
    [note] = item.notices
    assert "the edit of segment 1 (0:00.0–0:12.0) is left out" in note
    assert status_text(item) == "preview ready (see the note)"
    row = window.queue.index(0, 2)
    assert note in window.queue.data(row, Qt.ItemDataRole.ToolTipRole)
    assert window.statusBar().currentMessage() == f"Note: {note}"
