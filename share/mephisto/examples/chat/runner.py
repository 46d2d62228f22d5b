#!/usr/bin/env python3
"""The chat task's runner: one process per assignment, started by
mephisto-pool.  It reads events on stdin and writes commands on stdout,
one JSON object per line (see cmd/mephisto-pool/runner.c).

Every message a worker sends is relayed to the other workers of the
assignment, tagged with the sender's unit index; a worker who joins late
or reconnects gets nothing twice (the pool and io keep what a worker
missed while away)."""
import json
import sys


def say(**command):
    sys.stdout.write(json.dumps(command) + "\n")
    sys.stdout.flush()


def main():
    agents = {}  # agent_id -> unit_index
    for line in sys.stdin:
        event = json.loads(line)
        kind = event.get("event")
        if kind == "ping":
            say(command="pong")
        elif kind == "start":
            say(command="log", text="chat of assignment %s starts with %d "
                "workers" % (event["assignment_id"], event["units"]))
        elif kind == "agent_joined":
            agents[event["agent_id"]] = event["unit_index"]
        elif kind == "live_update":
            sender = event["agent_id"]
            text = str(event.get("data", {}).get("text", ""))
            for agent in agents:
                if agent != sender:
                    say(command="send", agent_id=agent,
                        data={"text": text, "from": agents.get(sender)})
        elif kind in ("agent_disconnected", "agent_returned",
                      "agent_timed_out"):
            say(command="log", text="agent %s left" % event["agent_id"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
