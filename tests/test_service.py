"""The CDS Hooks service against a real uvicorn process on 127.0.0.1 (issue #14)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
jwt = pytest.importorskip("jwt")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("sqlalchemy")

from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ISSUER = "https://ehr.example.org/"

# ---- the spec's own examples (hooks/order-sign.md, order-select.md) -----------------
NUTRITION = {"resourceType": "NutritionOrder", "id": "pureeddiet-simple", "status": "draft",
             "patient": {"reference": "Patient/1288992"}, "dateTime": "2014-09-17",
             "oralDiet": {"type": [{"coding": [{"system": "http://snomed.info/sct",
                                                "code": "226211001",
                                                "display": "Pureed diet"}],
                                    "text": "Pureed diet"}]}}
AMOX = {"resourceType": "MedicationRequest", "id": "smart-MedicationRequest-103",
        "status": "draft", "intent": "order",
        "medicationCodeableConcept": {"coding": [{
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "617993",
            "display": "Amoxicillin 120 MG/ML / clavulanate potassium 8.58 MG/ML Oral "
                       "Suspension"}],
            "text": "Amoxicillin 120 MG/ML / clavulanate potassium 8.58 MG/ML Oral Suspension"},
        "subject": {"reference": "Patient/1288992"},
        "dosageInstruction": [{"text": "5 mL bid x 10 days", "timing": {"repeat": {
            "boundsPeriod": {"start": "2005-01-04"}, "frequency": 2, "period": 1,
            "periodUnit": "d"}}, "doseQuantity": {"value": 5, "unit": "mL",
                                                  "system": "http://unitsofmeasure.org",
                                                  "code": "mL"}}],
        "dispenseRequest": {"numberOfRepeatsAllowed": 1, "expectedSupplyDuration": {
            "value": 10, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}}}
PATIENT = {"resourceType": "Patient", "id": "1288992", "gender": "male",
           "birthDate": "1945-12-23"}


def med(mid: str, text: str, dose_mg: float, per_day: int, days: int = 5) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": mid, "status": "draft",
            "intent": "order", "medicationCodeableConcept": {"text": text},
            "subject": {"reference": "Patient/1288992"},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": per_day, "period": 1,
                                                         "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {
                                       "value": dose_mg, "unit": "mg",
                                       "system": "http://unitsofmeasure.org", "code": "mg"}}]}],
            "dispenseRequest": {"expectedSupplyDuration": {"value": days, "unit": "days",
                                                           "code": "d"}}}


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}


def order_sign(*orders: dict[str, Any], prefetch: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    return {"hook": "order-sign", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "PractitionerRole/123", "patientId": "1288992",
                        "encounterId": "89284", "draftOrders": bundle(*orders)},
            "prefetch": {"patient": PATIENT} if prefetch is None else prefetch}


# ---- a real server process -----------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``cdss serve`` on a free loopback port, stopped by :meth:`stop`."""

    def __init__(self, db_url: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cdss", "serve", "--port", str(self.port), "--db", db_url],
            env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.proc.stderr.read().decode()[-2000:])
            try:
                if httpx.get(self.base + "/cds-services", timeout=1).status_code in (200, 401):
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.stderr = self.proc.stderr.read().decode() if self.proc.stderr else ""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("svc") / "feedback.sqlite3"
    srv = Server(f"sqlite:///{db}", {"CDSS_SERVICE_LANG": "en"})
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: Server):
    with httpx.Client(base_url=server.base, timeout=30) as c:
        yield c


# ---- discovery -----------------------------------------------------------------------
def test_discovery_lists_four_services_with_derived_prefetch(client) -> None:
    services = {s["id"]: s for s in client.get("/cds-services").json()["services"]}
    assert {s["hook"] for s in services.values()} == {
        "patient-view", "order-select", "order-sign", "encounter-discharge"}
    sign = services["cdss-order-sign"]
    assert sign["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert "AllergyIntolerance" in sign["prefetch"]["allergies"]
    # the creatinine LOINC codes come from the renal rules, not from a hand list
    assert "2160-0" in sign["prefetch"]["labs"]
    assert "Composition" in services["cdss-encounter-discharge"]["prefetch"]["record"]
    assert "allergies" not in services["cdss-patient-view"]["prefetch"]
    for s in services.values():
        assert s["description"] and s["title"]
        assert all(v for v in s.values())  # no empty values


def _assert_spec_cards(cards: list[dict[str, Any]]) -> None:
    uuids = [c["uuid"] for c in cards if "uuid" in c]
    assert len(uuids) == len(set(uuids))
    for c in cards:
        assert len(c["summary"]) < 140
        assert c["indicator"] in ("info", "warning", "critical")
        assert c["source"]["label"] and len(c["source"]["label"]) <= 40
        for k, v in c.items():
            assert v not in ([], {}, "", None), k
        if "suggestions" in c:
            assert c["selectionBehavior"] in ("at-most-one", "any")
            for s in c["suggestions"]:
                assert s["label"] and s["actions"]
        for r in c.get("overrideReasons", []):
            assert r["display"] and r["code"] and r["system"]
        for link in c.get("links", []):
            assert link["type"] == "absolute" and link["url"].startswith("http")


# ---- hooks ---------------------------------------------------------------------------
def test_order_sign_spec_example_with_nutrition_order(client) -> None:
    r = client.post("/cds-services/cdss-order-sign", json=order_sign(NUTRITION, AMOX))
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    _assert_spec_cards(cards)
    # the NutritionOrder is ignored, the MedicationRequest is screened
    assert all("pureeddiet" not in json.dumps(c) for c in cards)
    assert cards, "the amoxicillin suspension gives at least one card"


def test_order_sign_only_non_medication_orders_gives_no_cards(client) -> None:
    r = client.post("/cds-services/cdss-order-sign", json=order_sign(NUTRITION))
    assert r.status_code == 200 and r.json() == {"cards": []}


def test_order_sign_interaction_suggests_deleting_a_draft(client) -> None:
    body = order_sign(med("w1", "warfarin", 3, 1), med("i1", "ibuprofen", 400, 3))
    cards = client.post("/cds-services/cdss-order-sign", json=body).json()["cards"]
    _assert_spec_cards(cards)
    inter = [c for c in cards if c["source"]["topic"]["code"].startswith("dosing.interaction")]
    assert inter, [c["source"]["topic"]["code"] for c in cards]
    actions = [a for s in inter[0]["suggestions"] for a in s["actions"]]
    assert {a["resourceId"] for a in actions} == {"MedicationRequest/w1",
                                                  "MedicationRequest/i1"}
    assert all(a["type"] == "delete" for a in actions)
    assert all(r["system"] == "http://cds-hooks.hl7.org/CodeSystem/non-adherence-reason"
               for r in inter[0]["overrideReasons"])


def test_uuids_are_new_per_call(client) -> None:
    body = order_sign(med("w1", "warfarin", 3, 1), med("i1", "ibuprofen", 400, 3))
    a = {c["uuid"] for c in client.post("/cds-services/cdss-order-sign", json=body).json()["cards"]}
    body["hookInstance"] = str(uuid.uuid4())
    b = {c["uuid"] for c in client.post("/cds-services/cdss-order-sign", json=body).json()["cards"]}
    assert a and b and not a & b


def test_order_sign_duration_update_action(client) -> None:
    body = order_sign(med("i1", "ibuprofen", 200, 3, days=30))
    cards = client.post("/cds-services/cdss-order-sign", json=body).json()["cards"]
    dur = [c for c in cards if c["source"]["topic"]["code"].startswith("dosing.duration")]
    assert dur
    (action,) = dur[0]["suggestions"][0]["actions"]
    assert action["type"] == "update" and action["resource"]["id"] == "i1"
    assert action["resource"]["dispenseRequest"]["expectedSupplyDuration"]["value"] == 7


def test_order_select_focuses_on_selections(client) -> None:
    body = order_sign(med("w1", "warfarin", 3, 1), med("i1", "ibuprofen", 400, 3, days=30))
    body["hook"] = "order-select"
    body["context"]["selections"] = ["MedicationRequest/w1"]
    cards = client.post("/cds-services/cdss-order-select", json=body).json()["cards"]
    _assert_spec_cards(cards)
    codes = {c["source"]["topic"]["code"] for c in cards}
    assert any(c.startswith("dosing.interaction") for c in codes)  # involves w1
    assert not any(c.startswith("dosing.duration") for c in codes)  # only about i1


def test_patient_view_early_warning(client) -> None:
    vitals = bundle(
        {"resourceType": "Observation", "id": "bp", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
         "component": [
             {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
              "valueQuantity": {"value": 86, "unit": "mmHg", "code": "mm[Hg]"}},
             {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
              "valueQuantity": {"value": 50, "unit": "mmHg", "code": "mm[Hg]"}}]},
        {"resourceType": "Observation", "id": "rr", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "9279-1"}]},
         "valueQuantity": {"value": 30, "unit": "/min", "code": "/min"}},
        {"resourceType": "Observation", "id": "spo2", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "59408-5"}]},
         "valueQuantity": {"value": 88, "unit": "%", "code": "%"}})
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/example", "patientId": "1288992"},
            "prefetch": {"patient": PATIENT, "vitals": vitals}}
    r = client.post("/cds-services/cdss-patient-view", json=body)
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    _assert_spec_cards(cards)
    assert any(c["indicator"] == "critical" for c in cards)
    assert all(not c["source"]["topic"]["code"].startswith(("dosing.", "quality."))
               for c in cards)


def test_encounter_discharge_record_quality(client) -> None:
    comp = {"resourceType": "Composition", "id": "c1", "status": "final",
            "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
            "date": "2026-11-20T09:30:00+08:00", "author": [{"reference": "Practitioner/1"}],
            "title": "门诊病历",
            "section": [{"code": {"coding": [{"system": "http://loinc.org",
                                              "code": "10154-3"}]},
                         "text": {"status": "generated", "div": "<div>头晕3天</div>"}}]}
    body = {"hook": "encounter-discharge", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": "1288992",
                        "encounterId": "456"},
            "prefetch": {"patient": PATIENT, "record": bundle(comp),
                         "encounter": {"resourceType": "Encounter", "id": "456",
                                       "status": "finished",
                                       "class": {"system": "http://terminology.hl7.org/"
                                                 "CodeSystem/v3-ActCode", "code": "AMB"},
                                       "period": {"start": "2026-11-20T09:30:00+08:00"}}}}
    r = client.post("/cds-services/cdss-encounter-discharge", json=body)
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    _assert_spec_cards(cards)
    assert cards and all(c["source"]["topic"]["code"].startswith(("quality.", "missing"))
                         for c in cards)


def test_user_text_cannot_inject_markup(client) -> None:
    evil = "<img src=x onerror=alert(1)>[click](https://evil.example) www.evil.example"
    body = order_sign(med("x1", evil, 5, 1))
    cards = client.post("/cds-services/cdss-order-sign", json=body).json()["cards"]
    assert cards
    for c in cards:
        # code spans are literal in GFM (no HTML, no links); outside them, nothing live
        prose = re.sub(r"(`+).*?\1", "", c.get("detail", ""), flags=re.S)
        assert re.search(r"(?<!\\)[<>\[\]()]", prose.replace("**", "")) is None, prose
        assert "https://evil" not in prose and "www.evil" not in prose


# ---- 412 and bad input ---------------------------------------------------------------
def test_missing_required_prefetch_is_412(client) -> None:
    body = order_sign(AMOX, prefetch={})
    r = client.post("/cds-services/cdss-order-sign", json=body)
    assert r.status_code == 412
    assert "patient" in r.json()["missing"]


def test_unreachable_fhir_server_is_412(client) -> None:
    body = order_sign(AMOX, prefetch={})
    body["fhirServer"] = f"http://127.0.0.1:{free_port()}/fhir"
    body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer",
                                 "expires_in": 300, "scope": "user/Patient.read",
                                 "subject": "cdss"}
    r = client.post("/cds-services/cdss-order-sign", json=body)
    assert r.status_code == 412 and "patient" in r.json()["error"]


@pytest.mark.parametrize("content, ctype", [
    (b"{not json", "application/json"),
    (b"", "application/json"),
    (b"[1, 2]", "application/json"),
    (b'{"hook": "order-sign"}', "application/json"),
    (b'{"hook": "order-sign", "hookInstance": 5, "context": []}', "application/json"),
    (json.dumps(order_sign(AMOX)).encode(), "text/plain"),
    (json.dumps(order_sign(AMOX)).encode(), "application/x-www-form-urlencoded"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b"[" * 10000, "application/json"),
    (b'{"a": 1' + b"0" * 5000 + b"}", "application/json"),
])
def test_bad_requests_are_4xx(client, content: bytes, ctype: str) -> None:
    for path in ("/cds-services/cdss-order-sign", "/cds-services/cdss-order-sign/feedback"):
        r = client.post(path, content=content, headers={"Content-Type": ctype})
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        assert "Traceback" not in r.text


def test_wrong_hook_type_draft_orders_and_size(client) -> None:
    body = order_sign(AMOX)
    body["context"]["draftOrders"] = "not a bundle"
    assert client.post("/cds-services/cdss-order-sign", json=body).status_code == 400
    assert client.post("/cds-services/nope", json=order_sign(AMOX)).status_code == 404
    big = b'{"x": "' + b"a" * (6 * 1024 * 1024) + b'"}'
    r = client.post("/cds-services/cdss-order-sign", content=big,
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_cors_preflight(client) -> None:
    r = client.options("/cds-services/cdss-order-sign", headers={
        "Origin": "https://emr.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"]


# ---- feedback ------------------------------------------------------------------------
def _feedback(card: str, i: int = 0) -> dict[str, Any]:
    return {"feedback": [{"card": card, "outcome": "overridden",
                          "overrideReason": {"reason": {
                              "system": "http://cds-hooks.hl7.org/CodeSystem/non-adherence-reason",
                              "code": "risk-benefit-ratio"}, "userComment": f"c{i}"},
                          "outcomeTimestamp": "2026-11-20T01:02:03Z"}]}


def test_feedback_round_trip_survives_restart(tmp_path: Path) -> None:
    from cdss.service.store import FeedbackStore

    url = f"sqlite:///{tmp_path / 'fb.sqlite3'}"
    srv = Server(url)
    try:
        with httpx.Client(base_url=srv.base, timeout=30) as c:
            body = order_sign(med("w1", "warfarin", 3, 1), med("i1", "ibuprofen", 400, 3))
            card = c.post("/cds-services/cdss-order-sign", json=body).json()["cards"][0]
            r = c.post("/cds-services/cdss-order-sign/feedback", json=_feedback(card["uuid"]))
            assert r.status_code == 200 and r.json() == {"stored": 1}
            acc = {"feedback": [{"card": card["uuid"], "outcome": "accepted",
                                 "acceptedSuggestions": [{"id": "s1"}],
                                 "outcomeTimestamp": "2026-11-20T01:02:04Z"}]}
            assert c.post("/cds-services/cdss-order-sign/feedback", json=acc).status_code == 200
            no_sugg = {"feedback": [{"card": card["uuid"], "outcome": "accepted",
                                     "outcomeTimestamp": "2026-11-20T01:02:04Z"}]}
            assert c.post("/cds-services/cdss-order-sign/feedback",
                          json=no_sugg).status_code == 400
    finally:
        srv.stop()
    assert "c0" not in srv.stderr and "warfarin" not in srv.stderr  # no data in logs
    srv = Server(url)  # restarted on the same file
    try:
        store = FeedbackStore(url)
        rows = store.rows()
        assert [r["outcome"] for r in rows] == ["overridden", "accepted"]
        assert rows[0]["rule_id"] == card["source"]["topic"]["code"]
        assert rows[0]["reason_code"] == "risk-benefit-ratio"
        store.close()
    finally:
        srv.stop()


def _concurrent_feedback(base: str, url: str, n: int = 200) -> None:
    from cdss.service.analytics import override_rates
    from cdss.service.store import FeedbackStore

    with httpx.Client(base_url=base, timeout=60) as c:
        body = order_sign(med("w1", "warfarin", 3, 1), med("i1", "ibuprofen", 400, 3))
        cards = c.post("/cds-services/cdss-order-sign", json=body).json()["cards"]
    store = FeedbackStore(url)
    before = store.count()

    def post(i: int) -> int:
        with httpx.Client(base_url=base, timeout=60) as c:
            return c.post("/cds-services/cdss-order-sign/feedback",
                          json=_feedback(cards[i % len(cards)]["uuid"], i)).status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(post, range(n)))
    assert codes == [200] * n
    assert store.count() - before == n
    table = override_rates(store, by="rule_id", as_frame=False)
    assert table and all(0 <= row["override_rate"] <= 1 for row in table)
    store.close()


def test_feedback_concurrent_posts_lose_nothing(server: Server, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    srv = Server(url)
    try:
        _concurrent_feedback(srv.base, url)
    finally:
        srv.stop()


def test_feedback_on_postgresql(tmp_path: Path) -> None:
    try:
        import pgserver  # type: ignore[import-not-found]
    except ImportError:
        pytest.skip("pgserver not installed (pip install pgserver): PostgreSQL not tested")
    try:
        pg = pgserver.get_server(str(tmp_path / "pg"), cleanup_mode="stop")
    except Exception as exc:  # bundled binaries may not run on this platform
        pytest.skip(f"pgserver could not start PostgreSQL here: {type(exc).__name__}: {exc}")
    try:
        url = pg.get_uri()
        srv = Server(url)
        try:
            _concurrent_feedback(srv.base, url, n=100)
        finally:
            srv.stop()
    finally:
        pg.cleanup()


# ---- JWT -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keys():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP384R1())
    jwks = {"keys": [
        {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())),
         "kid": "rsa1", "use": "sig", "alg": "RS384"},
        {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key())),
         "kid": "ec1", "use": "sig", "alg": "ES384"}]}
    return {"rsa": rsa_key, "ec": ec_key, "jwks": jwks}


@pytest.fixture(scope="module")
def secured(keys, tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("auth") / "fb.sqlite3"
    srv = Server(f"sqlite:///{db}", {
        "CDSS_SERVICE_AUTH": "on",
        "CDSS_SERVICE_ISSUERS": json.dumps({ISSUER: keys["jwks"]})})
    yield srv
    srv.stop()


def _token(keys, aud: str, *, alg: str = "RS384", kid: str = "rsa1", iss: str = ISSUER,
           exp: float | None = None, jti: str | None = None, key: Any = None) -> str:
    now = time.time()
    claims = {"iss": iss, "aud": aud, "iat": int(now), "exp": int(exp or now + 300),
              "jti": jti or str(uuid.uuid4())}
    if key is None:
        key = keys["ec"] if alg.startswith("ES") else keys["rsa"]
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


def test_jwt(keys, secured: Server) -> None:
    aud = secured.base + "/cds-services/cdss-order-sign"
    body = order_sign(AMOX)
    with httpx.Client(base_url=secured.base, timeout=30) as c:
        def post(token: str | None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return c.post("/cds-services/cdss-order-sign", json=body, headers=headers)

        assert post(None).status_code == 401
        ok = _token(keys, aud)
        assert post(ok).status_code == 200
        assert post(ok).status_code == 401  # replayed jti
        assert post(_token(keys, aud, alg="ES384", kid="ec1")).status_code == 200
        assert post(_token(keys, aud, exp=time.time() - 600)).status_code == 401
        assert post(_token(keys, aud, iss="https://evil.example/")).status_code == 401
        assert post(_token(keys, secured.base + "/cds-services/other")).status_code == 401
        hs = _token(keys, aud, alg="HS256", key="a-shared-secret-of-32-bytes-long!")
        r = post(hs)
        assert r.status_code == 401 and "HS256" in r.json()["detail"]
        none = jwt.encode({"iss": ISSUER, "aud": aud, "exp": int(time.time()) + 60,
                           "iat": int(time.time()), "jti": "n"}, None, algorithm="none")
        assert post(none).status_code == 401
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assert post(_token(keys, aud, key=other)).status_code == 401  # forged signature
        disc = _token(keys, secured.base + "/cds-services")
        assert c.get("/cds-services", headers={"Authorization": f"Bearer {disc}"}
                     ).status_code == 200
        assert c.get("/cds-services").status_code == 401


def test_serve_refuses_public_bind_without_issuers(monkeypatch) -> None:
    from cdss.service import Settings, serve

    monkeypatch.delenv("CDSS_SERVICE_ISSUERS", raising=False)
    with pytest.raises(SystemExit, match="requires JWT"):
        serve("0.0.0.0", free_port(), settings=Settings())


def test_analytics_frame_and_plot(tmp_path: Path) -> None:
    from cdss.service.analytics import override_rates, plot_override_rates
    from cdss.service.store import FeedbackStore

    store = FeedbackStore(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    store.record_cards("cdss-order-sign", [
        {"uuid": "u1", "rule_id": "dosing.x", "indicator": "warning", "site": "van-1"},
        {"uuid": "u2", "rule_id": "dosing.y", "indicator": "info", "site": "van-2"}])
    store.add_feedback("cdss-order-sign", [
        {"card": "u1", "outcome": "overridden", "reason_code": "risk-benefit-ratio",
         "outcome_timestamp": "2026-11-20T00:00:00Z"},
        {"card": "u1", "outcome": "accepted", "outcome_timestamp": "2026-11-20T00:00:00Z"},
        {"card": "u2", "outcome": "overridden", "outcome_timestamp": "2026-11-20T00:00:00Z"}])
    rows = override_rates(store, by="rule_id", as_frame=False)
    assert {r["rule_id"]: r["override_rate"] for r in rows} == {"dosing.x": 0.5,
                                                                "dosing.y": 1.0}
    by_site = override_rates(store, by=("site",), as_frame=False)
    assert {r["site"] for r in by_site} == {"van-1", "van-2"}
    reasons = override_rates(store, by="reason_code", as_frame=False)
    assert {r["reason_code"] for r in reasons} == {"risk-benefit-ratio", "(none)"}
    pd = pytest.importorskip("pandas")
    frame = override_rates(store, by="site")
    assert isinstance(frame, pd.DataFrame) and len(frame) == 2
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    ax = plot_override_rates(store, by="rule_id")
    assert ax.get_title()
    store.close()


def test_the_documented_curl_line_gets_cards_back(client) -> None:
    """docs/service.md's and README's curl lines must keep working."""
    import re as _re

    for doc in ("docs/service.md", "README.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        bodies = _re.findall(r"^curl -s \S+/cds-services/cdss-order-sign .* -d '(\{.*\})'$",
                             text, _re.M)
        assert bodies, f"no order-sign curl line in {doc}"
        for body in bodies:
            cards = client.post("/cds-services/cdss-order-sign", json=json.loads(body),
                                headers={"Accept-Language": "en"}).json()["cards"]
            assert any(c["source"]["topic"]["code"].startswith("dosing.interaction")
                       for c in cards), [c["summary"] for c in cards]


class _FhirServer:
    """A minimal FHIR server on loopback (stdlib http.server in a thread) that serves
    ``Patient/<id>`` and records the Authorization header it was sent."""

    def __init__(self) -> None:
        import http.server
        import threading

        seen: list[str | None] = []
        self.seen = seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.headers.get("Authorization"))
                if self.path.rstrip("/").endswith(f"/Patient/{PATIENT['id']}"):
                    body, status = json.dumps(PATIENT).encode(), 200
                else:
                    body, status = b'{"resourceType": "OperationOutcome"}', 404
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_prefetch_left_out_is_read_from_the_fhir_server(client) -> None:
    """No prefetch, a fhirServer and its token: the service reads the patient there
    (with the bearer token) and screens the draft orders."""
    fhir = _FhirServer()
    try:
        body = order_sign(med("w1", "warfarin", 3, 1), med("i1", "ibuprofen", 400, 3),
                          prefetch={})
        body["fhirServer"] = fhir.url
        body["fhirAuthorization"] = {"access_token": "tok-1", "token_type": "Bearer",
                                     "expires_in": 300, "scope": "user/Patient.read",
                                     "subject": "cdss"}
        r = client.post("/cds-services/cdss-order-sign", json=body)
    finally:
        fhir.close()
    assert r.status_code == 200, r.text
    assert "Bearer tok-1" in fhir.seen
    assert any(c["source"]["topic"]["code"].startswith("dosing.interaction")
               for c in r.json()["cards"])


def test_a_jwks_given_by_url_is_fetched_and_its_keys_verify(keys) -> None:
    """An issuer registered with a JWKS URL: the key is fetched over HTTP (a real
    loopback server) and a token signed with it verifies; an unknown kid does not."""
    import http.server
    import threading

    from cdss.service.auth import AuthError, Verifier
    from cdss.service.settings import Settings

    body = json.dumps(keys["jwks"]).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json"
        verifier = Verifier(Settings(require_auth=True, issuers={ISSUER: url}))
        aud = "http://cdss.test/cds-services/cdss-order-sign"
        claims = verifier.verify(f"Bearer {_token(keys, aud)}", aud)
        assert claims["iss"] == ISSUER
        with pytest.raises(AuthError):
            verifier.verify(f"Bearer {_token(keys, aud, kid='nope')}", aud)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_repeat_of_an_overridden_card_interrupts_less(tmp_path: Path) -> None:
    """Repeat suppression (issue #16) through the service's own feedback store: the
    doctor overrides the warfarin + ibuprofen card, orders the same again, and the card
    comes back one stop level lower, saying so; the patient id is stored only as a key."""
    from datetime import UTC, datetime, timedelta

    from cdss.service.store import FeedbackStore

    site = tmp_path / "site"
    site.mkdir()
    (site / "county.yaml").write_text(
        "level: county\nname: 某县\nauthor: 李药师\n"
        "suppression: {window_days: 30, reason: repeats of answered alerts}\n",
        encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'fb.sqlite3'}"
    srv = Server(url, {"CDSS_SERVICE_SITE": str(site), "CDSS_SERVICE_LANG": "en"})
    body = order_sign(med("w1", "warfarin", 3, 1), med("i1", "ibuprofen", 400, 3))
    try:
        with httpx.Client(base_url=srv.base, timeout=30) as c:
            def interaction() -> dict[str, Any]:
                cards = c.post("/cds-services/cdss-order-sign", json=body).json()["cards"]
                return next(x for x in cards
                            if x["source"]["topic"]["code"] == "dosing.interaction.warfarin_nsaid")
            first = interaction()
            assert first["extension"]["cdss.stop"] == "soft"
            assert "cdss.repeat" not in first["extension"]
            answered = _feedback(first["uuid"])
            answered["feedback"][0]["outcomeTimestamp"] = (
                datetime.now(UTC) - timedelta(hours=1)).isoformat()
            assert c.post("/cds-services/cdss-order-sign/feedback",
                          json=answered).status_code == 200
            again = interaction()
    finally:
        srv.stop()
    assert again["indicator"] == first["indicator"]  # never less severe, never dropped
    assert again["extension"]["cdss.stop"] == "none"
    assert again["extension"]["cdss.repeat"]["reason"] == "risk-benefit-ratio"
    store = FeedbackStore(url)
    try:
        with store.db.connect() as conn:
            keys = {r[0] for r in conn.exec_driver_sql("SELECT patient_key FROM cdss_cards")}
        assert "1288992" not in keys and store.patient_key("1288992") in keys
    finally:
        store.close()
