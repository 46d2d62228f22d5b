#!/usr/bin/env python3
"""A fake MTurk requester API for the tests (providers-facts.md 3.2).

One endpoint, POST /, dispatched on X-Amz-Target.  Every request's
Signature Version 4 is recomputed with the test credentials (--key-id,
--secret); a wrong or missing signature is a 400 IncompleteSignature /
InvalidSignatureException.  Every call is appended to --log as a JSON
line {"op", "body", "signed", "fault"}.  Admin routes under /_fake/ act
as workers, inject faults ({"op", "count", "mode": "status" |
"drop_after", "status", "type"}) and show the state.
"""

import argparse
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

PREFIX = "MTurkRequesterServiceV20170117."
LOCK = threading.Lock()
STATE = {"balance": 10000.0, "hittypes": {}, "hits": {}, "assignments": {},
         "bonuses": {}, "blocks": [], "qualtypes": {}, "grants": [],
         "page_size": 100}
FAULTS = []
ARGS = None


class Err(Exception):
    def __init__(self, typ, msg, status=400):
        super().__init__(msg)
        self.typ, self.msg, self.status = typ, msg, status


def new_id():
    return uuid.uuid4().hex[:30].upper()


def hm(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def check_sig(method, path, headers, body):
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "missing AWS4-HMAC-SHA256 Authorization"
    parts = dict(p.strip().split("=", 1) for p in auth[17:].split(","))
    cred = parts.get("Credential", "").split("/")
    if len(cred) != 5 or cred[0] != ARGS.key_id:
        return "unknown access key"
    date, region, service, term = cred[1:]
    if (region, service, term) != ("us-east-1", "mturk-requester",
                                   "aws4_request"):
        return "wrong credential scope %s/%s/%s" % (region, service, term)
    signed = parts.get("SignedHeaders", "").split(";")
    for need in ("host", "x-amz-date", "x-amz-target"):
        if need not in signed:
            return "header %s is not signed" % need
    lower = {k.lower(): v for k, v in headers.items()}
    canon_headers = "".join("%s:%s\n" % (h, " ".join(lower.get(h, "").split()))
                            for h in signed)
    canon = "\n".join([method, path or "/", "", canon_headers,
                       ";".join(signed), hashlib.sha256(body).hexdigest()])
    amzdate = lower.get("x-amz-date", "")
    scope = "/".join(cred[1:])
    sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                     hashlib.sha256(canon.encode()).hexdigest()])
    k = hm(("AWS4" + ARGS.secret).encode(), date)
    k = hm(k, region)
    k = hm(k, service)
    k = hm(k, term)
    want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, parts.get("Signature", "")):
        return "signature mismatch"
    return None


def money(s):
    import re
    if not isinstance(s, str) or not re.match(r"^[0-9]+(\.)?[0-9]{0,2}$", s):
        raise Err("ValidationException", "bad amount %r" % (s,))
    return float(s)


def page(rows, b, key):
    """One page of ROWS: at most MaxResults (and the fake's page_size)."""
    n = min(int(b.get("MaxResults", 100)), STATE["page_size"])
    if n < 1 or n > 100:
        raise Err("ValidationException", "MaxResults must be 1 to 100")
    start = int(b.get("NextToken") or 0)
    out = {key: rows[start:start + n], "NumResults": len(rows[start:start + n])}
    if start + n < len(rows):
        out["NextToken"] = str(start + n)
    return out


def op(name, b):
    if name == "GetAccountBalance":
        return {"AvailableBalance": "%.2f" % STATE["balance"]}
    if name == "CreateHITType":
        money(b.get("Reward"))
        for k in ("AssignmentDurationInSeconds", "Title", "Description"):
            if k not in b:
                raise Err("ValidationException", "missing " + k)
        key = json.dumps(b, sort_keys=True)
        for i, v in STATE["hittypes"].items():
            if v == key:
                return {"HITTypeId": i}
        i = new_id()
        STATE["hittypes"][i] = key
        return {"HITTypeId": i}
    if name == "CreateHITWithHITType":
        if b.get("HITTypeId") not in STATE["hittypes"]:
            raise Err("RequestError", "no such HIT type")
        tok = b.get("UniqueRequestToken")
        if tok and any(h.get("token") == tok for h in STATE["hits"].values()):
            raise Err("RequestError", "The HIT with ID \"%s\" already "
                      "exists." % tok)
        q = b.get("Question", "")
        if "<ExternalQuestion" not in q:
            raise Err("ValidationException", "not an ExternalQuestion")
        url = q.split("<ExternalURL>")[1].split("</ExternalURL>")[0] \
            .replace("&amp;", "&")
        h = {"HITId": new_id(), "HITTypeId": b["HITTypeId"], "token": tok,
             "HITStatus": "Assignable", "url": url, "available": 1,
             "expired": False,
             "RequesterAnnotation": b.get("RequesterAnnotation", ""),
             "Expiration": time.time() + b.get("LifetimeInSeconds", 3600)}
        STATE["hits"][h["HITId"]] = h
        return {"HIT": {"HITId": h["HITId"], "HITTypeId": h["HITTypeId"]}}
    if name == "UpdateExpirationForHIT":
        h = STATE["hits"].get(b.get("HITId"))
        if not h:
            raise Err("RequestError", "no such HIT")
        h["expired"] = True
        h["Expiration"] = min(h["Expiration"], b.get("ExpireAt", 0))
        if h["HITStatus"] == "Assignable":
            h["HITStatus"] = "Reviewable"
        return {}
    if name in ("ApproveAssignment", "RejectAssignment"):
        a = STATE["assignments"].get(b.get("AssignmentId"))
        if not a:
            raise Err("RequestError", "no such assignment")
        if name == "RejectAssignment" and not b.get("RequesterFeedback"):
            raise Err("ValidationException", "RequesterFeedback is required")
        target = "Approved" if name == "ApproveAssignment" else "Rejected"
        ok = a["status"] == "Submitted" or (
            a["status"] == "Rejected" and target == "Approved"
            and b.get("OverrideRejection"))
        if not ok:
            raise Err("RequestError", "This operation can be called with a "
                      "status of: Submitted")
        a["status"] = target
        return {}
    if name == "SendBonus":
        tok = b.get("UniqueRequestToken")
        if tok in STATE["bonuses"]:
            raise Err("RequestError", "The request with token %s already "
                      "exists." % tok)
        amount = money(b.get("BonusAmount"))
        a = STATE["assignments"].get(b.get("AssignmentId"))
        if not a or a["worker"] != b.get("WorkerId"):
            raise Err("RequestError", "no such assignment for the worker")
        if not b.get("Reason"):
            raise Err("ValidationException", "Reason is required")
        if STATE["balance"] < amount * 1.2:
            raise Err("RequestError", "insufficient funds")
        STATE["balance"] -= amount * 1.2
        STATE["bonuses"][tok or new_id()] = {"worker": b["WorkerId"],
                                              "amount": b["BonusAmount"],
                                              "assignment": b["AssignmentId"],
                                              "reason": b["Reason"]}
        return {}
    if name == "ListBonusPayments":
        rows = [{"WorkerId": p["worker"], "BonusAmount": p["amount"],
                 "AssignmentId": p["assignment"], "Reason": p["reason"]}
                for p in STATE["bonuses"].values()
                if p["assignment"] == b.get("AssignmentId")]
        return page(rows, b, "BonusPayments")
    if name == "ListHITs":
        rows = [{"HITId": h["HITId"], "HITTypeId": h["HITTypeId"],
                 "HITStatus": h["HITStatus"], "Expiration": h["Expiration"],
                 "RequesterAnnotation": h["RequesterAnnotation"],
                 "NumberOfAssignmentsAvailable": h["available"]}
                for h in STATE["hits"].values()]
        return page(rows, b, "HITs")
    if name == "ListAssignmentsForHIT":
        if b.get("HITId") not in STATE["hits"]:
            raise Err("RequestError", "no such HIT")
        rows = [{"AssignmentId": a["id"], "WorkerId": a["worker"],
                 "HITId": a["hit"], "AssignmentStatus": a["status"]}
                for a in STATE["assignments"].values()
                if a["hit"] == b["HITId"] and a["status"] != "Accepted"]
        return page(rows, b, "Assignments")
    if name == "ListWorkerBlocks":
        rows = [{"WorkerId": w, "Reason": "blocked"} for w in STATE["blocks"]]
        return page(rows, b, "WorkerBlocks")
    if name == "CreateWorkerBlock":
        if not b.get("Reason"):
            raise Err("ValidationException", "Reason is required")
        if b["WorkerId"] not in STATE["blocks"]:
            STATE["blocks"].append(b["WorkerId"])
        return {}
    if name == "DeleteWorkerBlock":
        STATE["blocks"] = [w for w in STATE["blocks"] if w != b["WorkerId"]]
        return {}
    if name == "CreateQualificationType":
        if any(q["Name"] == b["Name"] for q in STATE["qualtypes"].values()):
            raise Err("RequestError", "You have already created a "
                      "QualificationType with this name.")
        q = {"QualificationTypeId": new_id(), "Name": b["Name"]}
        STATE["qualtypes"][q["QualificationTypeId"]] = q
        return {"QualificationType": q}
    if name == "ListQualificationTypes":
        return {"QualificationTypes": [q for q in STATE["qualtypes"].values()
                                       if b.get("Query", "") in q["Name"]],
                "NumResults": len(STATE["qualtypes"])}
    if name == "DeleteQualificationType":
        STATE["qualtypes"].pop(b.get("QualificationTypeId"), None)
        return {}
    if name == "AssociateQualificationWithWorker":
        STATE["grants"].append([b["QualificationTypeId"], b["WorkerId"],
                                b.get("IntegerValue", 1)])
        return {}
    if name == "DisassociateQualificationFromWorker":
        STATE["grants"] = [g for g in STATE["grants"]
                           if g[:2] != [b["QualificationTypeId"],
                                        b["WorkerId"]]]
        return {}
    raise Err("UnknownOperationException", "unknown operation " + name)


def admin(path, b, base):
    if path == "/_fake/fault":
        FAULTS.append(dict(b))
        return {"ok": True}
    if path == "/_fake/state":
        return STATE
    if path == "/_fake/set":
        STATE.update(b)
        return {"ok": True}
    if path == "/_fake/block":
        if b["workerId"] not in STATE["blocks"]:
            STATE["blocks"].append(b["workerId"])
        return {"ok": True}
    if path == "/_fake/hit":
        # a HIT made behind our back (as by a run whose record was lost)
        h = {"HITId": new_id(), "HITTypeId": "", "token": None,
             "HITStatus": "Assignable", "url": b.get("url", "https://x/"),
             "available": 1, "expired": False,
             "RequesterAnnotation": b.get("annotation", ""),
             "Expiration": time.time() + 3600}
        STATE["hits"][h["HITId"]] = h
        return {"HITId": h["HITId"]}
    if path == "/_fake/accept":
        h = STATE["hits"].get(b["hitId"])
        if not h or h["HITStatus"] != "Assignable":
            raise Err("RequestError", "HIT not available", 404)
        if b["workerId"] in STATE["blocks"]:
            raise Err("RequestError", "worker is blocked", 403)
        a = {"id": new_id(), "hit": h["HITId"], "worker": b["workerId"],
             "status": "Accepted"}
        STATE["assignments"][a["id"]] = a
        h["available"] = 0
        h["HITStatus"] = "Unassignable"
        sep = "&" if "?" in h["url"] else "?"
        return {"assignmentId": a["id"],
                "url": "%s%shitId=%s&assignmentId=%s&workerId=%s"
                       "&turkSubmitTo=%s" % (h["url"], sep, h["HITId"],
                                             a["id"], b["workerId"], base)}
    if path == "/_fake/preview":
        h = STATE["hits"][b["hitId"]]
        sep = "&" if "?" in h["url"] else "?"
        return {"url": "%s%sassignmentId=ASSIGNMENT_ID_NOT_AVAILABLE"
                       "&hitId=%s" % (h["url"], sep, h["HITId"])}
    raise Err("RequestError", "no admin route " + path, 404)


def take_fault(name):
    for f in FAULTS:
        if f.get("count", 1) > 0 and f.get("op", name) == name:
            f["count"] = f.get("count", 1) - 1
            return dict(f)
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, obj, ctype="application/x-amz-json-1.1"):
        data = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        u = urlsplit(self.path)
        base = "http://%s:%d" % self.server.server_address
        if u.path.startswith("/_fake/"):
            try:
                with LOCK:
                    return self.reply(200, admin(u.path, json.loads(raw or b"{}"), base),
                                      "application/json")
            except Err as e:
                return self.reply(e.status, {"__type": e.typ,
                                             "Message": e.msg})
        if u.path.replace("//", "/") == "/mturk/externalSubmit":
            form = parse_qs(raw.decode())
            with LOCK:
                a = STATE["assignments"].get(form.get("assignmentId", [""])[0])
                if not a:
                    return self.reply(400, {"error": "no assignment"})
                a["status"] = "Submitted"
                a["answer"] = {k: v[0] for k, v in form.items()}
                STATE["hits"][a["hit"]]["HITStatus"] = "Reviewable"
            return self.reply(200, {"ok": True}, "application/json")
        target = self.headers.get("X-Amz-Target", "")
        name = target[len(PREFIX):] if target.startswith(PREFIX) else None
        bad = check_sig("POST", u.path, dict(self.headers.items()), raw)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        # a session token (temporary credentials): sent, signed, right
        tok = self.headers.get("X-Amz-Security-Token")
        auth = self.headers.get("Authorization", "")
        session = None
        if tok is not None:
            session = (tok == os.environ.get("FAKE_MTURK_SESSION") and
                       "x-amz-security-token" in auth.split(
                           "SignedHeaders=")[-1].split(",")[0].split(";"))
        with LOCK:
            fault = take_fault(name)
            with open(ARGS.log, "a") as f:
                f.write(json.dumps({"op": name, "body": body,
                                    "session": session,
                                    "signed": bad is None, "why": bad,
                                    "fault": fault.get("mode", "status")
                                    if fault else None}) + "\n")
        if bad:
            return self.reply(400, {"__type": "com.amazonaws#InvalidSignatureException",
                                    "Message": bad})
        if self.headers.get("Content-Type") != "application/x-amz-json-1.1":
            return self.reply(400, {"__type": "SerializationException",
                                    "Message": "bad content type"})
        if not name:
            return self.reply(400, {"__type": "UnknownOperationException",
                                    "Message": "no target"})
        if fault and fault.get("mode", "status") == "status":
            st = fault.get("status", 500)
            typ = fault.get("type", "ServiceFault" if st >= 500
                            else "ThrottlingException")
            return self.reply(st, {"__type": typ, "Message": "Rate exceeded"
                                   if "Throttl" in typ else "injected fault"})
        try:
            with LOCK:
                out = op(name, body or {})
            status = 200
        except Err as e:
            status = e.status
            out = {"__type": "com.amazon.mturk#" + e.typ, "Message": e.msg,
                   "TurkErrorCode": "AWS.MechanicalTurk." + e.typ}
        if fault and fault.get("mode") == "drop_after":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.reply(status, out)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--key-id", required=True)
    ARGS = ap.parse_args()
    # From the environment, so that no process list shows it.
    ARGS.secret = os.environ["FAKE_MTURK_SECRET"]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
