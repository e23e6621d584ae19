"""Uploading a folder of DICOM files in Chromium: progress, skipped non-DICOM files, resuming.

Folders are dropped as a person drops them: Chromium's own drag and drop, driven through the
DevTools protocol with paths on disk (a DataTransfer made in the page's script holds no folders)."""
from __future__ import annotations

from pathlib import Path

import pydicom.data

import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian

from imaging.models import Instance, Study
from telemed.accounts.demo import seed_demo
from tests.browser.pages import signed_in
from tests.imaging.corpus import bundled_as, ct_series, encoded_as, with_private_value

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _files(tmp_path, count):
    folder = tmp_path / "CT"
    paths = _written(folder, ct_series(slices=count, patient_id="QS-0001"))
    notes = folder / "README.txt"
    notes.write_text("scanner export notes")
    return paths, notes


def test_clinic_doctor_uploads_files_then_resumes_without_sending_them_again(live_daphne, chromium, tmp_path):
    seed_demo()
    paths, notes = _files(tmp_path, 8)
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/")
    try:
        page.locator("#files").set_input_files(paths[:5] + [str(notes)])
        page.wait_for_function("document.getElementById('overall-bar').value === 6")
        # The page says what the server would say of it, and what to do.
        said = page.evaluate("""fetch(document.getElementById("uploader").dataset.instanceUrl, {method: "POST", body: "scanner export notes",
            headers: {"X-CSRFToken": document.querySelector("[name=csrfmiddlewaretoken]").value}}).then((r) => r.json())""")
        assert said["reason"].startswith("no DICOM file header") and "export it from the modality" in said["reason"]
        assert page.locator("#problem-list").text_content() == f"README.txt: not sent: {said['reason']}"
        assert page.locator("#problems summary").inner_text() == "Files not stored (1)"  # counted while folded
        assert Instance.objects.count() == 5

        # The tab is closed and the doctor chooses the whole folder again.
        page.reload()
        page.locator("#files").set_input_files(paths)
        page.wait_for_function("document.getElementById('overall-bar').value === 8")
        assert Instance.objects.count() == 8
        assert Instance.objects.filter(source="browser").count() == 8
        study = Study.objects.get()
        assert study.patient.mrn == "QS-0001"
        assert "8/8" in page.locator("#studies").inner_text()

        page.goto(live_daphne + "/imaging/")
        assert "胸部CT平扫" in page.locator("table").inner_text()
    finally:
        context.close()


_ALL_HANDLED = "(bar => !bar.closest('[hidden]') && bar.value === bar.max)(document.getElementById('overall-bar'))"


def _dropped(page, paths: list[str]) -> None:
    """`paths` (files or folders) dragged from the desktop and dropped on the drop zone."""
    box = page.locator("#dropzone").bounding_box()
    at = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    devtools = page.context.new_cdp_session(page)
    data = {"items": [], "files": paths, "dragOperationsMask": 1}  # 1: copy
    for kind in ("dragEnter", "dragOver", "drop"):
        devtools.send("Input.dispatchDragEvent", {"type": kind, **at, "data": data})


def test_two_folders_dropped_together_are_both_uploaded(live_daphne, chromium, tmp_path):
    seed_demo()
    chest = _written(tmp_path / "chest", ct_series(slices=2, patient_id="QS-0001", description="胸部CT平扫"))
    head = _written(tmp_path / "head", ct_series(slices=3, patient_id="QS-0001", description="头颅CT平扫"))
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/")
    try:
        _dropped(page, [str(tmp_path / "chest"), str(tmp_path / "head")])
        page.wait_for_function(_ALL_HANDLED)
        assert page.locator("#overall-text").inner_text() == "5/5"
        assert page.locator("#studies li").count() == 2
        assert Instance.objects.count() == len(chest) + len(head) == 5
        assert sorted(Study.objects.values_list("description", flat=True)) == ["头颅CT平扫", "胸部CT平扫"]
    finally:
        context.close()


# Each change of the checking line as it happens (it is hidden once every file is checked):
# its text, whether it shows, and whether the page then fits its window's width.
_CHECKING_WATCHED = """
window.__checking = [];
document.addEventListener("DOMContentLoaded", () => {
  const line = document.getElementById("checking");
  new MutationObserver(() => window.__checking.push({
    text: document.getElementById("checking-text").textContent, shown: !line.hidden,
    bar: [document.getElementById("checking-bar").value, document.getElementById("checking-bar").max],
    fits: document.scrollingElement.scrollWidth <= window.innerWidth,
  })).observe(line, {subtree: true, childList: true, characterData: true, attributes: true});
});
"""


def test_the_page_shows_how_many_files_and_bytes_are_checked_before_it_sends_them_on_a_phone(live_daphne, chromium, tmp_path):
    from django.template.defaultfilters import filesizeformat

    seed_demo()
    paths = _written(tmp_path / "CT", ct_series(slices=3, patient_id="QS-0001", size=256))
    sizes = [Path(p).stat().st_size for p in paths]
    size, two = sum(sizes), sum(sizes[:2])
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/", init_script=_CHECKING_WATCHED, viewport={"width": 375, "height": 667})
    try:
        page.locator("#files").set_input_files(paths)
        page.wait_for_function(_ALL_HANDLED)
        seen = page.evaluate("window.__checking")
        shown = [s["text"] for s in seen if s["shown"]]
        assert shown[0] == f"Checking files before sending: 0 of 3 ({filesizeformat(0)} of {filesizeformat(size)})"
        assert shown[-1] == f"Checking files before sending: 2 of 3 ({filesizeformat(two)} of {filesizeformat(size)})"
        assert [s["bar"] for s in seen if s["shown"]][-1] == [two, size] and all(s["fits"] for s in seen)
        assert page.locator("#checking").is_hidden() and page.locator("#overall-text").inner_text() == "3/3"
    finally:
        context.close()


# Every label a study row has had, as it changes.
_LABELS_WATCHED = """
window.__labels = new Set();
document.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("studies");
  new MutationObserver(() => list.querySelectorAll(".name").forEach((name) => window.__labels.add(name.textContent)))
    .observe(list, {subtree: true, childList: true, characterData: true});
});
"""


def test_big_endian_deflated_and_unreadable_headers_get_rows_that_tell_their_studies_apart(live_daphne, chromium, tmp_path):
    seed_demo()
    chest, head, abdomen, pelvis = (ct_series(slices=n, patient_id="QS-0001", description=d, study_date="20261120") for n, d in (
        (2, "胸部CT平扫"), (2, "头颅CT平扫"), (1, "腹部CT"), (1, "盆腔CT")))
    nameless = ct_series(slices=1, patient_name="^", patient_id="QS-0002", description="", study_date="20261120")
    files = {
        **{f"chest-{n}.dcm": encoded_as(data, ExplicitVRBigEndian) for n, data in enumerate(chest)},
        **{f"head-{n}.dcm": encoded_as(data, DeflatedExplicitVRLittleEndian) for n, data in enumerate(head)},
        # The study's UID lies beyond the part of the file the page reads for its header.
        "abdomen.dcm": with_private_value(abdomen[0], 70_000), "pelvis.dcm": with_private_value(pelvis[0], 70_000),
        "nameless.dcm": nameless[0],
    }
    (tmp_path / "mixed").mkdir()
    for name, data in files.items():
        (tmp_path / "mixed" / name).write_bytes(data)
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/", init_script=_LABELS_WATCHED)
    try:
        page.locator("#files").set_input_files([str(tmp_path / "mixed" / name) for name in files])
        page.wait_for_function(_ALL_HANDLED)
        rows = {row.locator(".name").inner_text(): row.locator(".count").inner_text() for row in page.locator("#studies li").all()}
        assert rows == {
            "王秀英 · 胸部CT平扫 · 2026-11-20": "2/2 done", "王秀英 · 头颅CT平扫 · 2026-11-20": "2/2 done",
            "王秀英 · 腹部CT · 2026-11-20": "1/1 done", "王秀英 · 盆腔CT · 2026-11-20": "1/1 done",
            "QS-0002 · 2026-11-20": "1/1 done",
        }
        # Read by the page (big endian, deflated) or, until the server had read them, a row each.
        unread = {label for label in page.evaluate("[...window.__labels]") if "header" in label}
        assert unread == {"abdomen.dcm (its header is read by the server)", "pelvis.dcm (its header is read by the server)"}
        # The page's own first labels write the date as the server's answer does.
        assert all("2026-11-20" in label for label in page.evaluate("[...window.__labels]") if "header" not in label)
        assert Instance.objects.count() == 7
    finally:
        context.close()


# Names as modalities send them, with the cases imaging/dicom/names.py decides: which groups are
# there and which are empty, ideographic text in either group, components empty, missing or beyond
# the fifth, spaces Python strips and JavaScript's trim() does not (or the reverse).
_NAMES = [
    "Zhang^Wei=张^伟", "ZHANG^WEI=张^伟=zhang^wei", "张^伟=Zhang^Wei", "王^秀英", "=张^伟", "==zhang^wei", "=^^^=zhang",
    "Zhang^Wei=张^伟=チョウ^イ", "Lee^Minjun=이^민준", "Zhang=Zhang", "a=b=c=d", "Doe^John=",
    "Doe^John^^Dr", "Doe^John^Q^Dr^Jr", "A^B^C^D^E^F", "Wang^^^^^张", "Wang^XiaoDong^^", "^John", "^^^", "=", "==", "",
    " Zhang ^ Wei = 张 ^ 伟 ", "\u3000张\u3000^伟", "Doe\x1c^John\x85", "\ufeffDoe^John",
]


def test_the_upload_page_writes_a_person_name_as_the_server_does_in_both_languages(live_daphne, chromium, tmp_path):
    from django.utils import translation

    from imaging.templatetags.archive import person_name

    seed_demo()
    data = ct_series(slices=1, patient_id="QS-0001", patient_name="Zhang^Wei=张^伟", charset="ISO_IR 192")
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/", init_script=_LABELS_WATCHED)
    try:
        for button, language in (("English", "en"), ("简体中文", "zh-hans")):
            page.get_by_role("button", name=button).click()
            page.wait_for_load_state()
            written = page.evaluate("""async (names) => {
                const module = await import(new URL("names.js", document.querySelector("script[src*='upload.js']").src));
                return names.map((name) => module.personName(name, document.documentElement.lang));
            }""", _NAMES)
            with translation.override(language):
                assert dict(zip(_NAMES, written)) == {name: person_name(name) for name in _NAMES}, language
                server = person_name("Zhang^Wei=张^伟")
            # The row's first label, written before the server's answer, is the one its answer writes.
            page.locator("#files").set_input_files(_written(tmp_path / language, data))
            page.wait_for_function(_ALL_HANDLED)
            assert {label.split(" · ")[0] for label in page.evaluate("[...window.__labels]")} == {server}, language
    finally:
        context.close()


# Sizes on both sides of each unit, and tenths that Python rounds to the even one (1280 bytes: 1.25 KB).
_SIZES = [0, 1, 2, 500, 1023, 1024, 1280, 1331, 1587, 1_048_575, 1_048_576, 1_310_720, 3 * 1024**3 + 1, 5 * 1024**4, 7 * 1024**5]


def test_the_upload_page_writes_a_file_size_as_the_server_does_in_both_languages(live_daphne, chromium):
    from django.template.defaultfilters import filesizeformat
    from django.utils import translation

    seed_demo()
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/")
    try:
        for button, language in (("English", "en"), ("简体中文", "zh-hans")):
            page.get_by_role("button", name=button).click()
            page.wait_for_load_state()
            written = page.evaluate("""async (sizes) => {
                const module = await import(document.querySelector("script[src*='upload.js']").src);
                return sizes.map(module.byteSize);
            }""", _SIZES)
            with translation.override(language):
                assert dict(zip(_SIZES, written)) == {size: filesizeformat(size) for size in _SIZES}, language
    finally:
        context.close()


def _written(folder, files: list[bytes]) -> list[str]:
    folder.mkdir()
    paths = []
    for n, data in enumerate(files, start=1):
        path = folder / f"IM{n:04d}.dcm"
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def test_the_storage_bar_shows_what_the_upload_took_without_a_reload(live_daphne, chromium, tmp_path):
    seed_demo()
    paths = _written(tmp_path / "CT", ct_series(slices=3, patient_id="QS-0001", size=256))
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/")
    try:
        before = page.locator(".usage-text").inner_text()
        page.locator("#files").set_input_files(paths)
        page.wait_for_function(_ALL_HANDLED)
        page.wait_for_function("text => document.querySelector('.usage-text').textContent !== text", arg=before)
        shown = page.locator(".usage-row").inner_text()
        page.reload()
        assert shown == page.locator(".usage-row").inner_text()
    finally:
        context.close()


def test_a_study_row_is_labelled_from_the_header_and_tells_stored_already_stored_and_refused_apart(live_daphne, chromium, tmp_path):
    seed_demo()
    files = ct_series(slices=3, patient_id="QS-0001", study_date="20261120")
    # The same instance UIDs with other pixels: the archive refuses it (it holds the first).
    conflicting = files[0][:-2] + bytes([files[0][-2] ^ 0xFF, files[0][-1]])
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/", viewport={"width": 375, "height": 667})
    try:
        page.locator("#files").set_input_files(_written(tmp_path / "first", files[:2]))
        page.wait_for_function("document.getElementById('overall-bar').value === 2")
        row = page.locator("#studies li")
        # Relabelled from the server's answer: the name decoded from GB18030, the date as the archive pages write it.
        assert row.locator(".name").inner_text() == "王秀英 · 胸部CT平扫 · 2026-11-20"
        assert row.locator(".count").inner_text() == "2/2 done"

        page.reload()
        page.locator("#files").set_input_files(_written(tmp_path / "again", [*files, conflicting]))
        page.wait_for_function("document.getElementById('overall-bar').value === 4")
        assert row.locator(".name").inner_text() == "王秀英 · 胸部CT平扫 · 2026-11-20"
        assert row.locator(".count").inner_text() == "4/4 done"
        assert row.locator(".outcomes").inner_text() == "1 stored · 2 already stored · 1 refused"
        row.get_by_role("link", name="1 refused").click()
        assert page.locator("#problem-list").is_visible()
        assert "IM0004.dcm: refused" in page.locator("#problem-list").inner_text()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
        assert Instance.objects.count() == 3
    finally:
        context.close()


@pytest.mark.parametrize(("viewport", "language", "refused"), [
    ({"width": 375, "height": 667}, "English", "1 refused"), ({"width": 375, "height": 667}, "简体中文", "被拒绝 1"),
    ({"width": 1280, "height": 900}, "English", "1 refused"), ({"width": 1280, "height": 900}, "简体中文", "被拒绝 1"),
])
def test_a_study_rows_refused_files_are_counted_once_as_the_link_to_why_below_its_bar_on_a_phone(live_daphne, chromium, tmp_path, viewport, language, refused):
    seed_demo()
    files = ct_series(slices=2, patient_id="QS-0001")
    conflicting = files[0][:-2] + bytes([files[0][-2] ^ 0xFF, files[0][-1]])
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/", viewport=viewport)
    try:
        page.get_by_role("button", name=language).click()
        page.wait_for_load_state()
        page.locator("#files").set_input_files(_written(tmp_path / "first", files[:1]))
        page.wait_for_function(_ALL_HANDLED)
        page.reload()
        page.locator("#files").set_input_files(_written(tmp_path / "again", [*files, conflicting]))
        page.wait_for_function(_ALL_HANDLED)
        row = page.locator("#studies li")
        assert row.inner_text().count(refused) == 1, row.inner_text()
        assert row.get_by_role("link").inner_text() == refused
        bar, outcomes = row.locator("progress").bounding_box(), row.locator(".outcomes").bounding_box()
        if viewport["width"] < 400:  # the counts of each outcome have a line of their own, not wrapped into the bar's
            assert outcomes["y"] >= bar["y"] + bar["height"] - 1 and outcomes["x"] == pytest.approx(bar["x"], abs=1)
            assert row.locator(".outcomes").evaluate("(e) => e.getClientRects().length") == 1
        else:  # one line: label, bar, count, outcomes
            assert outcomes["y"] < bar["y"] + bar["height"] and outcomes["x"] > bar["x"] + bar["width"]
        assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]
    finally:
        context.close()


def test_an_upload_stops_with_a_message_when_the_session_ends_and_an_html_answer_is_reported_per_file(live_daphne, chromium, tmp_path):
    from django.contrib.sessions.models import Session

    seed_demo()
    files = ct_series(slices=4, patient_id="QS-0001")
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/")
    sent = []

    def answer(route):
        sent.append(route.request)
        if len(sent) == 1:  # a proxy's error page, not the application's JSON
            route.fulfill(status=400, content_type="text/html", body="<h1>Bad Request</h1>")
        else:  # the session expires while the upload runs: the next answer is the sign-in page
            Session.objects.all().delete()
            route.continue_()

    try:
        page.route("**/imaging/upload/instance/**", answer)
        page.evaluate("window.__errors = []; window.addEventListener('error', (e) => window.__errors.push(e.message)); window.addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason)))")
        page.locator("#files").set_input_files(_written(tmp_path / "CT", files))
        stopped = page.locator("#upload-stopped")
        stopped.wait_for(state="visible")
        assert stopped.inner_text() == (
            "Your session has ended: sign in again and choose the folder again; files already stored will not be sent twice."
        )
        page.wait_for_function("document.getElementById('problem-list').textContent.includes(': refused: HTTP 400')")
        assert page.evaluate("window.__errors") == []
        assert not Instance.objects.exists()
    finally:
        context.close()


def test_on_a_phone_each_study_row_has_its_label_above_its_bar_and_no_count_broken_across_lines(live_daphne, chromium, tmp_path):
    seed_demo()
    paths = _written(tmp_path / "CT", [*ct_series(slices=2, patient_id="QS-0001"), bundled_as("CT_small.dcm", patient_id="QS-0001")])
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/", viewport={"width": 375, "height": 740}, has_touch=True, is_mobile=True)
    try:
        page.get_by_role("button", name="简体中文").click()
        page.wait_for_load_state()
        page.locator("#files").set_input_files(paths)
        page.wait_for_function(_ALL_HANDLED)
        for row in page.locator("#studies li").all():
            name, bar = row.locator(".name").bounding_box(), row.locator("progress").bounding_box()
            assert bar["y"] >= name["y"] + name["height"] - 1 and bar["x"] == pytest.approx(name["x"], abs=1)  # a line of its own
            pieces = row.locator(".count, .outcomes > *").all()
            assert pieces and all(piece.evaluate("(e) => e.getClientRects().length") == 1 for piece in pieces), row.inner_text()
    finally:
        context.close()


def test_the_dicomdir_of_a_cd_is_named_for_what_it_is_and_not_sent_while_its_images_are(live_daphne, chromium, tmp_path):
    seed_demo()
    paths = _written(tmp_path / "CD", ct_series(slices=2, patient_id="QS-0001"))
    index = tmp_path / "CD" / "DICOMDIR"  # every CD or DVD a scanner writes has one: an index, not an image
    index.write_bytes((Path(pydicom.data.__file__).parent / "test_files" / "dicomdirtests" / "DICOMDIR").read_bytes())
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/")
    try:
        sent = []
        page.on("request", lambda request: request.method == "POST" and "/upload/instance" in request.url and sent.append(request))
        page.locator("#files").set_input_files([*paths, str(index)])
        page.wait_for_function(_ALL_HANDLED)
        assert page.locator("#studies li").count() == 1 and "refused" not in page.locator("#studies").inner_text()
        assert page.locator("#problem-list").text_content() == (
            "DICOMDIR: not sent: it is the index of a CD or DVD (DICOMDIR), not an image; the images of its folder are sent on their own"
        )
        assert len(sent) == 2 and Instance.objects.count() == 2
    finally:
        context.close()


# What macOS and Windows leave in a folder beside the images (none of it DICOM), as a doctor's
# folder holds it: copied from a Mac (.DS_Store, "._" AppleDouble twins, a zip's __MACOSX) or
# opened in Windows Explorer (Thumbs.db, desktop.ini).
_SYSTEM_FILES = (".DS_Store", "Thumbs.db", "desktop.ini", "._IM0001.dcm", "__MACOSX/CD/._IM0002.dcm")


def test_files_the_operating_system_leaves_in_a_dropped_folder_are_named_as_such_and_not_sent(live_daphne, chromium, tmp_path):
    seed_demo()
    _written(tmp_path / "CD", ct_series(slices=2, patient_id="QS-0001"))
    for name in _SYSTEM_FILES:
        (tmp_path / "CD" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "CD" / name).write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(200))
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/")
    try:
        sent = []
        page.on("request", lambda request: request.method == "POST" and "/upload/instance" in request.url and sent.append(request))
        for language, reason, separator in (
            ("English", "not sent: %(count)d system files that macOS or Windows leave in folders, not images", ", "),
            ("简体中文", "未发送：%(count)d 个 macOS 或 Windows 在文件夹中留下的系统文件，不是图像", "、"),
        ):
            page.get_by_role("button", name=language).click()
            page.wait_for_load_state()
            _dropped(page, [str(tmp_path / "CD")])
            page.wait_for_function(_ALL_HANDLED)
            assert page.locator("#overall-text").inner_text() == "7/7"
            # One line for them all, naming the first three: a Mac's copy holds a "._" twin of every image.
            [line] = page.locator("#problem-list li").all_text_contents()  # folded: not rendered
            named, said = line.split(": ", 1)
            assert said == reason % {"count": len(_SYSTEM_FILES)}, language
            assert named.endswith(f"{separator}…") and set(named.removesuffix(f"{separator}…").split(separator)) < {f"CD/{name}" for name in _SYSTEM_FILES}
            assert page.locator("#problem-count").text_content() == str(len(_SYSTEM_FILES))
            assert page.locator("#studies li").count() == 1
            assert page.locator("#studies li .count").inner_text().startswith("2/2")
            assert not page.locator("#studies li .outcomes a").count()  # nothing refused
        assert len(sent) == 2 and Instance.objects.count() == 2

        (tmp_path / "USB").mkdir()
        (tmp_path / "USB" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(200))  # one alone is named
        page.get_by_role("button", name="English").click()
        page.wait_for_load_state()
        _dropped(page, [str(tmp_path / "USB")])
        page.wait_for_function(_ALL_HANDLED)
        assert page.locator("#problem-list li").all_text_contents() == ["USB/.DS_Store: not sent: a system file that macOS or Windows leaves in folders, not an image"]
    finally:
        context.close()


# As Chromium 80 to 102: DecompressionStream is there, but not for "deflate-raw".
_NO_DEFLATE_RAW = """
const Inflater = window.DecompressionStream;
window.DecompressionStream = class extends Inflater {
  constructor(format) {
    if (format === "deflate-raw") throw new TypeError(`Failed to construct 'DecompressionStream': Unsupported compression format: '${format}'`);
    super(format);
  }
};
"""


def test_a_deflated_file_in_a_browser_that_cannot_inflate_it_is_sent_and_labelled_by_the_server(live_daphne, chromium, tmp_path):
    seed_demo()
    data = ct_series(slices=1, patient_id="QS-0001", study_date="20261120")[0]
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/", init_script=_NO_DEFLATE_RAW + _LABELS_WATCHED)
    try:
        page.locator("#files").set_input_files(_written(tmp_path / "CT", [encoded_as(data, DeflatedExplicitVRLittleEndian)]))
        page.wait_for_function(_ALL_HANDLED)
        assert page.locator("#checking").is_hidden() and page.locator("#upload-stopped").is_hidden()
        assert "IM0001.dcm (its header is read by the server)" in page.evaluate("[...window.__labels]")
        row = page.locator("#studies li")
        assert row.locator(".name").inner_text() == "王秀英 · 胸部CT平扫 · 2026-11-20"
        assert row.locator(".count").inner_text() == "1/1 done"
        assert Instance.objects.count() == 1
    finally:
        context.close()


# A file the browser cannot read any more (its folder moved, the disc taken out) while checking.
_UNREADABLE = """
Blob.prototype.arrayBuffer = () => Promise.reject(new DOMException("A requested file or directory could not be found", "NotFoundError"));
"""


def test_files_the_browser_cannot_read_while_checking_stop_the_upload_with_a_message_in_both_languages(live_daphne, chromium, tmp_path):
    seed_demo()
    paths = _written(tmp_path / "CT", ct_series(slices=2, patient_id="QS-0001"))
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/", init_script=_UNREADABLE)
    try:
        for language, said in (
            ("English", "The files could not be read to check them: make sure the folder, disc or USB stick is still there, then choose it again."),
            ("简体中文", "无法读取文件以进行检查：请确认文件夹、光盘或 U 盘仍然可用，然后重新选择。"),
        ):
            page.get_by_role("button", name=language).click()
            page.wait_for_load_state()
            page.locator("#files").set_input_files(paths)
            page.locator("#upload-stopped").wait_for(state="visible")
            assert page.locator("#upload-stopped").inner_text() == said
            assert page.locator("#checking").is_hidden()
        assert not Instance.objects.exists()
    finally:
        context.close()


def test_a_file_of_an_unread_header_chosen_later_gets_a_row_of_its_own_beside_an_unresolved_one(live_daphne, chromium, tmp_path):
    seed_demo()
    abdomen, pelvis = (ct_series(slices=1, patient_id="QS-0001", description=d, study_date="20261120")[0] for d in ("腹部CT", "盆腔CT"))
    # The study's UID lies beyond the part of the file the page reads for its header.
    (tmp_path / "first").mkdir(), (tmp_path / "second").mkdir()
    (tmp_path / "first" / "abdomen.dcm").write_bytes(with_private_value(abdomen, 70_000))
    (tmp_path / "second" / "pelvis.dcm").write_bytes(with_private_value(pelvis, 70_000))
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/")
    try:
        # The first is refused (as a proxy might), so its row is never told its study.
        page.route("**/imaging/upload/instance/**", lambda route: route.fulfill(status=400, json={"reason": "busy"}))
        page.locator("#files").set_input_files([str(tmp_path / "first" / "abdomen.dcm")])
        page.wait_for_function(_ALL_HANDLED)
        page.unroute("**/imaging/upload/instance/**")
        page.locator("#files").set_input_files([str(tmp_path / "second" / "pelvis.dcm")])
        page.wait_for_function("document.getElementById('overall-bar').value === 1 && document.getElementById('studies').textContent.includes('盆腔CT')")
        rows = {row.locator(".name").inner_text(): row.locator(".count").inner_text() for row in page.locator("#studies li").all()}
        assert rows == {"abdomen.dcm (its header is read by the server)": "1/1 done", "王秀英 · 盆腔CT · 2026-11-20": "1/1 done"}
        assert Instance.objects.count() == 1
    finally:
        context.close()


def test_a_file_of_an_unread_header_already_stored_is_labelled_with_its_study_when_chosen_again(live_daphne, chromium, tmp_path):
    seed_demo()
    abdomen = ct_series(slices=1, patient_id="QS-0001", description="腹部CT", study_date="20261120")[0]
    (tmp_path / "CT").mkdir()
    (tmp_path / "CT" / "abdomen.dcm").write_bytes(with_private_value(abdomen, 70_000))  # its study's UID beyond what the page reads
    context, page = signed_in(chromium, live_daphne, at="/imaging/upload/")
    try:
        for outcomes in ("1 stored", "1 already stored"):
            page.reload()
            page.locator("#files").set_input_files([str(tmp_path / "CT" / "abdomen.dcm")])
            page.wait_for_function(_ALL_HANDLED)
            row = page.locator("#studies li")
            assert row.locator(".name").inner_text() == "王秀英 · 腹部CT · 2026-11-20", outcomes
            assert row.locator(".count").inner_text() == "1/1 done" and row.locator(".outcomes").inner_text() == outcomes
        assert Instance.objects.count() == 1
    finally:
        context.close()
