"""The reading stage with the shipped models: detector + recogniser on real pixels."""

import csv
import json
import random
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import FIXTURES, ROOT, SHARED_DATA, needs_shared_data
from lapi import grammars, synth_ocr
from lapi.boxes import iou
from lapi.reading.detector import Detection
from lapi.reading.pipeline import (ImageDecodeError, PlateReader, crop_plate, decode_image, prepare_crop, rescaled,
                                  widened)
from lapi.synth import STYLES, render_plate


def test_fixture_frame_is_read(reader, fixture_frame):
    data, plate = fixture_frame
    reads, ms = reader.read_image_bytes(data)
    assert reads, "no plate found in the synthetic fixture frame"
    best = max(reads, key=lambda r: r.box.score)
    assert best.plate_norm == plate
    assert 0.0 < best.confidence <= 1.0 and len(best.char_confidences) == len(best.plate_norm)
    assert (best.text, best.country, best.format_name) == ("GV-073-KP", "FR", "SIV")
    assert best.crop_jpeg[:3] == b"\xff\xd8\xff"
    assert ms > 0


def test_a_plate_cut_by_the_frame_border_is_flagged(reader, fixture_frame):
    """The same plate, whole in the frame and then cut by the frame's left border (it reads as a fragment)."""
    data, plate = fixture_frame
    frame = decode_image(data)
    ((whole,),) = [[r for r in reads if r.plate_norm == plate] for reads in reader.read_frames([frame])]
    assert not whole.at_frame_edge and whole.as_dict()["at_frame_edge"] is False
    cut = np.ascontiguousarray(frame[:, int(whole.box.x + 0.35 * whole.box.w):])
    reads = reader.read_frames([cut])[0]
    assert [(r.box.x, r.at_frame_edge) for r in reads] == [(0, True)], [(r.plate_norm, r.box) for r in reads]
    assert plate.endswith(reads[0].plate_norm) and reads[0].plate_norm != plate


def test_recogniser_batch_matches_single(reader):
    crops = [render_plate(t, STYLES[s], h) for t, s, h in
             (("AB-123-CD", "eu_white", 110), ("4821 TX 62", "fr_fni_black", 60), ("KL-555-ZZ", "fr_siv", 140))]
    crops = [prepare_crop(c) for c in crops]
    batch = reader.recognizer.recognise(crops)
    single = [reader.recognizer.recognise([c])[0] for c in crops]
    assert [b.text for b in batch] == [s.text for s in single]
    assert reader.recognizer.recognise([]) == []


def test_eu_band_and_department_badge_are_not_read_as_characters(reader):
    """The "F" of the EU band and the department number sit on the plate but are not the registration."""
    rng = random.Random(5)
    siv = next(f for f in grammars.FORMATS["FR"] if f.name == "SIV")
    texts = [siv.random_text(rng) for _ in range(10)]
    crops = [prepare_crop(synth_ocr.render_training_crop(t, "FR", siv.groups, siv.separator, rng, style="fr_siv"))
             for t in texts]
    reads = reader.recognizer.recognise(crops)
    exact = sum(r.text == t for r, t in zip(reads, texts))
    assert exact >= 8, f"only {exact} of 10 banded SIV plates read exactly: {[r.text for r in reads]} vs {texts}"


def test_reads_below_their_confidence_floor_are_dropped(reader):
    from lapi.reading.recognizer import Recognition

    assert (reader.min_confidence, reader.min_confidence_generic) == (0.6, 0.8)  # the shipped config
    siv = dict(country="FR", format_name="SIV")
    assert reader.keeps(Recognition("GV073KP", (0.9,) * 7, 0.9, **siv))
    assert not reader.keeps(Recognition("GV073KP", (0.3,) * 7, 0.3, **siv))
    assert reader.keeps(Recognition("XK4Q9", (0.9,) * 5, 0.9))  # no format: needs 0.8
    assert not reader.keeps(Recognition("XK4Q9", (0.7,) * 5, 0.7))
    assert not reader.keeps(Recognition("7", (1.0,), 1.0))  # no plate is one character long


@pytest.mark.parametrize("data,message", [
    (b"", "empty"), (b"GIF89a....", "signature"), (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "corrupt"),
])
def test_bad_images_are_refused(data, message):
    with pytest.raises(ImageDecodeError, match=message):
        decode_image(data)


def test_truncated_jpeg_is_refused_or_decoded_partially():
    ok, enc = cv2.imencode(".jpg", np.full((200, 300, 3), 127, np.uint8))
    data = enc.tobytes()[:100]
    with pytest.raises(ImageDecodeError):
        decode_image(data)


def test_crop_stays_inside_frame():
    frame = np.zeros((100, 200, 3), np.uint8)
    crop = crop_plate(frame, Detection(190, 95, 30, 20, 0.9))
    assert crop.shape[0] > 0 and crop.shape[1] > 0


def test_cli_read_prints_plate():
    out = subprocess.run([sys.executable, "-m", "lapi.cli", "read", "--json", str(FIXTURES / "frame_GV073KP.jpg")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert [r["plate_norm"] for r in result["reads"]][:1] == ["GV073KP"]


@needs_shared_data()
def test_real_french_photos_mostly_give_a_plate(reader):
    """Foundation bar: on most real French photos (first 20) a read comes from the true plate's box."""
    rows = [r for r in csv.DictReader(open(SHARED_DATA / "plates" / "manifest.csv")) if r["source"].startswith("qanastek")]
    found = 0
    for r in rows[:20]:
        reads, _ = reader.read_image_bytes((SHARED_DATA / "plates" / r["file"]).read_bytes())
        truth = (float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]))
        found += any(iou((x.box.x, x.box.y, x.box.w, x.box.h), truth) >= 0.5 for x in reads)
    assert found >= 11, f"the true plate was found and read on only {found} of 20 real French photos"


def test_cli_eval_writes_json(tmp_path):
    import shutil

    for name in ("frame_GV073KP.jpg", "frame_4821TX62.jpg"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "manifest.csv").write_text(
        "file,plate,plate_norm,country,format,x,y,w,h,source\n"
        "frame_GV073KP.jpg,GV-073-KP,GV073KP,FR,SIV,,,,,synthetic\n"
        "frame_4821TX62.jpg,4821 TX 62,4821TX62,FR,FNI(pre-2009),,,,,synthetic\n"
        "missing.jpg,AB-123-CD,AB123CD,FR,SIV,10,10,100,20,synthetic\n")
    out = subprocess.run([sys.executable, "-m", "lapi.cli", "eval", "--manifest", str(tmp_path / "manifest.csv"),
                          "--json", str(tmp_path / "eval.json"), "--misses", str(tmp_path / "misses.csv")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "[eval]" in out.stderr and "ALL" in out.stdout
    result = json.loads((tmp_path / "eval.json").read_text())
    assert set(result) == {"n", "capture_rate", "read_accuracy", "end_to_end", "char_accuracy",
                           "ms_per_image_median", "by_group"}
    assert result["n"] == 3 and result["capture_rate"] == 0.0  # only the missing image has a box
    assert result["end_to_end"] >= 1 / 3 - 1e-4  # the SIV fixture is read exactly
    assert set(result["by_group"]["format"]) == {"SIV", "FNI(pre-2009)"}
    misses = list(csv.DictReader((tmp_path / "misses.csv").open()))
    assert "frame_GV073KP.jpg" not in [m["file"] for m in misses]
    assert {"file": "missing.jpg", "plate_norm": "AB123CD", "read": "", "captured": "0", "ms": "0.0"} in misses


def test_two_line_plates_are_read_as_one_registration(reader):
    """Motorbike plates: top and bottom line read in one pass, joined, decoded by the grammar."""


    rng = random.Random(11)
    siv = next(f for f in grammars.FORMATS["FR"] if f.name == "SIV")
    texts = [siv.random_text(rng) for _ in range(10)]
    crops = [prepare_crop(synth_ocr.render_training_crop(t, "FR", siv.groups, siv.separator, rng,
                                                         two_line_split=siv.two_line_split, style="fr_siv"))
             for t in texts]
    reads = reader.recognizer.recognise(crops)
    exact = sum(r.text == t for r, t in zip(reads, texts))
    assert exact >= 7, f"only {exact} of 10 two-line plates read exactly: {[r.text for r in reads]} vs {texts}"


def test_shipped_recogniser_loads_in_easyocr_reader():
    """EasyOCR stays the OCR engine: its own Reader loads LAPI's network as a custom recogniser."""
    import easyocr

    models = ROOT / "models" / "ocr"
    ocr = easyocr.Reader(["en"], gpu=False, recog_network="lapi_plate_g2", user_network_directory=str(models),
                         model_storage_directory=str(models), detector=False, download_enabled=False, verbose=False)
    plate = cv2.cvtColor(render_plate("GV-073-KP", STYLES["eu_white"], 64), cv2.COLOR_BGR2GRAY)
    assert ocr.recognize(plate, detail=0) == ["GV073KP"]


def test_crops_of_one_width_group_keep_their_order(reader):
    """Grouping by width must never hand one crop's reading to another."""
    texts = ["GV073KP", "AB123CD", "KL555ZZ"]
    crops = [render_plate(t[:2] + "-" + t[2:5] + "-" + t[5:], STYLES["eu_white"], h) for t, h in zip(texts, (112, 110, 111))]
    # widths 1.0, 1.25, 1.12 times: one width group, but not in width order
    crops = [cv2.copyMakeBorder(prepare_crop(c), 0, 0, 0, int(c.shape[1] * extra), cv2.BORDER_REPLICATE)
             for c, extra in zip(crops, (0.0, 0.25, 0.12))]
    for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        reads = reader.recognizer.recognise([crops[i] for i in order])
        assert [r.text for r in reads] == [texts[i] for i in order]


def test_a_box_inside_a_better_one_is_dropped():
    from lapi.reading.detector import suppress_contained

    plate = Detection(100, 100, 200, 50, 0.9)
    half = Detection(190, 105, 105, 40, 0.3)  # IoU with the plate 0.42: NMS keeps it
    other = Detection(600, 300, 180, 45, 0.5)  # a second car's plate
    assert suppress_contained([plate, half, other]) == [plate, other]
    assert suppress_contained([]) == []


def test_width_groups_hold_one_width_each():
    from lapi.reading.recognizer import width_groups

    widths = [256, 64, 192, 256, 128, 128, 64, 384, 192]
    groups = width_groups(widths)
    assert sorted(i for g in groups for i in g) == list(range(len(widths)))
    assert [[widths[i] for i in g] for g in groups] == [[64, 64], [128, 128], [192, 192], [256, 256], [384]]
    assert width_groups([]) == [] and width_groups([64]) == [[0]]


def test_detection_leaves_the_process_thread_count_alone(settings, fixture_frame):
    """ultralytics' device setup sets torch to its training thread count; the recogniser must keep every core."""
    import torch
    from ultralytics.utils import NUM_THREADS

    from lapi.reading.detector import PlateDetector

    before = torch.get_num_threads()
    wanted = NUM_THREADS + 1  # anything but what ultralytics would set
    torch.set_num_threads(wanted)
    try:
        detector = PlateDetector(settings.detector_dir)  # a fresh model (the frozen network's first trace)
        frame = decode_image(fixture_frame[0])
        assert detector.detect([frame]) and torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(before)


def test_warm_up_does_the_one_off_set_up_before_the_first_frame(settings, fixture_frame):
    """The service warms its reader at start-up: the detector's trace is made then, not on a camera's first frame."""
    fresh = PlateReader.from_settings(settings)
    assert fresh.detector._frozen is not None and fresh.detector._frozen._frozen is None
    assert fresh.warm_up() > 0
    assert fresh.detector._frozen._frozen is not None
    assert [r.plate_norm for r in fresh.read_frames([decode_image(fixture_frame[0])])[0]] == ["GV073KP"]


def test_a_box_is_widened_about_its_centre_to_a_plates_width():
    from lapi.reading.pipeline import PLATE_ASPECT

    assert widened(Detection(100, 50, 300, 66, 0.5), 1000) is None  # already about a plate's width
    wide = widened(Detection(200, 50, 100, 40, 0.5), 1000)
    assert wide is not None and (wide.y, wide.h, wide.score) == (50, 40, 0.5)
    assert wide.w == round(40 * PLATE_ASPECT) and abs((wide.x + wide.w / 2) - 250) <= 1
    # at an edge the plate's width is taken inside the frame; a narrow frame cuts it
    assert widened(Detection(0, 10, 60, 40, 0.5), 1000) == Detection(0, 10, round(40 * PLATE_ASPECT), 40, 0.5)
    right = widened(Detection(940, 10, 60, 40, 0.5), 1000)
    assert right is not None and right.x + right.w == 1000 and right.w == round(40 * PLATE_ASPECT)
    assert widened(Detection(20, 10, 60, 40, 0.5), 150) == Detection(0, 10, 150, 40, 0.5)
    assert widened(Detection(0, 10, 60, 40, 0.5), 60) is None  # the frame leaves no room to widen


def test_a_cut_box_is_read_again_at_a_plates_width(reader, fixture_frame):
    """A box holding part of a plate reads a fragment; read again wider, the whole registration, in a
    box that holds the cut one.  Without the second look the fragment stays."""
    frame = decode_image(fixture_frame[0])
    (plate,) = reader.detector.detect([frame])[0]
    w = int(plate.w * 0.6)
    cuts = [Detection(plate.x, plate.y, w, plate.h, plate.score),
            Detection(plate.x + plate.w - w, plate.y, w, plate.h, plate.score)]
    try:
        reader.widen_fragments = False
        fragments = [reader._read([frame], [[cut]])[0] for cut in cuts]
        reader.widen_fragments = True
        wholes = [reader._read([frame], [[cut]])[0] for cut in cuts]
    finally:
        reader.widen_fragments = True
    for cut, fragment, whole in zip(cuts, fragments, wholes):
        assert all(r.plate_norm in "GV073KP" and r.plate_norm != "GV073KP" for r in fragment)  # a piece, if read
        assert [(r.plate_norm, r.format_name) for r in whole] == [("GV073KP", "SIV")]
        box = whole[0].box
        assert box.x <= cut.x and box.x + box.w >= cut.x + cut.w and box.w > plate.w


def test_only_a_fragment_confident_enough_to_be_reported_is_read_again(reader, fixture_frame):
    """Boxes on lettering and grilles read as unformatted junk; widening them all doubled the
    network's work on US photos for no read.  Below the floor for unformatted reads, no second look."""
    frame = decode_image(fixture_frame[0])
    (plate,) = reader.detector.detect([frame])[0]
    cut = Detection(plate.x, plate.y, int(plate.w * 0.6), plate.h, plate.score)
    assert reader.widen_floor == reader.min_confidence_generic
    try:
        reader.widen_floor = 1.01  # no read is that confident
        kept = reader._read([frame], [[cut]])[0]
    finally:
        reader.widen_floor = reader.min_confidence_generic
    assert all(r.plate_norm != "GV073KP" and r.box == cut for r in kept)


def test_rescaled_boxes_keep_their_centre_and_stay_inside_the_frame():
    box = Detection(100, 50, 80, 20, 0.7)
    grown = rescaled(box, 1.5, 2.0, (480, 640, 3))
    assert (grown.w, grown.h, grown.score) == (120, 40, 0.7)
    assert abs((grown.x + grown.w / 2) - 140) <= 1 and abs((grown.y + grown.h / 2) - 60) <= 1
    edge = rescaled(Detection(600, 460, 40, 20, 0.5), 1.5, 1.5, (480, 640, 3))
    assert edge.x + edge.w <= 640 and edge.y + edge.h <= 480 and (edge.w, edge.h) == (60, 30)
    huge = rescaled(box, 20.0, 40.0, (480, 640, 3))
    assert (huge.x, huge.y, huge.w, huge.h) == (0, 0, 640, 480)


def test_a_doubtful_read_is_outvoted_by_other_looks_that_agree(reader, fixture_frame):
    """A read with a doubtful character is read again from other cuts of its box; when they agree on
    another formatted string it wins.  A confident read is left alone."""
    from lapi.reading.recognizer import Recognition

    frame = decode_image(fixture_frame[0])
    (plate,) = reader.detector.detect([frame])[0]
    crop = crop_plate(frame, plate)

    def look(choice: float) -> tuple:  # a misread 3 -> 8, chosen with confidence ``choice``
        choices = (0.99,) * 4 + (choice,) + (0.99,) * 2
        return (0, crop, plate, Recognition("GV078KP", (0.95,) * 7, 0.9, "FR", "SIV", "GV-078-KP", choices))

    assert [lk[3].text for lk in reader._recheck_doubtful([frame], [look(0.55)])] == ["GV073KP"]
    assert [lk[3].text for lk in reader._recheck_doubtful([frame], [look(0.97)])] == ["GV078KP"]


def test_a_wider_read_must_hold_the_fragment():
    from lapi.reading.pipeline import _holds_fragment
    from lapi.reading.recognizer import Recognition

    def rec(text: str) -> Recognition:
        return Recognition(text, (0.9,) * len(text), 0.9)

    assert _holds_fragment(rec("EL156RR"), rec("56RR"))
    assert not _holds_fragment(rec("EL156RR"), rec("56RA"))  # a US plate read whole, a wider misread
    assert not _holds_fragment(rec("EL156RR"), rec("R"))  # too short to say the box was cut
