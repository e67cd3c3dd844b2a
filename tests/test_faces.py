"""The face detector (analysis/faces.py: MTCNN's shipped weights as ONNX graphs) on real photos, and its cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from cotvtm_desktop.analysis import faces
from cotvtm_desktop.errors import UserError

DATA = Path(__file__).parent / "data"
# Each face's box as facenet-pytorch's MTCNN (another port of the authors' networks, on torch) finds it in the
# same photo, in pixels (left, top, right, bottom)
REFERENCE = {"astronaut.jpg": (181, 62, 268, 172), "grace_hopper.jpg": (174, 120, 356, 340)}


def overlap(a, b) -> float:
    """Intersection over union of two boxes."""
    shared = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return shared / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - shared)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_finds_the_face_in_a_portrait_where_another_port_of_mtcnn_does(name):
    picture = Image.open(DATA / name)
    [face] = faces.find_faces(picture)
    box = [edge * side for edge, side in zip(face.box, picture.size * 2)]
    assert overlap(box, REFERENCE[name]) > 0.85 and face.score > 0.95


@pytest.mark.parametrize("name", ["chelsea.jpg", "coffee.jpg"])
def test_finds_no_face_in_a_cat_or_a_cup_of_coffee(name):
    assert faces.find_faces(Image.open(DATA / name)) == []


def test_finds_a_small_face_in_a_large_photo_and_each_face_of_two():
    """A phone-sized photo is looked at FACE_DETECT_SIDE pixels wide: a face a tenth of its width is found, where
    it is; two people, two faces, left to right as they stand."""
    portrait = Image.open(DATA / "grace_hopper.jpg").convert("RGB")
    crowd = Image.new("RGB", (4000, 3000), (70, 90, 60))
    for left in (600, 2600):
        crowd.paste(portrait.resize((400, 469)), (left, 1500))
    found = sorted(faces.find_faces(crowd), key=lambda face: face.box[0])
    assert len(found) == 2
    for face, left in zip(found, (600, 2600)):
        expected = [(left + 174 * 400 / 512) / 4000, (1500 + 120 * 469 / 600) / 3000,
                    (left + 356 * 400 / 512) / 4000, (1500 + 340 * 469 / 600) / 3000]
        assert overlap(face.box, expected) > 0.7


def test_the_subject_is_everyone_in_front_not_the_people_in_the_background():
    near = faces.Face((0.2, 0.3, 0.3, 0.5), 0.99)
    beside = faces.Face((0.6, 0.35, 0.69, 0.53), 0.98)
    far = faces.Face((0.9, 0.1, 0.93, 0.15), 0.99)  # a quarter of the largest face's height
    assert faces.subject([near, far, beside]) == (0.2, 0.3, 0.69, 0.53)
    assert faces.subject([]) is None


def test_a_photos_faces_are_found_once_and_again_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("COTVTM_CACHE", str(tmp_path / "cache"))
    photo = tmp_path / "me.jpg"
    photo.write_bytes((DATA / "astronaut.jpg").read_bytes())
    [first] = faces.faces_in(photo, (512, 512))
    looked = []
    monkeypatch.setattr(faces, "find_faces", lambda picture: looked.append(picture.size) or [])
    assert faces.faces_in(photo, (512, 512)) == [first]  # from the cache
    assert looked == []
    os.utime(photo, ns=(photo.stat().st_atime_ns, photo.stat().st_mtime_ns + 10**9))  # edited since
    assert faces.faces_in(photo, (512, 512)) == [] and looked == [(512, 512)]


def test_a_large_photo_is_decoded_no_larger_than_it_is_looked_at(tmp_path, monkeypatch):
    monkeypatch.setenv("COTVTM_CACHE", str(tmp_path / "cache"))
    photo = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (120, 100, 90)).save(photo)
    looked = []
    monkeypatch.setattr(faces, "find_faces", lambda picture: looked.append(picture.size) or [])
    faces.faces_in(photo, (4000, 3000))
    assert looked == [(1000, 750)]  # the JPEG's quarter-size decode: at least 800 wide, then looked at 800


def test_weights_that_are_not_the_pinned_ones_are_refused_before_they_are_unpickled(tmp_path, monkeypatch):
    monkeypatch.setenv("COTVTM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(faces._WEIGHTS_SHA256, "rnet", "0" * 64)
    faces._load_session.cache_clear()
    try:
        with pytest.raises(UserError, match="mtcnn 1.0.0"):
            faces._session("rnet")
    finally:
        faces._load_session.cache_clear()
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").glob("mtcnn-rnet-*"))


def test_the_graphs_are_built_once_into_the_users_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COTVTM_CACHE", str(tmp_path))
    faces._load_session.cache_clear()
    try:
        faces.find_faces(Image.open(DATA / "astronaut.jpg"))
        built = sorted(p.name for p in tmp_path.iterdir())
        assert [name.split("-")[1] for name in built] == ["onet", "pnet", "rnet"]
        assert all(name.endswith(f".graph{faces.face_nets.GRAPH_VERSION}.onnx") for name in built)
    finally:
        faces._load_session.cache_clear()
