"""The metrics export (edge_hub/metrics/export.py, GET /api/v1/export): presses through the real ingest path
into real SQLite, the files fetched through the API and read back with openpyxl and csv, every number
checked against edge_hub.metrics.summary for the same period."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from edge_hub.app import create_app
from edge_hub.db.store import Store
from edge_hub.metrics import export, summary
from edge_hub.office import scopes
from edge_hub.office import served as served_counts
from edge_hub.office import settings as office_settings
from edge_hub.runtime import Runtime
from tests.helpers import SITE, FedHub

H = 3_600_000
MIN = 60_000
DAY = 24 * H
# Monday 2026-11-23 10:00 Moscow (07:00 UTC)
MON_10 = int(datetime(2026, 11, 23, 7, tzinfo=UTC).timestamp() * 1000)
# 2026-11-23 00:00 .. 2026-11-26 00:00 Moscow: three local days
FROM = MON_10 - 10 * H
TO = FROM + 3 * DAY
PERIOD = {"from": "2026-11-23T00:00:00", "to": "2026-11-26T00:00:00"}  # no offset: office local time
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


Office = FedHub


@pytest.fixture
def hub_db(tmp_path) -> Office:
    """Mon: CSAT 5,5,4,3,1 at btn-01 (window w1), NPS 10,9,8,3 (below min_n), 20 served;
    Tue: CSAT 4,2 (below min_n) and a repeat press (flagged); Wed: nothing."""
    o = Office(tmp_path / "hub.db")
    always = {d: [("00:00", "23:59")] for d in office_settings.WEEKDAYS}
    office_settings.save(o.conn, office_settings.OfficeSettings(opening_hours=always))
    scopes.put_department(o.conn, "loans", "Кредиты")
    scopes.put_window(o.conn, "w1", "loans", "Окно 1")
    scopes.assign_device(o.conn, "btn-01", "w1")
    o.presses([(MON_10 + i * MIN, v, "btn-01", "csat", {}) for i, v in enumerate((5, 5, 4, 3, 1))])
    o.presses([(MON_10 + i * MIN, v, "kiosk-1", "nps", {}) for i, v in enumerate((10, 9, 8, 3))])
    o.presses(
        [
            (MON_10 + DAY + 3 * H, 4, "btn-02", "csat", {}),
            (MON_10 + DAY + 3 * H + MIN, 2, "btn-02", "csat", {}),
        ]
    )
    o.presses([(MON_10 + DAY + 3 * H + 2 * MIN, 5, "btn-02", "csat", {"repeat": True})])
    served_counts.put_served(o.conn, "2026-11-23", "", 20, "manual")
    yield o
    o.store.close()


@pytest.fixture
def client(hub_db) -> TestClient:
    return TestClient(create_app(Runtime(SITE, hub_db.path, "mqtt://test")))


def _xlsx(client: TestClient, **params):
    r = client.get("/api/v1/export", params={**PERIOD, "format": "xlsx", **params})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    return r, load_workbook(io.BytesIO(r.content))


def _expected_row(s: dict, columns: list[str], lang: str) -> list:
    """The numbers summary() gives, in the export's column order (a header names its metric)."""
    names = {
        "ru": {"Коэффициент отклика": "response_rate", "Индекс поддержки": "support_index",
               "Индекс критичности": "criticality_index", "Индекс эмоциональной лояльности": "emotional_nps"},
        "en": {"Response rate": "response_rate", "Support index": "support_index",
               "Criticality index": "criticality_index", "Emotional NPS": "emotional_nps"},
    }[lang] | {"CSAT": "csat", "NPS": "nps", "eNPS": "enps", "CES": "ces", "FCR": "fcr"}  # fmt: skip
    row = []
    for header in columns:
        name, _, unit = header.partition(", ")
        m = s["metrics"][names[name]]
        row.append(m["n"] if unit == "n" else m["value"])
    return row


def test_xlsx_in_russian_has_a_bold_frozen_header_and_the_summary_numbers_per_local_day(client, hub_db):
    r, wb = _xlsx(client)
    assert r.headers["content-disposition"] == 'attachment; filename="otklik-2026-11-23_2026-11-25.xlsx"'
    assert wb.sheetnames == ["Метрики", "Параметры"]
    ws = wb["Метрики"]
    header = [c.value for c in ws[1]]
    assert header[:6] == ["Период (Europe/Moscow)", "Срез", "CSAT, %", "CSAT, n", "NPS", "NPS, n"]
    assert header[-9:] == [
        "Коэффициент отклика, %", "Коэффициент отклика, n", "Индекс поддержки, %", "Индекс поддержки, n",
        "Индекс критичности, %", "Индекс критичности, n", "Индекс эмоциональной лояльности",
        "Индекс эмоциональной лояльности, n", "Подозрительные нажатия",
    ]  # fmt: skip
    assert all(c.font.bold for c in ws[1]) and ws.freeze_panes == "C2"
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert [row[0] for row in rows] == [datetime(2026, 11, d) for d in (23, 24, 25)]
    assert {row[1] for row in rows} == {"весь офис"}
    for i, row in enumerate(rows):
        s = summary.summary(hub_db.conn, FROM + i * DAY, FROM + (i + 1) * DAY)
        assert row[2:-1] == _expected_row(s, header[2:-1], "ru")
        assert row[-1] == s["flagged"]["total"]
    # per question, the same as the time series; a withheld value is an empty cell
    csat = summary.timeseries(hub_db.conn, FROM, TO, "csat", "day")["points"]
    assert [(row[2], row[3]) for row in rows] == [(p["value"], p["n"]) for p in csat] == [
        (60.0, 5), (None, 2), (None, 0)
    ]  # fmt: skip
    assert [row[4] for row in rows] == [None, None, None] and rows[0][5] == 4
    assert rows[0][header.index("Индекс поддержки, %")] == 15.0 and rows[1][-1] == 1
    assert rows[1][header.index("Индекс поддержки, %")] is None  # served unknown on Tuesday
    values = ws.iter_rows(min_row=2, min_col=3, max_col=4)
    assert all(v.number_format == "0.0" and n.number_format == "0" for v, n in values)
    params = {row[0].value: row[1].value for row in wb["Параметры"].iter_rows()}
    assert params["Часовой пояс"] == "Europe/Moscow" and params["Минимум ответов (min_n)"] == 5
    assert params["Начало периода"] == "2026-11-23 00:00+03:00" and params["Срез"] == "весь офис"
    assert params["Шаг"] == "по дням" and "Сформировано" in params


def test_xlsx_in_english_for_a_scope_and_the_whole_period_is_one_summary_row(client, hub_db):
    r, wb = _xlsx(client, lang="en", step="total", window="w1")
    assert r.headers["content-disposition"].endswith('filename="otklik-2026-11-23_2026-11-25-window-w1.xlsx"')
    assert wb.sheetnames == ["Metrics", "Parameters"]
    ws = wb["Metrics"]
    header = [c.value for c in ws[1]]
    assert header[:4] == ["Period (Europe/Moscow)", "Scope", "CSAT, %", "CSAT, n"]
    assert "Support index, %" in header and "Criticality index, n" in header
    assert header[-1] == "Flagged presses"
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    s = summary.summary(hub_db.conn, FROM, TO, summary.Scope(window="w1"))
    assert rows == [["2026-11-23 – 2026-11-25", "window w1", *_expected_row(s, header[2:-1], "en"), 0]]
    assert rows[0][2:4] == [60.0, 5]
    params = {row[0].value: row[1].value for row in wb["Parameters"].iter_rows()}
    assert params["Scope"] == "window w1" and params["Step"] == "whole period" and params["Time zone"]


def test_per_day_n_add_up_to_the_whole_period(hub_db):
    days = export.build(hub_db.conn, FROM, TO, step="day")
    total = export.build(hub_db.conn, FROM, TO, step="total")
    for i, column in enumerate(days.columns):
        if column.field == "n" and column.metric not in (
            "response_rate",
            "support_index",
            "criticality_index",
        ):
            assert sum(r.cells[i] for r in days.rows) == total.rows[0].cells[i], column


def test_csv_in_russian_has_a_bom_semicolons_a_decimal_comma_and_exact_numbers(client, hub_db):
    # 4 of 6 positive on Monday: 66.666...%, written exactly (the XLSX only shows it rounded)
    hub_db.presses([(MON_10 + 30 * MIN, 5, "btn-01", "csat", {})])
    r = client.get("/api/v1/export", params={**PERIOD, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="otklik-2026-11-23_2026-11-25.csv"'
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Период (Europe/Moscow)", "Срез", "CSAT, %", "CSAT, n"] and len(body) == 3
    assert [row[0] for row in body] == ["2026-11-23", "2026-11-24", "2026-11-25"]
    assert body[0][2] == "66,66666666666667" and body[0][3] == "6"
    assert body[1][2] == "" and body[1][3] == "2"  # withheld: an empty field, never 0
    for i, row in enumerate(body):
        s = summary.summary(hub_db.conn, FROM + i * DAY, FROM + (i + 1) * DAY)
        got = [None if v == "" else float(v.replace(",", ".")) for v in row[2:-1]]
        assert got == _expected_row(s, header[2:-1], "ru")
        assert int(row[-1]) == s["flagged"]["total"]
    _, wb = _xlsx(client)
    assert wb["Метрики"]["C2"].value == 100 * 4 / 6 and wb["Метрики"]["C2"].number_format == "0.0"


def test_csv_in_english_is_comma_separated_with_a_decimal_point(client, hub_db):
    hub_db.presses([(MON_10 + 30 * MIN, 1, "btn-01", "csat", {})])  # 4 of 8 positive in all: 50.0
    r = client.get("/api/v1/export", params={**PERIOD, "format": "csv", "lang": "en", "step": "total"})
    assert r.content.startswith(b"\xef\xbb\xbf")
    header, row = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert header[:4] == ["Period (Europe/Moscow)", "Scope", "CSAT, %", "CSAT, n"]
    assert row[:4] == ["2026-11-23 – 2026-11-25", "whole office", "50.0", "8"]
    assert header[-1] == "Flagged presses" and row[-1] == "1"


def test_hourly_rows_follow_the_hourly_series_and_leave_the_per_day_indices_empty(client, hub_db):
    _, wb = _xlsx(
        client, step="hour", lang="en", **{"from": "2026-11-23T09:00:00", "to": "2026-11-23T12:00:00"}
    )
    ws = wb["Metrics"]
    header = [c.value for c in ws[1]]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert [row[0] for row in rows] == [datetime(2026, 11, 23, h) for h in (9, 10, 11)]
    assert ws["A2"].number_format == "yyyy-mm-dd hh:mm"
    series = summary.timeseries(hub_db.conn, MON_10 - H, MON_10 + 2 * H, "csat", "hour")["points"]
    assert [(row[2], row[3]) for row in rows] == [(p["value"], p["n"]) for p in series]
    assert rows[1][2:4] == [60.0, 5]
    for name in ("Response rate", "Support index", "Criticality index"):
        assert {row[header.index(f"{name}, %")] for row in rows} == {None}
        assert {row[header.index(f"{name}, n")] for row in rows} == {None}


def test_a_question_id_that_looks_like_a_formula_stays_text():
    settings = office_settings.OfficeSettings(questions={"csat": "csat5", "=1+1": "csat5"})
    conn = Store.open(":memory:").conn
    table = export.build(conn, FROM, TO, settings=settings)
    ws = load_workbook(io.BytesIO(export.to_xlsx(table)))["Метрики"]
    cell = next(c for c in ws[1] if "1+1" in str(c.value))
    assert cell.value == "'=1+1 (CSAT), %" and cell.data_type == "s"
    assert "'=1+1 (CSAT), n" in export.to_csv(table).decode("utf-8-sig").splitlines()[0]


@pytest.mark.parametrize(
    "params",
    [
        {"format": "pdf"},
        {"lang": "de"},
        {"step": "week"},
        {"from": "2026-11-26T00:00:00", "to": "2026-11-23T00:00:00"},
        {"from": "yesterday"},
        {"window": "Окно 1"},
        {"operator": "=cmd|x"},
        {"step": "hour", "from": "2020-01-01T00:00:00"},  # more hourly rows than MAX_ROWS
    ],
)
def test_bad_parameters_are_a_422(client, params):
    r = client.get("/api/v1/export", params={**PERIOD, **params})
    assert r.status_code == 422, r.text


def test_the_period_is_required(client):
    assert client.get("/api/v1/export", params={"to": PERIOD["to"]}).status_code == 422
