#!/usr/bin/env python3
"""A fake Prolific API for the tests (providers-facts.md section 3.1).

Listens on loopback only, writes its port to --port-file, and appends
every call to --log as one JSON line: {"method", "path", "body", "auth",
"idem", "fault"}.  Admin routes under /_fake/ act as participants,
inject faults and show the state; they are not logged.

Faults (POST /_fake/fault): {"method", "path" (prefix of the path after
/api/v1/), "count", "mode": "status" | "drop_after" | "delay", "status",
"retry_after", "delay"}.  "status" answers the status without acting;
"drop_after" acts, then closes the connection without an answer;
"delay" acts after sleeping "delay" seconds.
"""

import argparse
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

LOCK = threading.Lock()
STATE = {
    "workspaces": {}, "projects": {}, "groups": {}, "studies": {},
    "submissions": {}, "bonuses": {}, "payments": [], "balance": 100000,
}
FAULTS = []
ARGS = None
REQUIRED = ["name", "description", "external_study_url",
            "prolific_id_option", "completion_option", "completion_codes",
            "total_available_places", "estimated_completion_time", "reward"]


def new_id():
    return uuid.uuid4().hex[:24]


class Fail(Exception):
    def __init__(self, status, detail):
        super().__init__(detail)
        self.status = status
        self.detail = detail


def taken(study_id):
    return sum(1 for s in STATE["submissions"].values()
               if s["study_id"] == study_id
               and s["status"] not in ("RETURNED", "TIMED-OUT", "REJECTED"))


def refresh(study):
    if study["status"] in ("ACTIVE", "AWAITING REVIEW") and \
            not study.get("stopped"):
        full = taken(study["id"]) >= study["total_available_places"]
        study["status"] = "AWAITING REVIEW" if full else "ACTIVE"


def results(items):
    return {"results": list(items), "meta": {"count": len(items)}}


def route(method, parts, query, body):
    """The API proper: parts is the path after /api/v1/, split on '/'."""
    p = parts
    if p == ["users", "me"] and method == "GET":
        return 200, {"id": "me", "email": "requester@example.org"}
    if p == ["workspaces"]:
        if method == "GET":
            return 200, results(STATE["workspaces"].values())
        w = {"id": new_id(), "title": body["title"]}
        STATE["workspaces"][w["id"]] = w
        return 201, w
    if len(p) == 3 and p[0] == "workspaces" and p[2] == "balance":
        if p[1] not in STATE["workspaces"]:
            raise Fail(404, "no such workspace")
        return 200, {"currency_code": "GBP",
                     "available_balance": STATE["balance"],
                     "total_balance": STATE["balance"]}
    if len(p) == 3 and p[0] == "workspaces" and p[2] == "projects":
        if method == "GET":
            return 200, results([x for x in STATE["projects"].values()
                                 if x["workspace"] == p[1]])
        x = {"id": new_id(), "title": body["title"], "workspace": p[1]}
        STATE["projects"][x["id"]] = x
        return 201, x
    if p == ["participant-groups"]:
        if method == "GET":
            pid = query.get("project_id", [None])[0]
            return 200, results([{"id": g["id"], "name": g["name"]}
                                 for g in STATE["groups"].values()
                                 if g["project_id"] == pid
                                 and not g["deleted"]])
        g = {"id": new_id(), "name": body["name"],
             "project_id": body["project_id"], "members": [],
             "deleted": False}
        STATE["groups"][g["id"]] = g
        return 201, {k: g[k] for k in ("id", "name", "project_id")}
    if len(p) >= 2 and p[0] == "participant-groups":
        g = STATE["groups"].get(p[1])
        if not g:
            raise Fail(404, "no such group")
        if len(p) == 2 and method == "DELETE":
            g["deleted"] = True
            return 204, None
        if len(p) == 3 and p[2] == "participants":
            if method == "POST":
                for x in body["participant_ids"]:
                    if x not in g["members"]:
                        g["members"].append(x)
            elif method == "DELETE":
                g["members"] = [x for x in g["members"]
                                if x not in body["participant_ids"]]
            return 200, results([{"participant_id": x}
                                 for x in g["members"]])
    if p == ["studies"]:
        if method == "GET":
            return 200, results([{k: s[k] for k in
                                  ("id", "name", "internal_name", "status",
                                   "total_available_places")}
                                 for s in STATE["studies"].values()])
        missing = [k for k in REQUIRED if k not in body]
        if missing:
            raise Fail(400, "missing fields: " + ", ".join(missing))
        if not isinstance(body["reward"], int):
            raise Fail(400, "reward must be an integer")
        s = dict(body)
        s["id"] = new_id()
        s["status"] = "UNPUBLISHED"
        STATE["studies"][s["id"]] = s
        return 201, s
    if len(p) >= 2 and p[0] == "studies":
        s = STATE["studies"].get(p[1])
        if not s:
            raise Fail(404, "no such study")
        if len(p) == 2 and method == "GET":
            refresh(s)
            return 200, s
        if len(p) == 2 and method == "PATCH":
            if s["status"] != "UNPUBLISHED":
                bad = [k for k in body
                       if k not in ("internal_name", "total_available_places")]
                if bad:
                    raise Fail(400, "cannot change %s after publishing"
                               % ", ".join(bad))
                if body.get("total_available_places",
                            s["total_available_places"]) < \
                        s["total_available_places"]:
                    raise Fail(400, "places can only increase")
            s.update(body)
            if "total_available_places" in body:
                s["stopped"] = False if s["status"] != "UNPUBLISHED" else \
                    s.get("stopped", False)
            refresh(s)
            return 200, s
        if len(p) == 3 and p[2] == "transition":
            a = body.get("action")
            if a == "PUBLISH":
                if s["status"] == "UNPUBLISHED":
                    s["status"] = "ACTIVE"
            elif a == "STOP":
                s["status"] = "AWAITING REVIEW"
                s["stopped"] = True
            else:
                raise Fail(400, "unknown action %r" % a)
            return 200, s
    if p == ["submissions", "bonus-payments"]:
        sid = body.get("study_id")
        if sid not in STATE["studies"]:
            raise Fail(400, "no such study")
        total = 0.0
        for line in body.get("csv_bonuses", "").strip().splitlines():
            who, amount = line.split(",")
            if not any(x["participant"] == who and x["study_id"] == sid
                       for x in STATE["submissions"].values()):
                raise Fail(400, "%s did not take part in the study" % who)
            total += float(amount)
        b = {"id": new_id(), "study": sid, "amount": round(total * 100),
             "fees": 0, "vat": 0, "total_amount": round(total * 100),
             "csv": body["csv_bonuses"], "status": "SET_UP"}
        STATE["bonuses"][b["id"]] = b
        return 201, b
    if len(p) >= 2 and p[0] == "bulk-bonus-payments":
        b = STATE["bonuses"].get(p[1])
        if not b:
            raise Fail(404, "no such bonus payment")
        if len(p) == 2 and method == "GET":
            return 200, {"id": b["id"], "status": b["status"]}
        if len(p) == 3 and p[2] == "pay" and method == "POST":
            STATE["payments"].append({"id": b["id"], "csv": b["csv"]})
            STATE["balance"] -= b["total_amount"]
            b["status"] = "PAID"
            return 202, None
    if p == ["submissions"] and method == "GET":
        sid = query.get("study", [None])[0]
        return 200, results([x for x in STATE["submissions"].values()
                             if x["study_id"] == sid])
    if len(p) >= 2 and p[0] == "submissions":
        x = STATE["submissions"].get(p[1])
        if not x:
            raise Fail(404, "no such submission")
        if len(p) == 2 and method == "GET":
            return 200, x
        if len(p) == 3 and p[2] == "transition":
            a = body.get("action")
            target = {"APPROVE": "APPROVED", "REJECT": "REJECTED"}.get(a)
            if not target:
                raise Fail(400, "unknown action")
            if x["status"] == target:
                return 200, x
            if x["status"] != "AWAITING REVIEW":
                raise Fail(400, "submission is %s" % x["status"])
            if a == "REJECT":
                if len(body.get("message", "")) < 100:
                    raise Fail(400, "message must be at least 100 "
                               "characters")
                if not isinstance(body.get("rejection_category"), str):
                    raise Fail(400, "rejection_category must be a string")
            x["status"] = target
            return 200, x
    raise Fail(404, "no route for %s /%s/" % (method, "/".join(p)))


def admin(path, body):
    if path == "/_fake/fault":
        FAULTS.append(dict(body))
        return 200, {"ok": True}
    if path == "/_fake/state":
        return 200, STATE
    if path == "/_fake/arrive":
        s = STATE["studies"].get(body["study_id"])
        if not s:
            raise Fail(404, "no such study")
        refresh(s)
        if s["status"] != "ACTIVE":
            raise Fail(400, "study is %s" % s["status"])
        who = body["participant_id"]
        for r in s.get("eligibility_requirements") or []:
            for a in r.get("attributes", []):
                if a.get("name") == "black_list" and who in a["value"]:
                    raise Fail(403, "not eligible")
        x = {"id": new_id(), "participant": who, "study_id": s["id"],
             "status": "ACTIVE"}
        STATE["submissions"][x["id"]] = x
        url = s["external_study_url"].replace("{{%PROLIFIC_PID%}}", who) \
            .replace("{{%STUDY_ID%}}", s["id"]) \
            .replace("{{%SESSION_ID%}}", x["id"])
        return 200, {"submission_id": x["id"], "url": url}
    if path == "/_fake/complete":
        x = STATE["submissions"].get(body["submission_id"])
        if not x:
            raise Fail(404, "no such submission")
        s = STATE["studies"][x["study_id"]]
        if not any(c["code"] == body["cc"] for c in s["completion_codes"]):
            raise Fail(400, "wrong completion code")
        x["status"] = "AWAITING REVIEW"
        return 200, x
    raise Fail(404, "no admin route " + path)


def take_fault(method, path):
    for f in FAULTS:
        if f.get("count", 1) > 0 and f.get("method", method) == method \
                and path.startswith(f.get("path", "")):
            f["count"] = f.get("count", 1) - 1
            return dict(f)
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, obj, extra=None):
        data = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.reply(400, {"error": {"detail": "bad JSON"}})
        u = urlsplit(self.path)
        if u.path.startswith("/_fake/"):
            try:
                with LOCK:
                    return self.reply(*admin(u.path, body))
            except Fail as e:
                return self.reply(e.status, {"error": {"detail": e.detail}})
        if not u.path.startswith("/api/v1/"):
            return self.reply(404, {"error": {"detail": "not the API"}})
        rel = u.path[len("/api/v1/"):]
        auth = self.headers.get("Authorization") == "Token " + ARGS.key
        with LOCK:
            fault = take_fault(self.command, rel)
        entry = {"method": self.command, "path": rel +
                 ("?" + u.query if u.query else ""), "body": body or None,
                 "auth": auth, "idem": self.headers.get("Idempotency-Key"),
                 "fault": fault.get("mode") if fault else None}
        with LOCK, open(ARGS.log, "a") as f:
            f.write(json.dumps(entry) + "\n")
        if not auth:
            return self.reply(401, {"error": {"detail": "Invalid token."}})
        if fault and fault.get("mode", "status") == "status":
            extra = {}
            if "retry_after" in fault:
                extra["Retry-After"] = str(fault["retry_after"])
            return self.reply(fault.get("status", 500),
                              {"error": {"detail": "injected fault"}}, extra)
        if fault and fault.get("mode") == "delay":
            time.sleep(fault.get("delay", 5))
        try:
            with LOCK:
                status, obj = route(self.command,
                                    [x for x in rel.split("/") if x],
                                    parse_qs(u.query), body)
        except Fail as e:
            status, obj = e.status, {"error": {"detail": e.detail}}
        if fault and fault.get("mode") == "drop_after":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.reply(status, obj)

    do_GET = do_POST = do_PATCH = do_DELETE = handle_any


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ARGS = ap.parse_args()
    # From the environment, so that no process list shows it.
    ARGS.key = os.environ["FAKE_PROLIFIC_KEY"]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
