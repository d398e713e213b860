"""CyberTipline reports: XML valid against the schema (hash-matched, AI-generated, multi-file cases), and the
client's whole flow against the loopback TEST server (ncmec_test_server.py) — NCMEC itself is never reached."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import httpx
import pytest
from ncmec_test_server import NcmecTestServer, xsd_errors

from bastion.errors import NcmecError, ReportError, ReportStateError
from bastion.reports.models import NcmecReportRow
from bastion.reports.ncmec import flow
from bastion.reports.ncmec.client import NcmecClient, OutcomeUnknown, ReportExpired, UnreadableAnswer, UploadMismatch, parse_response
from bastion.reports.ncmec.model import IpCaptureEvent, NcmecFile, NcmecReportInput, Person, Reporter, ReportedPerson
from bastion.reports.ncmec.xml import build_file_details_xml, build_report_xml, review_points

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
REPORTER = Reporter(Person("Rae", "Porter", email="tips@example.org"), company_template="Example Art Site", legal_url="https://example.org/legal")


def file_of(data: bytes, name: str, **kw) -> NcmecFile:
    return NcmecFile(filename=name, sha256=hashlib.sha256(data).hexdigest(), md5=hashlib.md5(data).hexdigest(), blob_id=f"blob{name}", **kw)


def report_input(files, **kw) -> NcmecReportInput:
    person = ReportedPerson(
        esp_identifier="acc-17",
        screen_name="placeholder_user",
        profile_urls=("https://example.org/u/placeholder_user",),
        ip_events=(IpCaptureEvent("192.0.2.10", "Upload", T0, port=443), IpCaptureEvent("2001:db8::1", "Login")),
        disabled_at=T0,
    )
    base = dict(incident_at=T0, reporter=REPORTER, files=tuple(files), platform="Example Art Site", urls=("https://example.org/p/1",), reported_person=person)
    base.update(kw)
    return NcmecReportInput(**base)


# --- XML -------------------------------------------------------------------------------------------


def test_hash_matched_case_report_is_schema_valid():
    f = file_of(b"placeholder one", "one.png", pdq="ab" * 32, viewed_by_esp=False, publicly_available=True, uploaded_at=T0)
    xml = build_report_xml(report_input([f]))
    assert xsd_errors(xml, "report") == []
    doc = ET.fromstring(xml)
    assert doc.findtext("incidentSummary/incidentType").startswith("Child Pornography")
    assert doc.findtext("incidentSummary/incidentDateTime") == "2026-03-04T05:06:07Z"
    u = doc.find("personOrUserReported")
    assert [u.findtext("espIdentifier"), u.findtext("screenName")] == ["acc-17", "placeholder_user"]
    assert [e.findtext("ipAddress") for e in u.findall("ipCaptureEvent")] == ["192.0.2.10", "2001:db8::1"]
    assert u.find("accountPermanentlyDisabled").get("disabledDate") == "2026-03-04T05:06:07Z"
    details = build_file_details_xml(9001, "f1", f)
    assert xsd_errors(details, "fileDetails") == []
    d = ET.fromstring(details)
    hashes = {h.get("hashType"): h.text for h in d.findall("originalFileHash")}
    assert hashes == {"MD5": f.md5, "SHA256": f.sha256}
    assert d.findtext("details/nameValuePair/value") == "ab" * 32 and d.find("details").get("type") == "HASH"
    assert d.findtext("fileViewedByEsp") == "false" and d.findtext("publiclyAvailable") == "true"
    assert d.find("fileAnnotations") is None


def test_ai_generated_annotation_only_when_a_reviewer_confirmed():
    suggested = file_of(b"generated one", "gen.png", ai_suggested=True, viewed_by_esp=True)
    confirmed = file_of(b"generated two", "gen2.png", ai_suggested=True, ai_confirmed=True, viewed_by_esp=True, industry_classification="B1")
    for f in (suggested, confirmed):
        assert xsd_errors(build_file_details_xml(1, "f", f, industry_mou=True), "fileDetails") == []
    assert ET.fromstring(build_file_details_xml(1, "f", suggested)).find("fileAnnotations") is None
    d = ET.fromstring(build_file_details_xml(1, "f", confirmed, industry_mou=True))
    assert d.findtext("fileAnnotations/generativeAi") == "true"
    assert d.findtext("industryClassification") == "B1"
    # without the industry MOU the classification is never sent
    assert ET.fromstring(build_file_details_xml(1, "f", confirmed)).find("industryClassification") is None
    points = review_points(report_input([suggested, confirmed]))
    assert any("gen.png" in p and "not confirmed" in p for p in points)
    assert not any("gen2.png" in p and "AI" in p for p in points)
    with pytest.raises(ReportError, match="not viewed"):
        build_file_details_xml(1, "f", file_of(b"x", "x.png", ai_confirmed=True, viewed_by_esp=False))


def test_multi_file_report_and_minimal_report_are_valid():
    files = [file_of(bytes([i]) * 10, f"f{i}.png", viewed_by_esp=True) for i in range(3)]
    full = report_input(files, annotations=("csamSolicitation",), escalate=None, additional_info="clinical placeholder note")
    assert xsd_errors(build_report_xml(full), "report") == []
    minimal = NcmecReportInput(incident_at=T0, reporter=Reporter(Person(email="tips@example.org")))
    assert xsd_errors(build_report_xml(minimal), "report") == []
    for i, f in enumerate(files):
        assert xsd_errors(build_file_details_xml(77, f"id{i}", f), "fileDetails") == []


def test_bad_inputs_fail_before_anything_is_sent():
    with pytest.raises(ReportError, match="incident type"):
        build_report_xml(report_input([], incident_type="Something else"))
    with pytest.raises(ReportError, match="email or a phone"):
        build_report_xml(report_input([], reporter=Reporter(Person("No", "Contact"))))
    with pytest.raises(ReportError, match="md5"):
        build_report_xml(report_input([NcmecFile(filename="a", sha256="0" * 64, md5="XYZ")]))
    with pytest.raises(ReportError, match="IP capture event"):
        build_report_xml(report_input([], reported_person=ReportedPerson(ip_events=(IpCaptureEvent("192.0.2.1", "Lunch"),))))
    with pytest.raises(ReportError, match="annotation"):
        build_report_xml(report_input([], annotations=("nope",)))


# --- the client against the loopback test server ---------------------------------------------------


class Crash(Exception):
    """Stands for the process dying between two steps."""


@pytest.fixture
def server():
    with NcmecTestServer() as s:
        yield s


def client_for(server, **kw) -> NcmecClient:
    return NcmecClient(server.url, server.username, server.password, sleep=lambda s: None, **kw)


DATA = {"blobone.png": b"first benign placeholder", "blobtwo.png": b"second benign placeholder"}


def read_file(f):
    return DATA[f.blob_id]


def make_draft(store, server) -> int:
    files = [file_of(DATA[n], n[4:], viewed_by_esp=True, publicly_available=False) for n in DATA]
    files = [NcmecFile(**{**f.__dict__, "blob_id": "blob" + f.filename}) for f in files]
    with store.session() as s, s.begin():
        return flow.create_report(s, report_input(files, case_id=5), created_by="lead", base_url=server.url).id


def test_full_flow_submit_upload_fileinfo_finish(store, server):
    row_id = make_draft(store, server)
    finished = []
    with client_for(server) as c:
        assert c.status().code == 0
        row = flow.send(store, row_id, c, read_file, on_finished=finished.append)
    assert row.state == "finished" and row.ncmec_report_id in server.reports
    assert [server.count(p) for p in ("/ispws/submit", "/ispws/upload", "/ispws/fileinfo", "/ispws/finish")] == [1, 2, 2, 1]
    remote = server.reports[row.ncmec_report_id]
    assert remote.state == "finished" and sorted(d["filename"] for d in remote.files.values()) == ["one.png", "two.png"]
    state = flow.report_state(store, row_id)
    assert [f["state"] for f in state["files"]] == ["described", "described"]
    assert finished and finished[0].id == row_id
    with pytest.raises(ReportStateError, match="finished"):
        flow.send(store, row_id, client_for(server), read_file)


def test_crash_between_upload_and_finish_resumes_without_repeating(store, server):
    row_id = make_draft(store, server)

    class CrashingClient(NcmecClient):
        def fileinfo(self, xml):
            raise Crash()

    with pytest.raises(Crash):
        flow.send(store, row_id, CrashingClient(server.url, server.username, server.password), read_file)
    state = flow.report_state(store, row_id)
    assert state["state"] == "submitted" and state["files"][0]["state"] == "uploaded"
    assert server.count("/ispws/finish") == 0
    row = flow.send(store, row_id, client_for(server), read_file)
    assert row.state == "finished"
    # one report, each file uploaded once; the resumed run only described and finished
    assert len(server.reports) == 1
    assert [server.count(p) for p in ("/ispws/submit", "/ispws/upload", "/ispws/finish")] == [1, 2, 1]


def test_crash_after_submit_left_is_never_resubmitted_on_its_own(store, server):
    row_id = make_draft(store, server)

    class DiesAfterSubmit(NcmecClient):
        def submit(self, xml):
            super().submit(xml)  # NCMEC opened the report, the answer is lost
            raise Crash()

    with pytest.raises(Crash):
        flow.send(store, row_id, DiesAfterSubmit(server.url, server.username, server.password), read_file)
    with pytest.raises(ReportStateError, match="never recorded"):
        flow.send(store, row_id, client_for(server), read_file)
    assert server.count("/ispws/submit") == 1
    # a person finds the report at NCMEC and resolves with its id; the flow goes on from there
    (remote_id,) = server.reports
    flow.resolve_submission(store, row_id, remote_id)
    assert flow.send(store, row_id, client_for(server), read_file).state == "finished"
    assert server.count("/ispws/submit") == 1


def test_retries_for_safe_failures_and_none_for_unsure_ones(store, server):
    row_id = make_draft(store, server)
    server.fail_next = {"/ispws/submit": [503, 503], "/ispws/fileinfo": [502], "/ispws/finish": [500]}
    sleeps = []
    c = NcmecClient(server.url, server.username, server.password, sleep=sleeps.append, backoff=1.0)
    assert flow.send(store, row_id, c, read_file).state == "finished"
    assert sleeps == [1.0, 2.0, 1.0, 1.0]
    assert server.count("/ispws/submit") == 3 and len(server.reports) == 1

    # a 500 answer to /submit may mean a report was opened: no retry, the state says "check"
    row2 = make_draft(store, server)
    server.fail_next = {"/ispws/submit": [500]}
    with pytest.raises(OutcomeUnknown):
        flow.send(store, row2, client_for(server), read_file)
    assert flow.report_state(store, row2)["state"] == "submitting"
    flow.resolve_submission(store, row2, None)  # checked: nothing arrived
    assert flow.send(store, row2, client_for(server), read_file).state == "finished"


def test_retries_give_up_after_the_configured_attempts(server):
    server.fail_next = {"/ispws/status": [503, 503, 503]}
    with pytest.raises(NcmecError, match="503"):
        client_for(server, attempts=3).status()
    unreachable = NcmecClient("http://127.0.0.1:9/ispws", "u", "p", sleep=lambda s: None, attempts=2, transport=httpx.HTTPTransport(retries=0))
    with pytest.raises(NcmecError, match="cannot connect"):
        unreachable.submit(b"<report/>")


def test_retract_an_opened_report(store, server):
    row_id = make_draft(store, server)

    class StopBeforeFinish(NcmecClient):
        def finish(self, report_id):
            raise Crash()

    with pytest.raises(Crash):
        flow.send(store, row_id, StopBeforeFinish(server.url, server.username, server.password), read_file)
    row = flow.retract(store, row_id, client_for(server))
    assert row.state == "retracted" and server.reports[row.ncmec_report_id].state == "retracted"
    with pytest.raises(ReportStateError):
        flow.send(store, row_id, client_for(server), read_file)
    with pytest.raises(ReportStateError, match="retract"):
        flow.retract(store, row_id, client_for(server))


def test_server_refusals_are_typed_errors_and_keep_the_draft(store, server):
    with pytest.raises(NcmecError, match="401"):
        NcmecClient(server.url, "esp-user", "wrong", sleep=lambda s: None).status()
    with pytest.raises(NcmecError) as info:
        client_for(server).submit(b"<report><incidentSummary/></report>")
    assert info.value.response_code == 4100  # NCMEC's "validation failed"
    with pytest.raises(ReportExpired, match="5001"):
        client_for(server).finish(123)
    # a refused submission leaves the draft as it was
    row_id = make_draft(store, server)
    with store.session() as s, s.begin():
        s.get(NcmecReportRow, row_id).report_xml = "<report/>"
    with pytest.raises(NcmecError):
        flow.send(store, row_id, client_for(server), read_file)
    assert flow.report_state(store, row_id)["state"] == "draft"


def test_files_must_be_in_the_vault(store, server):
    with store.session() as s:
        with pytest.raises(ReportError, match="vault"):
            flow.create_report(s, report_input([NcmecFile("a.png", "0" * 64, "0" * 32)]), created_by="x", base_url=server.url)


def test_lost_upload_answer_waits_for_a_person(store, server):
    row_id = make_draft(store, server)

    class DiesAfterUpload(NcmecClient):
        def upload(self, report_id, filename, data):
            super().upload(report_id, filename, data)  # NCMEC has the file, the answer is lost
            raise OutcomeUnknown("answer lost")

    with pytest.raises(OutcomeUnknown):
        flow.send(store, row_id, DiesAfterUpload(server.url, server.username, server.password, sleep=lambda s: None), read_file)
    with pytest.raises(ReportStateError, match="upload"):
        flow.send(store, row_id, client_for(server), read_file)
    assert server.count("/ispws/upload") == 1
    # the person finds the file at NCMEC and records its id: nothing is uploaded twice
    (remote,) = server.reports.values()
    (arrived,) = remote.files
    flow.resolve_uploads(store, row_id, arrived)
    assert flow.send(store, row_id, client_for(server), read_file).state == "finished"
    assert server.count("/ispws/upload") == 2  # the second file only
    with pytest.raises(ReportStateError):
        flow.resolve_uploads(store, row_id)


def test_lost_upload_that_never_arrived_is_sent_again(store, server):
    row_id = make_draft(store, server)

    class DiesBeforeUpload(NcmecClient):
        def upload(self, report_id, filename, data):
            raise OutcomeUnknown("connection dropped")

    with pytest.raises(OutcomeUnknown):
        flow.send(store, row_id, DiesBeforeUpload(server.url, server.username, server.password), read_file)
    flow.resolve_uploads(store, row_id)
    assert flow.send(store, row_id, client_for(server), read_file).state == "finished"
    assert server.count("/ispws/upload") == 2


# --- recovery: lost answers, expiry, explicit failures behind 5xx, unreadable answers -----------------


def test_finish_retried_after_a_lost_answer_counts_as_finished(store, server):
    """NCMEC finished the report but its answer was lost: the client's retry gets 5102 "already finished"."""
    row_id = make_draft(store, server)
    server.lose_answer["/ispws/finish"] = 1
    finished = []
    row = flow.send(store, row_id, client_for(server), read_file, on_finished=finished.append)
    assert server.count("/ispws/finish") == 2
    assert row.state == "finished" and finished and "5102" in row.last_error
    assert server.reports[row.ncmec_report_id].state == "finished"


def test_finish_whose_answers_were_all_lost_is_resolved_later(store, server):
    row_id = make_draft(store, server)
    server.lose_answer["/ispws/finish"] = 2
    with pytest.raises(NcmecError):
        flow.send(store, row_id, client_for(server, attempts=2), read_file)
    assert flow.report_state(store, row_id)["state"] == "finishing"
    row = flow.resolve(store, row_id, open_client=lambda: client_for(server))
    assert row.state == "finished" and server.count("/ispws/finish") == 3


def test_retract_retried_after_a_lost_answer_counts_as_retracted(store, server):
    row_id = make_draft(store, server)

    class StopBeforeFinish(NcmecClient):
        def finish(self, report_id):
            raise Crash()

    with pytest.raises(Crash):
        flow.send(store, row_id, StopBeforeFinish(server.url, server.username, server.password), read_file)
    server.lose_answer["/ispws/retract"] = 1
    row = flow.retract(store, row_id, client_for(server))
    assert row.state == "retracted" and "5101" in row.last_error and server.count("/ispws/retract") == 2
    # all answers lost: left in retracting, and resolve asks again
    row2 = make_draft(store, server)
    with pytest.raises(Crash):
        flow.send(store, row2, StopBeforeFinish(server.url, server.username, server.password), read_file)
    server.lose_answer["/ispws/retract"] = 2
    with pytest.raises(NcmecError):
        flow.retract(store, row2, client_for(server, attempts=2))
    assert flow.report_state(store, row2)["state"] == "retracting"
    assert flow.resolve(store, row2, open_client=lambda: client_for(server)).state == "retracted"


def test_a_report_ncmec_deleted_is_marked_expired(store, server):
    """NCMEC deletes reports not finished in time (5001): the row is closed as expired, not stuck."""
    row_id = make_draft(store, server)

    class StopBeforeFinish(NcmecClient):
        def finish(self, report_id):
            raise Crash()

    with pytest.raises(Crash):
        flow.send(store, row_id, StopBeforeFinish(server.url, server.username, server.password), read_file)
    server.expire(flow.report_state(store, row_id)["ncmec_report_id"])
    with pytest.raises(ReportExpired):
        flow.send(store, row_id, client_for(server), read_file)
    state = flow.report_state(store, row_id)
    assert state["state"] == "expired" and "afresh" in state["last_error"]
    # retracting a deleted report also ends in expired, never in retracting
    row2 = make_draft(store, server)
    with pytest.raises(Crash):
        flow.send(store, row2, StopBeforeFinish(server.url, server.username, server.password), read_file)
    server.expire(flow.report_state(store, row2)["ncmec_report_id"])
    assert flow.retract(store, row2, client_for(server)).state == "expired"
    with pytest.raises(ReportStateError):
        flow.send(store, row2, client_for(server), read_file)


def test_explicit_failures_behind_429_and_5xx_are_read_with_the_request_id(store, server):
    body = b"<reportResponse><responseCode>4100</responseCode><responseDescription>validation failed: x</responseDescription></reportResponse>"
    server.fail_next = {"/ispws/submit": [500]}
    server.fail_body = {"/ispws/submit": body}
    row_id = make_draft(store, server)
    with pytest.raises(NcmecError) as info:
        flow.send(store, row_id, client_for(server), read_file)
    assert not isinstance(info.value, OutcomeUnknown)  # NCMEC said what it did not do
    assert info.value.response_code == 4100 and info.value.request_id == server.request_ids[-1]
    state = flow.report_state(store, row_id)
    assert state["state"] == "draft" and "validation failed" in state["last_error"] and server.request_ids[-1] in state["last_error"]
    server.fail_next = {"/ispws/status": [429, 429]}
    server.fail_body = {"/ispws/status": body}
    with pytest.raises(NcmecError) as info:
        client_for(server, attempts=2).status()
    assert info.value.response_code == 4100 and info.value.status == 429 and "Request-ID" in str(info.value)


def test_unreadable_numbers_are_typed_errors_and_nothing_is_marked_done(store, server):
    for body in (b"<r><responseCode>zero</responseCode></r>", b"<r><responseCode>0</responseCode><reportId>12a</reportId></r>"):
        with pytest.raises(UnreadableAnswer):
            parse_response(body)
    row_id = make_draft(store, server)
    server.fail_next = {"/ispws/submit": [200]}
    server.fail_body = {"/ispws/submit": b"<reportResponse><responseCode>0</responseCode><reportId>x9</reportId></reportResponse>"}
    with pytest.raises(UnreadableAnswer):
        flow.send(store, row_id, client_for(server), read_file)
    state = flow.report_state(store, row_id)
    assert state["state"] == "submitting" and "not a number" in state["last_error"]  # recorded, a person checks
    assert flow.resolve(store, row_id).state == "draft"  # checked: nothing arrived


def test_upload_md5_is_compared_with_the_bytes_sent(store, server):
    row_id = make_draft(store, server)
    server.damage_next_upload = True
    with pytest.raises(UploadMismatch):
        flow.send(store, row_id, client_for(server), read_file)
    state = flow.report_state(store, row_id)
    assert state["files"][0]["state"] == "damaged" and state["state"] == "submitted"
    with pytest.raises(ReportStateError, match="retract"):
        flow.send(store, row_id, client_for(server), read_file)
    assert flow.retract(store, row_id, client_for(server)).state == "retracted"
