#!/usr/bin/env python3
"""The chat task's runner, started by mephisto-pool: one process per
assignment, or one for the whole run with blueprint.shared_runner: true.
It reads events on stdin and writes commands on stdout, one JSON object
per line (see mephisto-pool(1), LIVE TASKS).

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
    rooms = {}  # assignment_id -> {agent_id: unit_index}
    room_of = {}  # agent_id -> assignment_id
    current = None  # one runner per assignment: its events name none
    for line in sys.stdin:
        event = json.loads(line)
        kind = event.get("event")
        assignment = event.get("assignment_id", current)
        if kind == "ping":
            say(command="pong")
        elif kind == "start":
            current = assignment
            rooms[assignment] = {}
            say(command="log", text="chat of assignment %s starts with %d "
                "workers" % (assignment, event["units"]))
        elif kind == "agent_joined":
            rooms.setdefault(assignment, {})[event["agent_id"]] = \
                event["unit_index"]
            room_of[event["agent_id"]] = assignment
        elif kind == "live_update":
            sender = event["agent_id"]
            room = rooms.get(room_of.get(sender), {})
            text = str(event.get("data", {}).get("text", ""))
            for agent in room:
                if agent != sender:
                    say(command="send", agent_id=agent,
                        data={"text": text, "from": room.get(sender)})
        elif kind in ("agent_disconnected", "agent_returned",
                      "agent_timed_out"):
            say(command="log", text="agent %s left" % event["agent_id"])
        elif kind == "end":
            for agent in rooms.pop(assignment, {}):
                room_of.pop(agent, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
