"""The export page in the browser: the XLSX it downloads holds the API's numbers, the CSV has Russian
headers (';' and a decimal comma), the headers' language follows the UI's, bad periods are refused."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from tests.ui.conftest import shot


def _period(site, days: int) -> tuple[date, date, dict[str, str]]:
    """The last ``days`` office-local days (today included) and the API's from/to for them."""
    zone = ZoneInfo(site.api("/api/v1/settings")["timezone"])
    last = datetime.now(zone).date()
    first = last - timedelta(days=days - 1)
    span = {
        "from": datetime.combine(first, dtime(0), zone).isoformat(),
        "to": datetime.combine(last + timedelta(days=1), dtime(0), zone).isoformat(),
    }
    return first, last, span


def _fill(page, first: date, last: date) -> None:
    page.fill("#export-form input[name=from]", first.isoformat())
    page.fill("#export-form input[name=to]", last.isoformat())


def test_xlsx_download_equals_the_api(site, admin_page):
    page = admin_page
    page.goto(site.url + "/export")
    assert page.is_checked("input[name=file_lang][value=ru]"), "the headers follow the UI's language"
    first, last, span = _period(site, 14)
    _fill(page, first, last)
    page.select_option("#export-form select[name=scope]", "window:w1")
    page.check("input[name=format][value=xlsx]")
    page.select_option("#export-form select[name=step]", "total")
    shot(page, "export")
    with page.expect_download() as info:
        page.click("#export-form button[type=submit]")
    download = info.value
    assert download.suggested_filename == f"otklik-{first}_{last}-window-w1.xlsx"
    book = load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    sheet = book["Метрики"]
    rows = list(sheet.iter_rows(values_only=True))
    headers = list(rows[0])
    assert headers[:2] == ["Период (Europe/Moscow)", "Срез"]
    assert {"CSAT, %", "CSAT, n", "NPS", "NPS, n"} <= set(headers)
    assert len(rows) == 2, "step total: one row"
    api = site.api("/api/v1/metrics/summary", window="w1", **span)
    row = dict(zip(headers, rows[1], strict=True))
    assert api["metrics"]["csat"]["n"] > 0
    assert row["CSAT, %"] == api["metrics"]["csat"]["value"]
    assert row["CSAT, n"] == api["metrics"]["csat"]["n"]
    assert row["Срез"] == "окно w1"
    assert "Параметры" in book.sheetnames


def test_csv_with_russian_headers_per_day(site, admin_page):
    page = admin_page
    page.goto(site.url + "/export")
    first, last, span = _period(site, 7)
    _fill(page, first, last)
    page.check("input[name=format][value=csv]")
    page.check("input[name=file_lang][value=ru]")
    with page.expect_download() as info:
        page.click("#export-form button[type=submit]")
    raw = Path(info.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with a BOM, for Excel"
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert table[0][:3] == ["Период (Europe/Moscow)", "Срез", "CSAT, %"]
    assert [r[0] for r in table[1:]] == [(first + timedelta(days=i)).isoformat() for i in range(7)]
    assert all(r[1] == "весь офис" for r in table[1:])
    # per-day n add up to the API's n of the whole period
    n_column = table[0].index("CSAT, n")
    assert (
        sum(int(r[n_column]) for r in table[1:])
        == site.api("/api/v1/metrics/summary", **span)["metrics"]["csat"]["n"]
    )


def test_english_ui_english_headers_and_refusals(site, admin_page):
    page = admin_page
    page.goto(site.url + "/export?lang=en")
    assert page.inner_text("h1") == "Export the metrics"
    assert page.is_checked("input[name=file_lang][value=en]")
    first, last, _ = _period(site, 3)
    _fill(page, last, first)  # backwards
    page.click("#export-form button[type=submit]")
    assert "ends before it starts" in page.inner_text("#form-error")
    _fill(page, first, last)
    page.check("input[name=format][value=csv]")
    with page.expect_download() as info:
        page.click("#export-form button[type=submit]")
    header = Path(info.value.path()).read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith('Period (Europe/Moscow),Scope,"CSAT, %",')
