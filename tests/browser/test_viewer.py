"""The study viewer in Chromium: scrolling, window, zoom and pan with measurements in mm, two
series side by side with linked scrolling, a compressed study shown low resolution first, the
shortcut help, a phone-width screen with a two-finger pinch, and the Chinese labels; an image the
server cannot render, where a window drag starts, touch swipes and pinches, the wheel, the window
of a new series, a study without images, a page without console errors, the viewer within a
laptop's window (also when a banner appears above it after load), → in a study of one series,
the tag panel and its filter, on a phone the tool strip's fading edges and the help opening at
its top; the ROI off the image, on an RT Dose grid, from the keyboard and cut short mid-drag, and the toolbar in one
row at 1366 px with two series side by side."""
from __future__ import annotations

import io
import re
from contextlib import contextmanager

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from imaging.models import Study
from imaging.services import pixels
from imaging.services.ingest import instance_ingest
from telemed.accounts.demo import seed_demo
from telemed.accounts.models import User
from tests.browser.pages import signed_in
from tests.imaging.corpus import BUNDLED, ct_series, restacked, written

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LEFT, RIGHT = '[data-viewport="0"]', '[data-viewport="1"]'


def _ingest(files: list[bytes]) -> Study:
    doctor = User.objects.get(username="doc_qingshan")
    for data in files:
        result = instance_ingest(stream=io.BytesIO(data), institution=doctor.memberships.get().institution, by=doctor, source="test")
        assert result.ok, result.reason
    return result.instance.series.study


@contextmanager
def _viewing(chromium, live_daphne, study: Study, *, language: str = "English", init_script: str = "", **context_options):
    """The clinic doctor's viewer of `study`, its page's errors collected in `page.console_errors`."""
    context, page = signed_in(chromium, live_daphne, init_script=init_script, **context_options)
    page.console_errors = []  # a failed request is logged as an error
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    page.goto(f"{live_daphne}/imaging/studies/{study.pk}/view/")
    page.get_by_role("button", name=language).click()
    page.wait_for_load_state()
    try:
        yield page
        page.wait_for_load_state("networkidle")  # prefetches end first: the next test empties the database the server reads
    finally:
        context.close()  # at once after a failure, whose error a wait for idle (a held request never ends) would hide


def _full_quality(page, viewport: str = LEFT, showing: str = "") -> None:
    """Wait until the viewport shows a full-quality image whose address contains `showing`."""
    page.wait_for_function(
        "([selector, showing]) => { const img = document.querySelector(selector);"
        " return img.dataset.quality === 'full' && img.complete && img.getAttribute('src')?.includes(showing); }",
        arg=[f"{viewport} .image", showing],
    )


def _zoom(page, viewport: str = LEFT) -> int:
    return int(re.search(r"(\d+)%", page.locator(f"{viewport} .zoom-label").inner_text()).group(1))


def _measure(page, viewport: str, from_x: int, to_x: int, columns: int) -> str:
    """Click two points `from_x` and `to_x` image pixels from the left, on one row."""
    box = page.locator(f"{viewport} .image").bounding_box()  # the transformed box: zoom and pan included
    per_pixel = box["width"] / columns
    y = box["y"] + box["height"] / 2
    page.mouse.click(box["x"] + from_x * per_pixel, y)
    page.mouse.click(box["x"] + to_x * per_pixel, y)
    return page.locator(f"{viewport} .distance").inner_text()


def test_viewer_scrolls_changes_the_window_zooms_pans_and_measures_in_mm(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=5, patient_id="QS-0001", size=128))
    with _viewing(chromium, live_daphne, study) as page:
        _full_quality(page)
        assert page.locator(f"{LEFT} .position").inner_text() == "3 / 5"
        page.locator(f"{LEFT} .canvas").press("ArrowDown")
        assert page.locator(f"{LEFT} .position").inner_text() == "4 / 5"
        page.locator("[data-preset='-600,1500']").click()
        _full_quality(page, showing="window=-600%2C1500")

        page.locator("#measure").click()
        assert _measure(page, LEFT, 20, 90, 128) == "49.0 mm"  # 70 pixels of 0.7 mm
        fitted = _zoom(page)
        page.locator("#zoom-in").click()
        page.locator("#zoom-in").click()
        assert _zoom(page) == round(fitted * 1.5625)
        assert page.locator(f"{LEFT} .overlay line").count() == 1  # the measurement stays on the image
        assert _measure(page, LEFT, 30, 80, 128) == "35.0 mm"  # the same pixels, whatever the zoom

        page.locator("#actual").click()
        assert _zoom(page) == 100 and page.locator(f"{LEFT} .image").bounding_box()["width"] == pytest.approx(128, abs=1)
        page.locator("#fit").click()
        assert _zoom(page) == fitted

        page.locator("[data-tool=pan]").click()
        before = page.locator(f"{LEFT} .image").bounding_box()
        canvas = page.locator(f"{LEFT} .canvas").bounding_box()
        page.mouse.move(canvas["x"] + 200, canvas["y"] + 200)
        page.mouse.down()
        page.mouse.move(canvas["x"] + 260, canvas["y"] + 240, steps=5)
        page.mouse.up()
        after = page.locator(f"{LEFT} .image").bounding_box()
        assert (after["x"] - before["x"], after["y"] - before["y"]) == (pytest.approx(60, abs=1), pytest.approx(40, abs=1))

        page.mouse.move(canvas["x"] + 300, canvas["y"] + 300)
        page.keyboard.down("Control")
        page.mouse.wheel(0, -300)
        page.keyboard.up("Control")
        page.wait_for_function(f"!document.querySelector('{LEFT} .zoom-label').textContent.includes('{fitted}%')")
        assert _zoom(page) > fitted
        page.keyboard.press("f")
        assert _zoom(page) == fitted
        page.mouse.wheel(0, 100)  # no modifier: the wheel scrolls the stack
        page.wait_for_function(f"document.querySelector('{LEFT} .position').textContent === '5 / 5'")


def test_two_series_side_by_side_each_with_its_own_window_and_linked_scrolling(live_daphne, chromium):
    seed_demo()
    study_uid, frame_of_reference = generate_uid(), generate_uid()
    same = {"study_uid": study_uid, "frame_of_reference": frame_of_reference}
    thick = restacked(ct_series(slices=5, patient_id="QS-0001", size=64), **same, series_number=2, slice_gap=5.0)
    thin = restacked(ct_series(slices=10, patient_id="QS-0001", size=64), **same, series_number=3, slice_gap=2.5)
    study = _ingest(thick + thin)
    with _viewing(chromium, live_daphne, study) as page:
        _full_quality(page)
        assert page.locator(RIGHT).is_hidden()
        page.locator("#layout").click()
        assert page.locator(RIGHT).is_visible()
        _full_quality(page, RIGHT)
        assert page.locator(f"{RIGHT} .position").inner_text() == "6 / 10"
        left, right = page.locator(f"{LEFT} .canvas").bounding_box(), page.locator(f"{RIGHT} .canvas").bounding_box()
        assert right["x"] >= left["x"] + left["width"] and right["y"] == pytest.approx(left["y"], abs=1)

        page.locator(f"{RIGHT} .canvas").click()
        page.locator("[data-preset='400,1800']").click()
        _full_quality(page, RIGHT, showing="window=400%2C1800")
        assert "window=" not in page.locator(f"{LEFT} .image").get_attribute("src")
        page.keyboard.press("ArrowUp")
        assert page.locator(f"{RIGHT} .position").inner_text() == "5 / 10"
        assert page.locator(f"{LEFT} .position").inner_text() == "3 / 5"  # not linked yet

        page.locator("#link").click()
        page.locator(f"{LEFT} .canvas").click()
        page.keyboard.press("End")  # left: z = 25 mm; right's nearest slice is its 10th (2.5 mm × 10)
        assert page.locator(f"{LEFT} .position").inner_text() == "5 / 5"
        assert page.locator(f"{RIGHT} .position").inner_text() == "10 / 10"
        page.keyboard.press("Home")  # z = 5 mm: the right's 2nd slice
        assert page.locator(f"{RIGHT} .position").inner_text() == "2 / 10"
        page.locator("#series-list button").nth(1).click()  # the active (left) viewport shows the thin series
        assert page.locator(f"{LEFT} .caption").inner_text().startswith("3 CT")


def test_a_compressed_study_shows_a_low_resolution_image_first_then_full_quality(live_daphne, chromium):
    seed_demo()
    jpeg2000 = next(p for p in BUNDLED if p.name == "MR_small_jp2klossless.dcm")
    study = _ingest([jpeg2000.read_bytes()])
    # Record, from the first moment, each quality the image is shown in.
    with _viewing(chromium, live_daphne, study, init_script="""
        window.qualities = [];
        new MutationObserver((changes) => changes.forEach((c) => window.qualities.push(c.target.dataset.quality)))
          .observe(document, {subtree: true, attributes: true, attributeFilter: ["data-quality"]});
    """) as page:
        _full_quality(page)
        assert page.evaluate("document.querySelector('[data-viewport=\"0\"] .image').naturalWidth") == 64
        assert page.evaluate("window.qualities") == ["low", "full"]
        assert page.locator(f"{LEFT} .quality").is_hidden()


def test_a_multiframe_jpeg_is_scrolled_frame_by_frame(live_daphne, chromium):
    seed_demo()
    multiframe = next(p for p in BUNDLED if p.name == "examples_ybr_color.dcm")
    study = _ingest([multiframe.read_bytes()])
    with _viewing(chromium, live_daphne, study) as page:
        _full_quality(page)
        assert page.locator(f"{LEFT} .position").inner_text() == "16 / 30"
        assert "/frames/16/rendered" in page.locator(f"{LEFT} .image").get_attribute("src")
        page.keyboard.press("PageDown")
        _full_quality(page, showing="/frames/26/rendered")
        assert page.locator(f"{LEFT} .position").inner_text() == "26 / 30"


def test_shortcut_help_phone_width_pinch_zoom_and_chinese_labels(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=3, patient_id="QS-0001", size=128))
    with _viewing(chromium, live_daphne, study, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True) as page:
        _full_quality(page)
        page.keyboard.press("?")
        assert page.locator("#help").is_visible() and "Zoom in / out" in page.locator("#help").inner_text()
        page.keyboard.press("Escape")
        assert page.locator("#help").is_hidden()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        page.locator("#layout").click()
        _full_quality(page, RIGHT)
        left, right = page.locator(f"{LEFT} .canvas").bounding_box(), page.locator(f"{RIGHT} .canvas").bounding_box()
        assert right["y"] >= left["y"] + left["height"]  # stacked, not squeezed side by side
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        fitted = _zoom(page)
        _pinch(page, page.locator(f"{LEFT} .canvas").bounding_box(), spread=80)
        assert _zoom(page) > fitted

        page.get_by_role("button", name="简体中文").click()
        page.wait_for_load_state()
        assert page.locator("#layout").inner_text().endswith("并排")
        assert page.locator("#fit").inner_text() == "适合窗口"


def _pinch(page, box, *, spread: int) -> None:
    """Two fingers move apart over the middle of `box`, as touch events through the DevTools protocol."""
    session = page.context.new_cdp_session(page)
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def touch(kind: str, offset: float) -> None:
        points = [] if kind == "touchEnd" else [{"x": cx - 20 - offset, "y": cy, "id": 1}, {"x": cx + 20 + offset, "y": cy, "id": 2}]
        session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 0)
    for step in range(1, 6):
        touch("touchMove", spread * step / 10)
    touch("touchEnd", 0)


def _bundled(name: str) -> bytes:
    return next(p for p in BUNDLED if p.name == name).read_bytes()


def _joined(data: bytes, *, study_uid: str, series_number: int) -> bytes:
    """A bundled file made series `series_number` of the demo patient's study `study_uid`."""
    dataset = pydicom.dcmread(io.BytesIO(data))
    dataset.StudyInstanceUID, dataset.SeriesNumber, dataset.PatientID = study_uid, series_number, "QS-0001"
    return written(dataset)


def _window_label(page, viewport: str = LEFT) -> str:
    return page.locator(f"{viewport} .window-label").inner_text()


def _drag(page, viewport: str, dx: int, dy: int) -> None:
    box = page.locator(f"{viewport} .canvas").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=4)
    page.mouse.up()


def test_an_image_the_server_cannot_render_leaves_a_blank_viewport_with_the_reason(live_daphne, chromium):
    seed_demo()
    study_uid = generate_uid()
    ct = restacked(ct_series(slices=3, patient_id="QS-0001", size=64), study_uid=study_uid, frame_of_reference=generate_uid(), series_number=1, slice_gap=5.0)
    study = _ingest(ct + [_joined(_bundled("JPEG-lossy.dcm"), study_uid=study_uid, series_number=2)])  # 12-bit JPEG: 406
    with _viewing(chromium, live_daphne, study) as page:
        _full_quality(page)
        page.keyboard.press("ArrowRight")
        message = page.locator(f"{LEFT} .message")
        message.wait_for(state="visible")
        assert message.inner_text().startswith("This image cannot be displayed: The pixel data of this instance")
        assert page.locator(f"{LEFT} .image").get_attribute("src") is None  # not the CT under the new label
        assert page.locator(f"{LEFT} .caption").inner_text().startswith("2 ")
        assert page.locator("[data-preset='-600,1500']").is_disabled()
        page.locator("#measure").click()
        box = page.locator(f"{LEFT} .canvas").bounding_box()
        page.mouse.click(box["x"] + 100, box["y"] + 100)
        page.mouse.click(box["x"] + 200, box["y"] + 100)
        assert page.locator(f"{LEFT} .overlay circle").count() == 0 and page.locator(f"{LEFT} .distance").inner_text() == ""
        page.locator("#series-list .no-preview").wait_for()  # the thumbnail is a placeholder, not a broken image

        page.keyboard.press("ArrowLeft")  # back to an image that renders: the message goes
        _full_quality(page)
        assert message.is_hidden() and page.locator("[data-preset='-600,1500']").is_enabled()

        asked = []  # going back to the refused image shows its reason without asking the server again
        page.on("request", lambda request: "/rendered" in request.url and asked.append(request.url))
        page.keyboard.press("ArrowRight")
        message.wait_for(state="visible")
        assert message.inner_text().startswith("This image cannot be displayed: The pixel data of this instance")
        assert asked == []


def test_the_first_window_drag_starts_from_the_images_own_window(live_daphne, chromium):
    seed_demo()
    mr = _ingest([_joined(_bundled("MR_small.dcm"), study_uid=generate_uid(), series_number=1)])  # header: 600 / 1600
    no_window = _ingest([_joined(_bundled("CT_small.dcm"), study_uid=generate_uid(), series_number=1)])  # header: none
    instance = no_window.series.get().instances.get()
    center, width = pixels.frame_get(instance=instance, number=1).window  # what the server renders it with
    with _viewing(chromium, live_daphne, mr) as page:
        _full_quality(page)
        _drag(page, LEFT, 5, 10)  # width + 4 per pixel right, level + 2 per pixel down
        assert _window_label(page) == "W 1620 L 620"
        page.goto(f"{live_daphne}/imaging/studies/{no_window.pk}/view/")
        _full_quality(page)
        _drag(page, LEFT, 5, 10)
        page.wait_for_function(f"document.querySelector('{LEFT} .window-label').textContent.startsWith('W ')")
        assert _window_label(page) == f"W {round(width + 20)} L {round(center + 20)}"


def _touch(page, session, points: list[tuple[int, float, float]], kind: str) -> None:
    session.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y, "id": n} for n, x, y in points]})


def test_a_one_finger_swipe_on_a_touch_screen_scrolls_the_stack(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=9, patient_id="QS-0001", size=64))
    with _viewing(chromium, live_daphne, study, viewport={"width": 375, "height": 667}, has_touch=True, is_mobile=True) as page:
        _full_quality(page)
        box = page.locator(f"{LEFT} .canvas").bounding_box()
        assert box["y"] + 100 < 667  # the image is on a phone's screen without scrolling the page
        assert page.locator(f"{LEFT} .position").inner_text() == "5 / 9"
        session = page.context.new_cdp_session(page)
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 40
        _touch(page, session, [(1, x, y)], "touchStart")
        for step in range(1, 6):  # 50 px up: five images on
            _touch(page, session, [(1, x, y - step * 10 - 3)], "touchMove")
        _touch(page, session, [], "touchEnd")
        assert page.locator(f"{LEFT} .position").inner_text() == "9 / 9"
        assert _window_label(page) == "the image's own window"
        page.keyboard.press("?")
        assert "One finger" in page.locator("#help").inner_text()


def test_on_a_laptop_with_a_touch_screen_a_finger_scrolls_and_the_mouse_changes_the_window(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=9, patient_id="QS-0001", size=64))
    # A touch screen whose laptop's primary pointer is the mouse or touchpad (a fine pointer).
    fine_primary = """const ask = window.matchMedia.bind(window);
        window.matchMedia = (query) => query === "(pointer: coarse)" ? {matches: false, media: query} : ask(query);"""
    with _viewing(chromium, live_daphne, study, has_touch=True, init_script=fine_primary) as page:
        _full_quality(page)
        assert page.locator("button[data-tool=window]").get_attribute("aria-pressed") == "true"
        box = page.locator(f"{LEFT} .canvas").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 40
        session = page.context.new_cdp_session(page)
        _touch(page, session, [(1, x, y)], "touchStart")
        for step in range(1, 6):
            _touch(page, session, [(1, x, y - step * 10 - 3)], "touchMove")
        _touch(page, session, [], "touchEnd")
        assert page.locator(f"{LEFT} .position").inner_text() == "9 / 9"
        assert _window_label(page) == "the image's own window"
        _drag(page, LEFT, 5, 10)
        page.wait_for_function(f"document.querySelector('{LEFT} .window-label').textContent.startsWith('W ')")


def test_a_pinch_begun_by_one_finger_leaves_the_window_as_it_was_and_ends_at_full_quality(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=3, patient_id="QS-0001", size=128))
    with _viewing(chromium, live_daphne, study, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True) as page:
        _full_quality(page)
        page.locator("[data-tool=window]").click()  # one finger changes the window
        box = page.locator(f"{LEFT} .canvas").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        session = page.context.new_cdp_session(page)
        _touch(page, session, [(1, cx - 20, cy)], "touchStart")
        for step in range(1, 4):
            _touch(page, session, [(1, cx - 20 + step * 10, cy + step * 10)], "touchMove")
        page.wait_for_function(f"document.querySelector('{LEFT} .window-label').textContent.startsWith('W ')")
        _touch(page, session, [(1, cx + 10, cy + 30), (2, cx + 60, cy + 30)], "touchStart")
        for step in range(1, 4):
            _touch(page, session, [(1, cx + 10 - step * 10, cy + 30), (2, cx + 60 + step * 10, cy + 30)], "touchMove")
        _touch(page, session, [], "touchEnd")
        _full_quality(page)
        assert _window_label(page) == "the image's own window"
        assert "window=" not in page.locator(f"{LEFT} .image").get_attribute("src")
        page.wait_for_timeout(500)  # a late preview must not replace the full-quality image
        assert page.locator(f"{LEFT} .image").get_attribute("data-quality") == "full"


def test_a_sideways_wheel_does_nothing_and_small_wheel_steps_add_up_to_one_image(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=9, patient_id="QS-0001", size=64))
    with _viewing(chromium, live_daphne, study) as page:
        _full_quality(page)
        box = page.locator(f"{LEFT} .canvas").bounding_box()
        page.mouse.move(box["x"] + 100, box["y"] + 100)
        page.mouse.wheel(120, 0)
        for _ in range(20):  # a trackpad: 80 px in small steps
            page.mouse.wheel(0, 4)
        page.wait_for_timeout(300)
        assert page.locator(f"{LEFT} .position").inner_text() == "6 / 9"


def test_a_new_series_opens_with_its_own_window_and_the_page_logs_no_error(live_daphne, chromium):
    seed_demo()
    same = {"study_uid": generate_uid(), "frame_of_reference": generate_uid()}
    first = restacked(ct_series(slices=3, patient_id="QS-0001", size=64), **same, series_number=1, slice_gap=5.0)
    second = restacked(ct_series(slices=3, patient_id="QS-0001", size=64), **same, series_number=2, slice_gap=5.0)
    study = _ingest(first + second)
    with _viewing(chromium, live_daphne, study) as page:
        _full_quality(page)
        assert page.locator("#link").is_hidden()  # one viewport: nothing to link
        page.locator("[data-preset='-600,1500']").click()
        _full_quality(page, showing="window=-600%2C1500")
        page.locator("#measure").click()
        _measure(page, LEFT, 10, 50, 64)
        page.keyboard.press("Escape")
        assert page.locator(f"{LEFT} .distance").inner_text() == "" and page.locator(f"{LEFT} .overlay line").count() == 0
        page.keyboard.press("ArrowRight")
        _full_quality(page)
        assert page.locator(f"{LEFT} .caption").inner_text().startswith("2 ")
        assert _window_label(page) == "the image's own window"
        assert "window=" not in page.locator(f"{LEFT} .image").get_attribute("src")
        page.locator(f"{LEFT} .slider").focus()
        page.keyboard.press("ArrowUp")  # as on the image: ↑ is the previous image
        assert page.locator(f"{LEFT} .position").inner_text() == "1 / 3"
        page.wait_for_load_state("networkidle")
        assert page.console_errors == []


def test_a_study_without_images_says_so(live_daphne, chromium):
    seed_demo()
    study = _ingest([_joined(_bundled("test-SR.dcm"), study_uid=generate_uid(), series_number=1)])
    with _viewing(chromium, live_daphne, study) as page:
        assert page.get_by_role("status").inner_text() == "This study has no images to display"
        assert page.locator(".canvas").count() == 0
        assert page.console_errors == []



@pytest.mark.parametrize("width, height", [(1366, 800), (1920, 1080), (375, 740)])
def test_the_toolbar_the_image_and_its_status_line_are_on_screen_without_scrolling_the_page(live_daphne, chromium, width, height):
    seed_demo()
    study = _ingest(ct_series(slices=5, patient_id="QS-0001", size=128))
    phone = {"has_touch": True, "is_mobile": True} if width < 500 else {}
    with _viewing(chromium, live_daphne, study, viewport={"width": width, "height": height}, **phone) as page:
        _full_quality(page)
        toolbar, canvas, status = (page.locator(selector).bounding_box() for selector in (".toolbar", f"{LEFT} .canvas", f"{LEFT} .status"))
        assert page.evaluate("window.scrollY") == 0
        assert toolbar["y"] >= 0 and toolbar["y"] + toolbar["height"] <= canvas["y"]
        assert canvas["y"] + canvas["height"] <= status["y"] and status["y"] + status["height"] <= height
        assert canvas["height"] >= height / 2  # the image takes the height the others leave
        if phone:
            return  # a phone's toolbar is one row that scrolls sideways
        # One row of tools: the last button is not left alone on a line of its own.
        assert page.locator("#help-open").bounding_box()["y"] == pytest.approx(page.locator("[data-preset]").first.bounding_box()["y"], abs=1)

        page.locator("#layout").click()  # two narrower status lines, which wrap
        _full_quality(page, RIGHT)
        page.locator("#measure").click()
        _measure(page, RIGHT, 20, 90, 128)
        status = page.locator(f"{RIGHT} .status").bounding_box()
        assert status["y"] + status["height"] <= height
        # Its parts are set apart by space, so that no line of it starts with a separator.
        assert page.evaluate("[...document.querySelectorAll('.status > *')].every((part) => getComputedStyle(part, '::before').content === 'none')")


def test_the_next_series_of_a_study_of_one_series_keeps_the_image_shown(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=9, patient_id="QS-0001", size=64))
    with _viewing(chromium, live_daphne, study) as page:
        _full_quality(page)
        position = page.locator(f"{LEFT} .position")
        page.keyboard.press("Home")
        assert position.inner_text() == "1 / 9"
        page.keyboard.press("ArrowRight")  # the series shown is the next one too
        assert position.inner_text() == "1 / 9"
        page.keyboard.press("End")
        page.keyboard.press("ArrowLeft")
        assert position.inner_text() == "9 / 9"
        page.locator("#series-list button").first.click()  # its own thumbnail
        assert position.inner_text() == "9 / 9"


def test_the_roi_tool_reads_the_mean_hu_of_an_ellipse_and_the_value_of_a_clicked_pixel(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=3, patient_id="QS-0001", size=128))
    with _viewing(chromium, live_daphne, study) as page:
        _full_quality(page)
        page.keyboard.press("o")
        assert page.locator("#region").get_attribute("aria-pressed") == "true"
        box = page.locator(f"{LEFT} .image").bounding_box()
        per_pixel = box["width"] / 128
        _draw_ellipse(page, (40 / 128, 40 / 128), (80 / 128, 80 / 128))
        page.wait_for_function(f"document.querySelector('{LEFT} .distance').textContent.startsWith('Mean')")
        label = page.locator(f"{LEFT} .distance").inner_text()
        match = re.fullmatch(r"Mean −?[\d.]+ HU, SD [\d.]+ \(−?\d+ to −?\d+\), ([\d.]+) cm²", label)  # CT numbers are whole
        assert match, label
        assert 5.8 < float(match[1]) < 6.5  # a circle 40 pixels of 0.7 mm across: π × 1.4² cm²
        assert page.locator(f"{LEFT} .overlay ellipse").count() == 1
        with page.expect_request(re.compile(r"/region/")) as asked:
            page.mouse.click(box["x"] + 64.5 * per_pixel, box["y"] + 64.5 * per_pixel)
        page.wait_for_function(f"document.querySelector('{LEFT} .distance').textContent.startsWith('Pixel')")
        clicked = tuple(float(v) for v in re.search(r"box=([^&]+)", asked.value.url)[1].replace("%2C", ",").split(","))
        assert clicked[:2] == clicked[2:] and clicked[0] == pytest.approx(64.5, abs=0.5)
        instance = study.series.get().instances.get(instance_number=2)
        expected = pixels.region_get(instance=instance, number=1, box=clicked, ellipse=True)[0].mean
        written = f"{expected:.0f}" if expected.is_integer() else f"{expected:.1f}"
        assert page.locator(f"{LEFT} .distance").inner_text() == f"Pixel: {written.replace('-', '−')} HU"
        page.keyboard.press("Escape")
        assert page.locator(f"{LEFT} .overlay ellipse").count() == 0 and page.locator(f"{LEFT} .distance").inner_text() == ""
        assert not page.console_errors


@pytest.mark.parametrize("width, height", [(1366, 800), (375, 740)])
def test_the_tag_panel_names_the_attributes_and_finds_one_by_name_or_tag(live_daphne, chromium, width, height):
    seed_demo()
    study = _ingest([_bundled("CT_small.dcm")])
    phone = {"has_touch": True, "is_mobile": True} if width < 500 else {}
    with _viewing(chromium, live_daphne, study, viewport={"width": width, "height": height}, **phone) as page:
        _full_quality(page)
        page.locator("#tags-toggle").click()
        panel = page.locator("#tags")
        name = panel.locator("tr", has_text="(0010,0010)")
        assert "Patient's Name" in name.inner_text() and "PN" in name.inner_text()
        page.locator("#tags-filter").fill("patient's name")
        assert [row.inner_text().split("\n")[0].split("\t")[0] for row in panel.locator("tbody tr:visible").all()] == ["(0010,0010)"]
        page.locator("#tags-filter").fill("0010,0020")  # a Patient ID inside Other Patient IDs Sequence, and the top-level one
        visible = panel.locator("tbody tr:visible").all_inner_texts()
        assert any("Other Patient IDs Sequence" in row for row in visible) and sum("(0010,0020)" in row for row in visible) == 3
        page.locator("#tags-filter").fill("no such attribute")
        assert page.locator("#tags-none").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing wider than the screen
        assert page.console_errors == []


def test_on_a_phone_the_tool_strip_shows_that_more_tools_are_out_of_sight_and_the_help_opens_at_its_top(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=3, patient_id="QS-0001", size=64))
    with _viewing(chromium, live_daphne, study, viewport={"width": 375, "height": 740}, has_touch=True, is_mobile=True) as page:
        _full_quality(page)
        toolbar = page.locator(".toolbar")
        fade = "([side]) => Number(getComputedStyle(document.querySelector('.toolbar'), side).opacity)"
        assert page.evaluate("document.querySelector('.toolbar').scrollWidth > document.querySelector('.toolbar').clientWidth")
        assert page.evaluate(fade, ["::after"]) == 1 and page.evaluate(fade, ["::before"]) == 0  # more to the right only
        toolbar.evaluate("(strip) => { strip.scrollLeft = strip.scrollWidth / 2; }")
        page.wait_for_function(f"({fade})(['::before']) === 1")
        assert page.evaluate(fade, ["::after"]) == 1  # more on both sides
        toolbar.evaluate("(strip) => { strip.scrollLeft = strip.scrollWidth; }")
        page.wait_for_function(f"({fade})(['::after']) === 0")
        page.locator("#help-open").click()
        assert page.evaluate("document.getElementById('help').scrollTop") == 0
        title = page.locator("#help-title").bounding_box()
        assert 0 <= title["y"] and title["y"] + title["height"] <= 740


def test_a_long_value_cut_in_the_tag_panel_reads_as_the_values_around_it(live_daphne, chromium):
    seed_demo()
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1, patient_id="QS-0001", size=64)[0]))
    dataset.ImageComments = "Contrast given at 60 s; the patient moved during the third acquisition, repeated once. " * 2
    study = _ingest([written(dataset)])
    with _viewing(chromium, live_daphne, study) as page:
        _full_quality(page)
        page.locator("#tags-toggle").click()
        value = page.locator("#tags tr", has_text="(0020,4000)").locator("td.value")
        style = "(e, property) => getComputedStyle(e)[property]"
        assert value.locator(".cut").inner_text().startswith("Contrast given")
        assert value.locator("summary").evaluate(style, "color") == value.evaluate(style, "color")
        assert value.locator("summary .more").evaluate(style, "color") != value.evaluate(style, "color")  # "Show all" is the link
        assert value.locator("details").evaluate(style, "margin") == "0px"


def test_the_phone_tool_strips_fading_edges_are_drawn_only_by_a_browser_that_can_scroll_drive_them(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=1, patient_id="QS-0001", size=64))
    with _viewing(chromium, live_daphne, study) as page:
        # Each rule drawing an edge, with the condition it is under: one without scroll-driven
        # animations would run them as 0 s long and leave the left edge over the first tool.
        found = page.evaluate("""() => {
            const found = [];
            const walk = (rules, condition) => { for (const rule of rules) {
                if (rule instanceof CSSStyleRule) { if (/[.]toolbar::(before|after)/.test(rule.selectorText)) found.push(condition); }
                else if (rule instanceof CSSSupportsRule) walk(rule.cssRules, rule.conditionText);
                else if (rule.cssRules) walk(rule.cssRules, condition);
            } };
            for (const sheet of document.styleSheets) walk(sheet.cssRules, null);
            return found;
        }""")
        assert found and set(found) == {"(animation-timeline: scroll())"}


def test_the_tag_panel_shows_the_header_of_the_image_shown_whatever_order_the_answers_come_in(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=5, patient_id="QS-0001", size=64))
    held = []
    instances = study.series.get().instances
    middle, shown = (instances.get(instance_number=number).sop_instance_uid for number in (3, 4))
    with _viewing(chromium, live_daphne, study) as page:
        _full_quality(page, showing=middle)
        # The middle image's header is slow to come; the reader goes on to the next image meanwhile.
        # Held by its address, not as the first asked: the browser may ask for the two in either order.
        slow = re.compile(rf"/{re.escape(middle)}/tags/$")
        page.route(slow, lambda route: held.append(route))
        page.keyboard.press("t")
        page.keyboard.press("ArrowDown")
        page.locator("#tags-table", has_text=shown).wait_for()
        held[0].continue_()
        page.wait_for_load_state("networkidle")
        assert shown in page.locator("#tags-table").inner_text()

        page.unroute(slow)  # a header that cannot be had: not the last image's under this one
        page.route(re.compile(r"/tags/$"), lambda route: route.fulfill(status=503, body="busy"))
        page.keyboard.press("ArrowDown")
        page.locator("#tags-failed").wait_for()
        assert page.locator("#tags-failed").inner_text() == "The tags of this image could not be loaded: close the panel and open it again to retry."
        assert shown not in page.locator("#tags").inner_text()


def _draw_ellipse(page, start: tuple[float, float], end: tuple[float, float], viewport: str = LEFT) -> None:
    """Drag the ROI tool from `start` to `end`, as fractions of the image's width and height."""
    box = page.locator(f"{viewport} .image").bounding_box()  # the transformed box: zoom and pan included
    page.mouse.move(box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1], steps=4)
    page.mouse.up()


def test_the_roi_tool_on_a_colour_image_says_at_once_that_it_has_no_values_to_measure(live_daphne, chromium):
    seed_demo()
    study = _ingest([_joined(_bundled("SC_rgb_small_odd.dcm"), study_uid=generate_uid(), series_number=1)])
    with _viewing(chromium, live_daphne, study, language="简体中文") as page:
        _full_quality(page)
        asked = []
        page.on("request", lambda request: "/region/" in request.url and asked.append(request.url))
        page.keyboard.press("o")
        _draw_ellipse(page, (0.2, 0.2), (0.8, 0.8))
        assert page.locator(f"{LEFT} .distance").inner_text() == "彩色图像没有可测量的数值。"
        assert page.locator(f"{LEFT} .overlay ellipse").count() == 0  # no region drawn for nothing
        assert asked == [] and page.console_errors == []


def test_an_roi_being_dragged_when_the_wheel_scrolls_or_cine_plays_ends_without_an_error(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=9, patient_id="QS-0001", size=128))
    with _viewing(chromium, live_daphne, study) as page:
        _full_quality(page)
        asked = []
        page.on("request", lambda request: "/region/" in request.url and asked.append(request.url))
        page.keyboard.press("o")
        box = page.locator(f"{LEFT} .image").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=4)
        page.mouse.wheel(0, 200)  # the next image: the region drawn on the last one is gone
        page.wait_for_function(f"document.querySelector('{LEFT} .position').textContent === '6 / 9'")
        page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.7, steps=4)
        page.mouse.up()
        assert page.locator(f"{LEFT} .overlay ellipse").count() == 0 and asked == []

        page.keyboard.press("c")  # cine: every image it shows clears what was drawn on the one before
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
        page.mouse.down()
        for step in range(1, 9):
            page.mouse.move(box["x"] + box["width"] * (0.3 + step / 20), box["y"] + box["height"] * 0.5)
            page.wait_for_timeout(60)
        page.mouse.up()
        page.keyboard.press("c")
        assert page.console_errors == []


def test_an_roi_drag_the_browser_cancels_is_dropped_without_being_measured(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=3, patient_id="QS-0001", size=128))
    with _viewing(chromium, live_daphne, study, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True) as page:
        _full_quality(page)
        asked = []
        page.on("request", lambda request: "/region/" in request.url and asked.append(request.url))
        page.locator("#region").click()
        box = page.locator(f"{LEFT} .image").bounding_box()
        session = page.context.new_cdp_session(page)
        x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
        _touch(page, session, [(1, x, y)], "touchStart")
        for step in range(1, 6):
            _touch(page, session, [(1, x + step * 8, y + step * 8)], "touchMove")
        assert page.locator(f"{LEFT} .overlay ellipse").count() == 1
        _touch(page, session, [], "touchCancel")  # the browser took the finger (a system gesture)
        _next_frames(page)
        assert page.locator(f"{LEFT} .overlay ellipse").count() == 0
        assert asked == [] and page.locator(f"{LEFT} .distance").inner_text() == ""
        assert page.console_errors == []


def test_the_roi_on_an_image_without_pixel_spacing_says_its_area_is_in_pixels(live_daphne, chromium):
    seed_demo()
    dataset = pydicom.dcmread(io.BytesIO(ct_series(slices=1, patient_id="QS-0001", size=64)[0]))
    del dataset.PixelSpacing
    study = _ingest([written(dataset)])
    with _viewing(chromium, live_daphne, study) as page:
        _full_quality(page)
        page.keyboard.press("o")
        _draw_ellipse(page, (0.2, 0.2), (0.6, 0.6))
        page.wait_for_function(f"document.querySelector('{LEFT} .distance').textContent.startsWith('Mean')")
        label = page.locator(f"{LEFT} .distance").inner_text()
        assert re.search(r", \d+ px \(no pixel spacing: area in pixels\)$", label), label  # as the distance says it is in pixels


def _next_frames(page) -> None:
    """Let the page lay itself out again and its observers answer (two animation frames)."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def test_a_banner_appearing_above_the_viewer_after_load_leaves_its_status_line_on_screen(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=3, patient_id="QS-0001", size=64))
    with _viewing(chromium, live_daphne, study, viewport={"width": 1366, "height": 768}) as page:
        _full_quality(page)

        def status_bottom() -> float:
            _next_frames(page)
            status = page.locator(f"{LEFT} .status").bounding_box()
            return status["y"] + status["height"]

        assert status_bottom() <= 768
        # A critical finding arrives: the banner's place is drawn again by the server (redraw.js
        # puts a fresh element in place of the old one), taller than the empty one it replaces.
        page.evaluate("""() => { const fresh = document.createElement("div"); fresh.id = "critical-banner";
            fresh.innerHTML = '<p class="critical-banner" role="alert">A critical finding (危急值) waits for your clinic\\'s acknowledgement.</p>';
            document.getElementById("critical-banner").replaceWith(fresh); }""")
        assert status_bottom() <= 768
        page.evaluate("""() => document.querySelector(".critical-banner").insertAdjacentHTML("afterend",
            '<p class="critical-banner" role="alert">A second line of the banner.</p>')""")  # the same element grows
        assert status_bottom() <= 768
        page.evaluate("""() => document.querySelector(".viewer-head").insertAdjacentHTML("beforebegin",
            '<ul class="messages" role="status"><li>Saved.</li></ul>')""")  # a new element above the viewer
        assert status_bottom() <= 768
        assert page.console_errors == []


# Every element the page's resize observers are asked to watch, each time they are asked.
_WATCHES_COUNTED = """
window.__watched = [];
const watch = ResizeObserver.prototype.observe;
ResizeObserver.prototype.observe = function (target, options) { window.__watched.push(target.className || target.tagName); return watch.call(this, target, options); };
"""


def test_what_is_above_the_viewer_is_watched_once_and_an_element_put_in_above_it_from_then_on(live_daphne, chromium):
    seed_demo()
    study = _ingest(ct_series(slices=3, patient_id="QS-0001", size=64))
    with _viewing(chromium, live_daphne, study, init_script=_WATCHES_COUNTED, viewport={"width": 1366, "height": 768}) as page:
        _full_quality(page)
        _next_frames(page)
        watched = page.evaluate("window.__watched")
        page.set_viewport_size({"width": 1200, "height": 700})  # the page head wraps otherwise, the observers answer
        _next_frames(page)
        page.evaluate("""() => document.querySelector(".viewer-head").insertAdjacentHTML("beforebegin",
            '<ul class="messages" role="status"><li>Saved.</li></ul>')""")
        _next_frames(page)
        page.set_viewport_size({"width": 1366, "height": 768})
        _next_frames(page)
        assert page.evaluate("window.__watched") == [*watched, "messages"]
        assert page.console_errors == []


@pytest.mark.parametrize("language, said", [
    ("English", "Outside the image (128 × 128 pixels): click or drag on the image."),
    ("简体中文", "在图像之外（图像为 128 × 128 像素）：请在图像上点击或拖动。"),
])
def test_an_roi_click_or_drag_outside_the_image_says_so_at_once_without_asking_the_server(live_daphne, chromium, language, said):
    seed_demo()
    study = _ingest(ct_series(slices=3, patient_id="QS-0001", size=128))
    with _viewing(chromium, live_daphne, study, language=language) as page:
        _full_quality(page)
        asked = []
        page.on("request", lambda request: "/region/" in request.url and asked.append(request.url))
        page.keyboard.press("o")
        image, canvas = page.locator(f"{LEFT} .image").bounding_box(), page.locator(f"{LEFT} .canvas").bounding_box()
        assert image["x"] - canvas["x"] > 40  # fitted in a wider canvas: black on both sides
        page.mouse.click(canvas["x"] + 20, canvas["y"] + canvas["height"] / 2)
        assert page.locator(f"{LEFT} .distance").inner_text() == said
        _draw_ellipse(page, (-0.3, 0.2), (-0.1, 0.4))  # left of the image, not touching it
        assert page.locator(f"{LEFT} .distance").inner_text() == said
        assert page.locator(f"{LEFT} .overlay ellipse").count() == 0
        assert asked == []
        _draw_ellipse(page, (-0.1, 0.4), (0.2, 0.6))  # over its edge: the part on the image is measured
        page.wait_for_function(f"document.querySelector('{LEFT} .distance').textContent !== {said!r}")
        assert len(asked) == 1
        page.wait_for_load_state("networkidle")
        assert page.console_errors == []


def test_the_roi_on_an_rt_dose_grid_reads_the_dose_in_gray(live_daphne, chromium):
    seed_demo()
    dose = pydicom.dcmread(get_testdata_file("rtdose.dcm"))
    dose.DoseUnits, dose.DoseGridScaling = "GY", "1e-5"
    study = _ingest([_joined(written(dose), study_uid=generate_uid(), series_number=1)])
    with _viewing(chromium, live_daphne, study) as page:
        _full_quality(page)
        page.keyboard.press("o")
        _draw_ellipse(page, (0.1, 0.1), (0.9, 0.9))
        page.wait_for_function(f"document.querySelector('{LEFT} .distance').textContent.startsWith('Mean')")
        label = page.locator(f"{LEFT} .distance").inner_text()
        assert re.fullmatch(r"Mean \d+\.\d\d Gy, SD \d+\.\d\d \(\d+\.\d\d to \d+\.\d\d\), [\d.]+ cm²", label), label


@pytest.mark.parametrize("language, shortcut", [
    ("English", "ROI from the keyboard: measure a circle in the middle of the view"),
    ("简体中文", "用键盘测区域 CT 值：测量视图中央的圆形区域"),
])
def test_with_the_roi_tool_enter_on_the_image_measures_a_circle_in_the_middle_of_the_view(live_daphne, chromium, language, shortcut):
    seed_demo()
    study = _ingest(ct_series(slices=3, patient_id="QS-0001", size=128))
    with _viewing(chromium, live_daphne, study, language=language) as page:
        _full_quality(page)
        page.keyboard.press("?")
        assert shortcut in page.locator("#help").inner_text()
        page.keyboard.press("Escape")
        page.locator(f"{LEFT} .canvas").focus()
        asked = []
        page.on("request", lambda request: "/region/" in request.url and asked.append(request.url))
        page.keyboard.press("Enter")  # the Window tool: Enter does nothing on the image
        page.keyboard.press("o")
        with page.expect_request(re.compile(r"/region/")) as measured:
            page.keyboard.press("Enter")
        box = tuple(float(v) for v in re.search(r"box=([^&]+)", measured.value.url)[1].replace("%2C", ",").split(","))
        assert box == pytest.approx((57.6, 57.6, 70.4, 70.4), abs=0.1)  # 12.8 pixels across: a tenth of 128
        assert len(asked) == 1 and page.locator(f"{LEFT} .overlay ellipse").count() == 1
        instance = study.series.get().instances.get(instance_number=2)
        expected = pixels.region_get(instance=instance, number=1, box=box, ellipse=True)[0].mean
        written = (f"{expected:.0f}" if expected.is_integer() else f"{expected:.1f}").replace("-", "−")
        page.wait_for_function(f"document.querySelector('{LEFT} .distance').textContent.includes({written + ' HU'!r})")  # the mean
        assert page.locator(f"{LEFT} .distance").get_attribute("aria-live") == "polite"  # read out as it comes

        page.locator("#zoom-in").click()  # on a button, Enter is the button's
        zoomed = _zoom(page)
        page.locator("#fit").press("Enter")
        assert _zoom(page) < zoomed and len(asked) == 1
        assert page.console_errors == []


@pytest.mark.parametrize("language", ["English", "简体中文"])
def test_with_two_series_side_by_side_the_toolbar_is_one_row_on_a_1366_pixel_laptop(live_daphne, chromium, language):
    seed_demo()
    study = _ingest(ct_series(slices=3, patient_id="QS-0001", size=64))
    with _viewing(chromium, live_daphne, study, language=language, viewport={"width": 1366, "height": 768}) as page:
        _full_quality(page)
        page.locator("#layout").click()
        assert page.locator("#link").is_visible()
        _full_quality(page, RIGHT)
        toolbar, button = page.locator(".toolbar").bounding_box(), page.locator("#fit").bounding_box()
        assert toolbar["height"] < 1.5 * button["height"]  # one row of tools
        assert page.locator("#help-open").bounding_box()["y"] == pytest.approx(page.locator("[data-preset]").first.bounding_box()["y"], abs=1)
        for name in ("Side by side", "Link scrolling") if language == "English" else ("并排", "同步翻页"):
            assert page.get_by_role("button", name=name).is_visible()  # each still named for who cannot see it
