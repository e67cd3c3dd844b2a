"""Screenshots of the desktop app's main states for the README: `python docs/make_screenshots.py`.

Runs the real app offscreen on synthetic videos and a photo, with real jobs on the procedural backend.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import imageio_ffmpeg  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from cotvtm_desktop.gui.settings import Settings  # noqa: E402
from cotvtm_desktop.gui.window import MainWindow  # noqa: E402

DOCS = Path(__file__).parent
PHOTO = DOCS.parent / "tests" / "data" / "chelsea.jpg"  # CC0
SIZE = (1366, 740)  # a 1366×768 screen less its title bar


def make_video(path: Path, source: str, seconds: float) -> Path:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"{source}=size=640x360:rate=25", "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(path)], check=True)
    return path


def make_party(path: Path) -> Path:
    """32 s in two shots, cut at 15 s, inside the second segment (its music hits it), and someone talking from
    22 to 27 s over a quiet room (the third segment's melody rests for them)."""
    talking = ("0.25*(sin(2*PI*600*t)+0.5*sin(2*PI*1500*t))*between(t,22,27)"
               "*(0.5+0.5*sin(2*PI*4*t))*(0.5+0.5*sin(2*PI*4*t))")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "mandelbrot=size=640x360:rate=25", "-f", "lavfi", "-i",
                    "gradients=size=640x360:rate=25:speed=0.02:seed=3", "-f", "lavfi", "-i",  # seeded: retakes compare
                    f"aevalsrc=exprs='{talking}':s=48000", "-filter_complex",
                    "[0:v]trim=0:15[a];[1:v]trim=0:17,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1[v]",
                    "-map", "[v]", "-map", "2:a", "-t", "32", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(path)], check=True)
    return path


def main() -> None:
    app = QApplication(sys.argv[:1])
    home = Path(tempfile.mkdtemp(prefix="cotvtm-shots-"))
    store = QSettings(str(home / "settings.ini"), QSettings.Format.IniFormat)
    Settings(backend="procedural").save(store)
    window = MainWindow(store, home / "data")
    window.resize(*SIZE)
    window.show()

    def settle(condition=lambda: True, timeout: float = 120) -> None:
        end = time.time() + timeout
        while time.time() < end and not condition():
            app.processEvents()
            time.sleep(0.02)
        for _ in range(20):
            app.processEvents()

    def shot(name: str) -> None:
        settle()
        window.grab().save(str(DOCS / f"gui-{name}.png"))

    shot("empty")
    inputs = home / "inputs"
    inputs.mkdir()
    videos = [make_party(inputs / "garden party.mp4"), make_video(inputs / "bike ride.mp4", "testsrc2", 14)]
    shutil.copy(PHOTO, inputs / "cat on the sofa.jpg")
    window.add_paths([*videos, inputs / "cat on the sofa.jpg"])
    settle(lambda: all(i.status != "checking" for i in window.queue.items))
    shot("queued")
    window.table.selectRow(0)
    window.queue.items[0].silences = [[28.0, 32.0]]  # as if chosen on the soundtrack bar: the party's end, quiet
    window.preview_action.trigger()
    settle(lambda: window.queue.items[0].progress > 0.45)
    shot("running")
    settle(lambda: not window.tasks.busy())
    item = window.queue.items[0]
    settle(lambda: all(s.thumbnail for s in item.segments))
    window.strip.show_item(item)
    window.preview.bar.set_position(12.5)  # as if playing in the second segment: its tile outlined
    window.strip.mark_playing(1)
    shot("segments")
    arrange_slideshow(window, inputs, settle)
    window.tasks.shut_down(20000)
    shutil.rmtree(home, ignore_errors=True)


def arrange_slideshow(window: MainWindow, inputs: Path, settle) -> None:
    """Photos (the cat, the coffee and frames of synthetic scenes) made a slideshow, its Arrange dialog open, the
    cat held longer."""
    from cotvtm_desktop.gui.slideshow_dialog import SlideshowDialog

    photos = [inputs / "IMG_0412.jpg", inputs / "IMG_0415.jpg"]
    shutil.copy(PHOTO, photos[0])
    shutil.copy(DOCS.parent / "tests" / "data" / "coffee.jpg", photos[1])
    for number, source in enumerate(("mandelbrot", "gradients=seed=5", "cellauto=rule=110", "life=mold=10",
                                     "testsrc2"), 416):
        photos.append(inputs / f"IMG_0{number}.jpg")
        sized = source.replace("=", "=size=1200x900:", 1) if "=" in source else f"{source}=size=1200x900"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
                        "-i", sized, "-ss", "3", "-frames:v", "1", str(photos[-1])], check=True)
    new = window.add_paths(photos)
    settle(lambda: all(i.status != "checking" for i in new))
    window.table.clearSelection()
    for item in new:
        window.table.selectionModel().select(window.queue.index(window.queue.items.index(item), 0),
                                             window.table.selectionModel().SelectionFlag.Select |
                                             window.table.selectionModel().SelectionFlag.Rows)
    window.slideshow_action.trigger()
    dialog = SlideshowDialog(window.selected(), window)
    dialog.title_words.setText("Summer at home")
    dialog.shown.setCurrentRow(0)  # the cat, the best photo: longer on screen
    dialog.hold.setValue(8.0)
    dialog.show()
    settle()
    dialog.grab().save(str(DOCS / "gui-arrange.png"))
    dialog.close()


if __name__ == "__main__":
    main()
